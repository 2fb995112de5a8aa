//! Finding and validating the ONNX Runtime shared library (`libonnxruntime`), loaded at run time
//! (`ort`'s `load-dynamic`), and the one process-wide ONNX Runtime environment.
//!
//! Lookup order: an explicit path (`--ort-lib` or config key `model.onnxruntime`), env `ORT_DYLIB_PATH`,
//! beside the executable, then `.ort/` in a parent folder of the executable (a development checkout where
//! `.ci/setup` put it). The library's version string must be 1.31.x.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use thiserror::Error;

/// ONNX Runtime version binwatch is built and tested against (major.minor).
pub const EXPECTED_VERSION: &str = "1.31";
/// File name of the library on this platform.
pub const LIB_NAME: &str = "libonnxruntime.so";
const HOW_TO_FIX: &str = "run `.ci/setup` in the binwatch checkout (it puts libonnxruntime 1.31.1 from the official \
                          `onnxruntime` wheel into .ort/), or point `--ort-lib`, config key `model.onnxruntime` \
                          or env ORT_DYLIB_PATH at libonnxruntime.so.1.31.x";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found; looked at: {}. To fix: {HOW_TO_FIX}", .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { looked: Vec<PathBuf> },
    #[error("ONNX Runtime library {path} (from {origin}) does not exist. To fix: {HOW_TO_FIX}")]
    Missing { path: PathBuf, origin: String },
    #[error(
        "ONNX Runtime library {path} (from {origin}) is a directory, expected the {LIB_NAME} file. To fix: {HOW_TO_FIX}"
    )]
    IsDir { path: PathBuf, origin: String },
    #[error("cannot load ONNX Runtime library {path}: {message}. To fix: {HOW_TO_FIX}")]
    Load { path: PathBuf, message: String },
    #[error(
        "ONNX Runtime library {path} is version {found}, binwatch needs {EXPECTED_VERSION}.x. To fix: {HOW_TO_FIX}"
    )]
    WrongVersion { path: PathBuf, found: String },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    #[error(
        "ONNX Runtime was already initialised from {loaded}; cannot switch to {requested} in the same process"
    )]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
}

/// Where the library was found, and why there.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub path: PathBuf,
    pub origin: String,
}

/// Finds the library: `explicit` first (flag or config key), then `ORT_DYLIB_PATH`, beside the executable,
/// then `.ort/` in the executable's parent folders.
pub fn locate(explicit: Option<&Path>) -> Result<Located, RuntimeError> {
    if let Some(p) = explicit {
        return exists(p, "--ort-lib / model.onnxruntime");
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return exists(Path::new(&p), "env ORT_DYLIB_PATH");
    }
    let mut looked = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let exe = exe.canonicalize().unwrap_or(exe);
        if let Some(dir) = exe.parent() {
            let beside = dir.join(LIB_NAME);
            if beside.is_file() {
                return Ok(Located {
                    path: beside,
                    origin: "beside the executable".into(),
                });
            }
            looked.push(beside);
            for anc in dir.ancestors().skip(1) {
                let cand = anc.join(".ort").join(LIB_NAME);
                if cand.is_file() {
                    return Ok(Located {
                        path: cand,
                        origin: "a development checkout's .ort/".into(),
                    });
                }
                looked.push(cand);
            }
        }
    }
    Err(RuntimeError::NotFound { looked })
}

fn exists(p: &Path, origin: &str) -> Result<Located, RuntimeError> {
    if p.is_file() {
        Ok(Located {
            path: p.to_path_buf(),
            origin: origin.into(),
        })
    } else if p.is_dir() {
        Err(RuntimeError::IsDir {
            path: p.to_path_buf(),
            origin: origin.into(),
        })
    } else {
        Err(RuntimeError::Missing {
            path: p.to_path_buf(),
            origin: origin.into(),
        })
    }
}

