//! `binwatch check-config FILE`: reports every problem of a config file (syntax, unknown keys, wrong
//! types, semantic checks) with line, column, key and value; then, when the file itself is sound, what
//! `binwatch run` would meet at start: the model and ONNX Runtime loaded, each webhook secret read, each
//! replay folder holding images, the state directory usable. Exits non-zero if there is any problem.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::classify::{Classifier, ClassifyError, Options};
use crate::config::{self, Config, Problem};

#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// The TOML config file.
    pub file: PathBuf,
    /// Check the file only: do not load the model and ONNX Runtime, read secrets or look at state_dir
    /// (e.g. on a machine that is not the one the daemon runs on).
    #[arg(long)]
    pub file_only: bool,
}

pub fn run(args: &CheckConfigArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read config {}", args.file.display()))?;
    let base = args.file.parent().unwrap_or(Path::new("."));
    let (cfg, mut problems) = config::check(&text, base);
    let mut found = Vec::new();
    if let (Some(cfg), false) = (&cfg, args.file_only) {
        let (p, f) = environment(cfg, base, &text);
        problems.extend(p);
        found = f;
    }
    if problems.is_empty() {
        let cfg = cfg.expect("no problems means a config");
        println!(
            "{}: ok ({} camera(s), {} bin(s), {} sink(s))",
            args.file.display(),
            cfg.cameras.len(),
            cfg.bins.len(),
            cfg.sinks.len()
        );
        for f in found {
            println!("  {f}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{}:{p}", args.file.display());
    }
    eprintln!("{}: {} problem(s)", args.file.display(), problems.len());
    Ok(ExitCode::FAILURE)
}

/// What `binwatch run` meets at start, beyond the file: problems, and what was found good.
fn environment(cfg: &Config, base: &Path, text: &str) -> (Vec<Problem>, Vec<String>) {
    let (mut problems, mut found) = (Vec::new(), Vec::new());
    let options = Options {
        ort_lib: cfg.model.onnxruntime.as_ref().map(|p| base.join(p)),
        threads: cfg.model.threads,
    };
    match Classifier::load(&cfg.model_path(base), &options) {
        Ok(c) => {
            let i = c.info();
            found.push(format!(
                "model {} loaded: version {}, classes {}, input {}x{}",
                i.path.display(),
                i.model_version,
                i.classes.join(","),
                i.width,
                i.height
            ));
        }
        Err(e) => {
            let key = match e {
                ClassifyError::Runtime(_) => "model.onnxruntime",
                _ => "model.path",
            };
            problems.push(config::problem_at(text, key, e.to_string()));
        }
    }
    for (i, sink) in cfg.sinks.iter().enumerate() {
        match crate::daemon::webhook_secret(sink, base) {
            Ok(_) => found.push(format!("sinks[{i}]: webhook secret read")),
            Err((key, e)) => problems.push(config::problem_at(
                text,
                &format!("sinks[{i}].{key}"),
                e.to_string(),
            )),
        }
    }
    for (i, cam) in cfg.cameras.iter().enumerate() {
        if let config::Source::Folder { path, .. } = &cam.source {
            let dir = base.join(path);
            let key = format!("cameras[{i}].source.path");
            match crate::source::folder::list_images(&dir) {
                Ok(images) if images.is_empty() => problems.push(config::problem_at(
                    text,
                    &key,
                    format!(
                        "camera `{}`: replay folder {} holds no images (.jpg, .jpeg, .png)",
                        cam.name,
                        dir.display()
                    ),
                )),
                Ok(images) => found.push(format!(
                    "camera `{}`: replay folder {} holds {} image(s)",
                    cam.name,
                    dir.display(),
                    images.len()
                )),
                Err(e) => problems.push(config::problem_at(
                    text,
                    &key,
                    format!(
                        "camera `{}`: replay folder {}: {e}",
                        cam.name,
                        dir.display()
                    ),
                )),
            }
        }
    }
    let state = crate::daemon::state_dir(cfg, base, None);
    match state_dir_problem(&state) {
        Some(msg) => problems.push(config::problem_at(text, "state_dir", msg)),
        None => found.push(format!("state_dir {}: usable", state.display())),
    }
    (problems, found)
}

/// Whether the daemon could keep its outbox and bin states in `dir` (creating it if needed).
fn state_dir_problem(dir: &Path) -> Option<String> {
    let mut probe = dir;
    while !probe.exists() {
        probe = match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !probe.is_dir() {
        return Some(format!(
            "state directory {}: {} is not a folder",
            dir.display(),
            probe.display()
        ));
    }
    if !writable(probe) {
        return Some(if probe == dir {
            format!(
                "state directory {} is not writable by this user",
                dir.display()
            )
        } else {
            format!(
                "state directory {} does not exist and cannot be created: {} is not writable by this user \
                 (under systemd, StateDirectory= creates it; run check-config as the service's user)",
                dir.display(),
                probe.display()
            )
        });
    }
    None
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}
