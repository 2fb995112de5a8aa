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
    /// The ONNX model (see models/CONTRACT.md). Default: models/bin-fill.onnx in the current folder, else
    /// in the checkout the executable was built in.
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
    /// libonnxruntime.so 1.31.x to use (default: env ORT_DYLIB_PATH, beside the executable, or .ort/ of a checkout).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Intra-op threads for ONNX Runtime (1..=64, as config key model.threads).
    #[arg(long, default_value_t = 1, value_parser = crate::config::parse_threads)]
    pub threads: usize,
}

/// The model used when `--model` is not given, relative to the current folder or a checkout.
pub const DEFAULT_MODEL: &str = "models/bin-fill.onnx";

impl ModelArgs {
    /// `--model`, else [`DEFAULT_MODEL`] in the current folder, else in the executable's parent folders
    /// (a checkout's `target/release/binwatch`); an error that says where it looked otherwise.
    pub fn model_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(m) = &self.model {
            return Ok(m.clone());
        }
        let mut looked = vec![PathBuf::from(DEFAULT_MODEL)];
        if looked[0].is_file() {
            return Ok(looked.remove(0));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.canonicalize().ok())
            .and_then(|e| e.parent().map(PathBuf::from))
        {
            for anc in dir.ancestors() {
                let cand = anc.join(DEFAULT_MODEL);
                if cand.is_file() {
                    return Ok(cand);
                }
                looked.push(cand);
            }
        }
        anyhow::bail!(
            "no model given and none found at {}; pass --model FILE (e.g. models/bin-fill.onnx of a checkout)",
            looked
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    pub fn options(&self) -> crate::classify::Options {
        crate::classify::Options {
            ort_lib: self.ort_lib.clone(),
            threads: self.threads,
        }
    }
}
