//! `binwatch receive --listen ADDR --secret-file F [--store FILE]`: a small work-order receiver for
//! trying binwatch out and for tests. Verifies Standard Webhooks signatures, prints one line per
//! work order, optionally appends them to a JSON-lines file (which also de-duplicates across runs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::sink::webhook::WebhookSecret;

#[derive(Debug, Clone, Args)]
pub struct ReceiveArgs {
    /// Address to listen on, e.g. 127.0.0.1:8088 (port 0 = any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub listen: SocketAddr,
    /// File holding the shared `whsec_...` secret.
    #[arg(long)]
    pub secret_file: PathBuf,
    /// Append every accepted work order to this JSON-lines file.
    #[arg(long)]
    pub store: Option<PathBuf>,
}

pub fn run(a: &ReceiveArgs) -> anyhow::Result<ExitCode> {
    super::run::init_logging();
    let secret = WebhookSecret::from_file(&a.secret_file)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        println!("binwatch receive: listening on http://{addr}/");
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        crate::receive::serve(listener, secret, a.store.clone(), shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
