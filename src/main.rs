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
    /// Run the daemon: watch the cameras, raise work orders, deliver them.
    Run(cmd::run::RunArgs),
    /// Receive work orders (a small signed-webhook receiver for trying binwatch out and for tests).
    Receive(cmd::receive::ReceiveArgs),
    /// Inspect the outbox of each sink: what waits and why.
    Outbox(cmd::outbox::OutboxArgs),
    /// Define bin regions, preview them and check a camera against its reference frame.
    #[command(subcommand_required = true)]
    Calibrate(cmd::calibrate::CalibrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Classify(a) => cmd::classify::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::CheckConfig(a) => cmd::check_config::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Receive(a) => cmd::receive::run(a),
        Command::Outbox(a) => cmd::outbox::run(a),
        Command::Calibrate(a) => cmd::calibrate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("binwatch: error: {}", binwatch::errtext::chain_anyhow(&e));
            ExitCode::from(2)
        }
    }
}
