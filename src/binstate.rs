//! The per-bin state that outlives the daemon: each bin's open overflow episode (its work order) and
//! last resolution, so that a restart, a crash or a reload neither opens a second work order for the
//! same overflow nor forgets to resolve the first one.
//!
//! One small JSON file, `<state_dir>/bins.json`, rewritten atomically (temporary file, fsync, rename,
//! fsync of the folder) after every transition. The daemon writes the event to the outbox first and the
//! state second, so a crash between the two can repeat an overflow, never lose one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::debounce::SavedState;

/// The file's name inside the state directory.
pub const FILE: &str = "bins.json";
const VERSION: u32 = 1;

/// Saved states by bin id.
pub type BinStates = BTreeMap<String, SavedState>;

/// Reading or writing the state file failed.
#[derive(Debug, Error)]
pub enum BinStateError {
    /// An I/O step failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not what this version writes.
    #[error("{path}: not a binwatch bin-state file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    bins: BinStates,
}

/// The state file of `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads the saved states; a missing file is no state.
pub fn load(dir: &Path) -> Result<BinStates, BinStateError> {
    let p = path(dir);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BinStates::new()),
        Err(source) => {
            return Err(BinStateError::Io {
                action: "read",
                path: p,
                source,
            });
        }
    };
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| BinStateError::Corrupt {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    if file.version != VERSION {
        return Err(BinStateError::Corrupt {
            path: p,
            reason: format!("version {} (this binwatch reads {VERSION})", file.version),
        });
    }
    Ok(file.bins)
}

/// Writes the saved states atomically and durably.
pub fn save(dir: &Path, bins: &BinStates) -> Result<(), BinStateError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BinStateError::Io {
            action,
            path,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(io("create folder", dir))?;
    let file = StateFile {
        version: VERSION,
        bins: bins.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&file).expect("bin states serialise");
    let (tmp, dest) = (dir.join(format!(".{FILE}.tmp")), path(dir));
    let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(&bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &dest).map_err(io("rename into place", &dest))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync folder", dir))?;
    Ok(())
}

/// Moves an unreadable state file aside (to `bins.json.corrupt`), so that the daemon can start afresh
/// and a person can still look at it. Returns where it went.
pub fn set_aside(dir: &Path) -> Result<PathBuf, BinStateError> {
    let (from, to) = (path(dir), dir.join(format!("{FILE}.corrupt")));
    fs::rename(&from, &to).map_err(|source| BinStateError::Io {
        action: "move aside",
        path: from,
        source,
    })?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debounce::{EpisodeId, SavedEpisode};
    use crate::timestamp::Timestamp;

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty(), "no file, no state");
        let mut bins = BinStates::new();
        bins.insert(
            "bin-1".into(),
            SavedState {
                episode: Some(SavedEpisode {
                    id: EpisodeId("bin-1-1796327100000".into()),
                    since: Timestamp::from_unix_ms(1_796_327_160_000),
                    renotify_count: 2,
                }),
                cleared_at: None,
            },
        );
        bins.insert("bin-2".into(), SavedState::default());
        save(dir.path(), &bins).unwrap();
        assert_eq!(load(dir.path()).unwrap(), bins);
        assert!(!dir.path().join(".bins.json.tmp").exists());

        fs::write(
            path(dir.path()),
            b"{\"version\": 1, \"bins\": {\"b\": {\"episod\": 1}}}",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bins.json") && err.contains("episod"), "{err}");
        fs::write(path(dir.path()), b"{\"version\": 9, \"bins\": {}}").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
        let aside = set_aside(dir.path()).unwrap();
        assert!(aside.ends_with("bins.json.corrupt") && aside.exists());
        assert!(load(dir.path()).unwrap().is_empty());
    }
}