/// Reads the library's own version string (`OrtGetApiBase()->GetVersionString()`).
pub fn library_version(path: &Path) -> Result<String, RuntimeError> {
    let load_err = |message: String| RuntimeError::Load {
        path: path.to_path_buf(),
        message,
    };
    // SAFETY: loading libonnxruntime runs its initialisers, which have no preconditions; the symbol has the
    // C signature `const OrtApiBase* OrtGetApiBase(void)` and the returned struct outlives the library handle
    // we keep loaded for the whole process (ort loads the same file again).
    unsafe {
        // libloading's own text is only "dlopen failed": the loader's reason is its source
        let lib =
            libloading::Library::new(path).map_err(|e| load_err(crate::errtext::chain(&e)))?;
        let get: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").map_err(|_| {
                load_err("it does not export OrtGetApiBase: not an ONNX Runtime library".into())
            })?;
        let base = get();
        if base.is_null() {
            return Err(load_err("OrtGetApiBase returned null".into()));
        }
        let v = ((*base).GetVersionString)();
        let version = CStr::from_ptr(v).to_string_lossy().into_owned();
        // Keep the library loaded: unloading ONNX Runtime is not supported well and ort reopens it anyway.
        std::mem::forget(lib);
        Ok(version)
    }
}

/// Checks that a version string is 1.31.x.
pub fn check_version(path: &Path, version: &str) -> Result<(), RuntimeError> {
    let ok = version
        .strip_prefix(EXPECTED_VERSION)
        .is_some_and(|rest| rest.starts_with('.') || rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::WrongVersion {
            path: path.to_path_buf(),
            found: version.to_string(),
        })
    }
}

struct Loaded {
    path: PathBuf,
    env: ort::environment::Environment,
}

static ENV: OnceLock<Loaded> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// The process-wide ONNX Runtime environment, loading and validating the library on first use.
pub fn environment(explicit: Option<&Path>) -> Result<ort::environment::Environment, RuntimeError> {
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = ENV.get() {
        if let Some(p) = explicit
            && p != l.path
        {
            return Err(RuntimeError::AlreadyLoaded {
                loaded: l.path.clone(),
                requested: p.to_path_buf(),
            });
        }
        return Ok(l.env.clone());
    }
    let found = locate(explicit)?;
    let version = library_version(&found.path)?;
    check_version(&found.path, &version)?;
    let env = ort::init_from(&found.path)
        .map_err(|e| RuntimeError::Load {
            path: found.path.clone(),
            message: e.to_string(),
        })?
        .with_name("binwatch")
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    let loaded = ENV.get_or_init(|| Loaded {
        path: found.path.clone(),
        env,
    });
    Ok(loaded.env.clone())
}

/// Path and version of the library currently loaded, if any.
pub fn loaded_library() -> Option<PathBuf> {
    ENV.get().map(|l| l.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check() {
        let p = Path::new("/x/libonnxruntime.so");
        assert!(check_version(p, "1.31.1").is_ok());
        assert!(check_version(p, "1.31.0").is_ok());
        let err = check_version(p, "1.22.0").unwrap_err().to_string();
        assert!(
            err.contains("1.22.0") && err.contains("1.31") && err.contains(".ci/setup"),
            "{err}"
        );
        assert!(check_version(p, "1.310.0").is_err());
    }

    #[test]
    fn explicit_missing_path_says_so() {
        let err = locate(Some(Path::new("/nope/libonnxruntime.so")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nope/libonnxruntime.so") && err.contains(".ci/setup"),
            "{err}"
        );
    }

    #[test]
    fn not_an_onnxruntime_library() {
        let err = library_version(Path::new("/nope/libonnxruntime.so")).unwrap_err();
        assert!(matches!(err, RuntimeError::Load { .. }));
    }

    #[test]
    fn a_directory_is_said_to_be_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = locate(Some(dir.path())).unwrap_err();
        assert!(matches!(err, RuntimeError::IsDir { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("is a directory, expected the libonnxruntime.so file")
                && !text.contains("does not exist"),
            "{text}"
        );
    }

    #[test]
    fn a_file_that_is_no_library_gives_the_loaders_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"root:x:0:0:root:/root:/bin/bash\n").expect("write");
        let err = library_version(&fake).unwrap_err().to_string();
        // the dynamic loader's own text, e.g. "...: invalid ELF header" (glibc) or "...: file too short"
        assert!(err.contains(fake.to_str().unwrap()), "{err}");
        let reason = err
            .split("dlopen failed")
            .nth(1)
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            reason.starts_with(": ") && reason.len() > ": . To fix".len() + 10,
            "no loader reason after `dlopen failed`: {err}"
        );
    }
}
