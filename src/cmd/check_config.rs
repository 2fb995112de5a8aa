//! `binwatch check-config FILE`: reports every problem of a config file (syntax, unknown keys, wrong
//! types, semantic checks) with line, column, key and value; exits non-zero if there is any.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// The TOML config file.
    pub file: PathBuf,
}

pub fn run(args: &CheckConfigArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read config {}", args.file.display()))?;
    let base = args.file.parent().unwrap_or(std::path::Path::new("."));
    let (cfg, problems) = crate::config::check(&text, base);
    if problems.is_empty() {
        let cfg = cfg.expect("no problems means a config");
        println!(
            "{}: ok ({} camera(s), {} bin(s), {} sink(s))",
            args.file.display(),
            cfg.cameras.len(),
            cfg.bins.len(),
            cfg.sinks.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{}:{p}", args.file.display());
    }
    eprintln!("{}: {} problem(s)", args.file.display(), problems.len());
    Ok(ExitCode::FAILURE)
}
