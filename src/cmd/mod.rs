//! The `binwatch` subcommands, one module each. Each takes its parsed clap arguments and returns
//! `anyhow::Result<ExitCode>`; the library modules below them return typed errors.

pub mod calibrate;
pub mod check_config;
pub mod classify;
pub mod eval;
// the daemon and its companions (issue 4)
pub mod outbox;
pub mod receive;
pub mod run;

use std::path::PathBuf;

use clap::Args;

/// Options shared by the commands that load a model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The ONNX model (see models/CONTRACT.md).
    #[arg(long, short = 'm', default_value = "models/bin-fill.onnx")]
    pub model: PathBuf,
    /// libonnxruntime.so 1.31.x to use (default: env ORT_DYLIB_PATH, beside the executable, or .ort/ of a checkout).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Intra-op threads for ONNX Runtime (1..=64, as config key model.threads).
    #[arg(long, default_value_t = 1, value_parser = crate::config::parse_threads)]
    pub threads: usize,
}

impl ModelArgs {
    pub fn options(&self) -> crate::classify::Options {
        crate::classify::Options {
            ort_lib: self.ort_lib.clone(),
            threads: self.threads,
        }
    }
}
