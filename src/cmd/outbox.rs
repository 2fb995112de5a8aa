//! `binwatch outbox list --config F`: what waits in each sink's outbox and why (read-only, safe
//! while the daemon runs), and the dead letters. `binwatch outbox requeue` sends dead letters again
//! (it needs the daemon stopped: it takes the outbox lock).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::daemon::{outbox_dir, sink_names, state_dir};
use crate::outbox::{Outbox, OutboxLimits};
use crate::sink::RetryPolicy;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub action: OutboxAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OutboxAction {
    /// Show the events waiting in each sink's outbox, why they wait, and the dead letters.
    List(OutboxTarget),
    /// Move dead letters back into the queue (stop the daemon first).
    Requeue(OutboxTarget),
}

#[derive(Debug, Clone, Args)]
pub struct OutboxTarget {
    /// The daemon's config file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// The state folder, if `binwatch run` was given --state-dir.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

fn dirs(t: &OutboxTarget) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let cfg = Config::load(&t.config)?;
    let base = match t.config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let state = state_dir(&cfg, &base, t.state_dir.as_deref());
    Ok(sink_names(&cfg)
        .into_iter()
        .map(|n| {
            let d = outbox_dir(&state, &n);
            (n, d)
        })
        .collect())
}

pub fn run(a: &OutboxArgs) -> anyhow::Result<ExitCode> {
    let now = Timestamp::now();
    match &a.action {
        OutboxAction::List(t) => {
            for (name, dir) in dirs(t)? {
                if !dir.exists() {
                    println!("sink {name}: no outbox yet ({})", dir.display());
                    continue;
                }
                let listing = Outbox::inspect_all(&dir, now)
                    .with_context(|| format!("sink {name}: read outbox {}", dir.display()))?;
                let unreadable = if listing.unreadable.is_empty() {
                    String::new()
                } else {
                    format!(", {} unreadable", listing.unreadable.len())
                };
                println!(
                    "sink {name}: {} waiting{unreadable} ({})",
                    listing.waiting.len(),
                    dir.display()
                );
                for e in &listing.waiting {
                    println!("  {}", e.line(now));
                }
                for u in &listing.unreadable {
                    println!("  unreadable {}: {}", u.path.display(), u.reason);
                }
                if !listing.dead.is_empty() {
                    println!(
                        "  {} dead letter(s) in {}/dead (refused for good; `binwatch outbox requeue` sends them again):",
                        listing.dead.len(),
                        dir.display()
                    );
                    for d in &listing.dead {
                        println!("    {}", d.line());
                    }
                }
                if !listing.dead_unreadable.is_empty() {
                    println!(
                        "  {} unreadable file(s) in {}/dead (not sent again):",
                        listing.dead_unreadable.len(),
                        dir.display()
                    );
                    for u in &listing.dead_unreadable {
                        println!("    {}: {}", u.path.display(), u.reason);
                    }
                }
            }
        }
        OutboxAction::Requeue(t) => {
            for (name, dir) in dirs(t)? {
                if !dir.exists() {
                    continue;
                }
                let (mut ob, _) =
                    Outbox::open(&dir, OutboxLimits::default(), RetryPolicy::default())
                        .with_context(|| {
                            format!(
                                "sink {name}: open outbox {} (is the daemon running?)",
                                dir.display()
                            )
                        })?;
                let n = ob.requeue_dead(now)?;
                println!("sink {name}: {n} dead letter(s) queued again");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
