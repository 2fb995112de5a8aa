//! `binwatch run --config F`: the daemon (see [`crate::daemon`]).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::daemon::{self, DaemonError};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The config file (see calibration/example.toml).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Where the outbox lives (overrides `state_dir` of the config).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Exit once every camera has ended (folder replay with `loop = false`) and every event is delivered.
    #[arg(long, alias = "once")]
    pub exit_when_done: bool,
}

/// Structured logs on stderr, `RUST_LOG`-style filter (default `info`); no colours unless stderr is a
/// terminal, and no timestamps under systemd (journald stamps each line itself).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("BINWATCH_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Exit status for a config that does not load (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

pub fn run(a: &RunArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let opts = daemon::Options {
        config: a.config.clone(),
        state_dir: a.state_dir.clone(),
        exit_when_done: a.exit_when_done,
    };
    match rt.block_on(daemon::run(opts)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ DaemonError::Config(_)) => {
            eprintln!("binwatch: {e}");
            Ok(ExitCode::from(EXIT_CONFIG))
        }
        Err(e) => Err(e.into()),
    }
}
