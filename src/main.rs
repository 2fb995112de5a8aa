//! The `binwatch` command line: one subcommand per module of `binwatch::cmd`.

use std::process::ExitCode;

use binwatch::cmd;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "binwatch",
    version,
    about = "Watches street-side waste bins through cameras and reports overflowing ones"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Level and class probabilities of one photo (or one region of it).
    Classify(cmd::classify::ClassifyArgs),
    /// Evaluate the model on labelled photos and write figures, JSON and a report.
    Eval(cmd::eval::EvalArgs),
    /// Check a config file and report every problem in it.
    CheckConfig(cmd::check_config::CheckConfigArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Classify(a) => cmd::classify::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::CheckConfig(a) => cmd::check_config::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("binwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
