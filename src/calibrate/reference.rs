//! A camera's reference frame: the picture `calibrate snapshot` keeps under `calibration/` and that
//! `calibrate check` (and the daemon's periodic check) compares live frames with.
//!
//! Files, in `<config folder>/calibration/` unless `snapshot -o` put the image elsewhere:
//! - `<camera>.ref.jpg` (or `.png`): the frame exactly as the camera delivered it (no re-encoding);
//! - `<camera>.ref.json`: the sidecar, always at that place, with the image's path, resolution,
//!   SHA-256, capture time and source. `check` refuses an image whose hash no longer matches.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{Camera, Source};
use crate::source::{self, Grab, Payload, SourceError};
use crate::timestamp::Timestamp;

/// Folder (relative to the config file's folder) holding the references and their sidecars.
pub const CALIBRATION_DIR: &str = "calibration";

#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("camera '{camera}': the source has no frame to give (folder replay ended)")]
    NoFrame { camera: String },
    #[error("camera '{camera}': cannot start the async runtime: {source}")]
    Runtime {
        camera: String,
        #[source]
        source: std::io::Error,
    },
    #[error("camera '{camera}': {source}")]
    Frame {
        camera: String,
        #[source]
        source: crate::frame::FrameError,
    },
    #[error("camera '{camera}': {path}: {source}")]
    Io {
        camera: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "camera '{camera}': no reference frame ({path} is missing); take one with `binwatch calibrate snapshot --config F --camera {camera}`"
    )]
    Missing { camera: String, path: PathBuf },
    #[error("camera '{camera}': reference sidecar {path} is unreadable: {message}")]
    BadSidecar {
        camera: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "camera '{camera}': reference image {path} changed since the snapshot (sha256 {actual}, the sidecar says {expected}); take a new snapshot"
    )]
    HashMismatch {
        camera: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// The sidecar `<camera>.ref.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub camera: String,
    /// The image, relative to the sidecar's folder unless absolute.
    pub image: PathBuf,
    pub width: u32,
    pub height: u32,
    /// SHA-256 of the image file's bytes, hex.
    pub sha256: String,
    /// Capture time, RFC 3339 UTC.
    pub taken_at: String,
    /// `folder`, `http` or `v4l2`.
    pub source_kind: String,
    /// File name, URL or device the frame came from.
    pub source: String,
    /// The reference's own fine detail (see `compare::Reference::sharpness`); below 0.01 a blur
    /// cannot be told from the reference.
    pub sharpness: f64,
    pub focus_check_reliable: bool,
    pub binwatch_version: String,
}

/// One frame grabbed from a camera, with what the sidecar records about it.
#[derive(Debug)]
pub struct Grabbed {
    pub rgb: RgbImage,
    /// The bytes as delivered (JPEG/PNG), if the source delivered encoded bytes.
    pub encoded: Option<Vec<u8>>,
    pub time: Timestamp,
    pub origin: String,
    pub kind: &'static str,
}

/// `<config folder>/calibration/`.
pub fn calibration_dir(config_base: &Path) -> PathBuf {
    config_base.join(CALIBRATION_DIR)
}

/// `<config folder>/calibration/<camera>.ref.json`.
pub fn sidecar_path(config_base: &Path, camera: &str) -> PathBuf {
    calibration_dir(config_base).join(format!("{camera}.ref.json"))
}

/// Grabs one frame from the camera's configured source, now. A folder source gives its *last*
/// image in name order (the newest recording), so a folder that receives frames works as a
/// camera; HTTP and V4L2 go through the daemon's sources ([`crate::source`]).
pub fn grab(camera: &Camera, config_base: &Path) -> Result<Grabbed, ReferenceError> {
    let name = camera.name.clone();
    if let Source::Folder { path, .. } = &camera.source {
        let dir = config_base.join(path);
        let files = source::folder::list_images(&dir).map_err(|source| SourceError::Io {
            camera: name.clone(),
            path: dir.clone(),
            source,
        })?;
        let Some(last) = files.last() else {
            return Err(SourceError::EmptyFolder {
                camera: name,
                path: dir,
            }
            .into());
        };
        let bytes = std::fs::read(last).map_err(|source| ReferenceError::Io {
            camera: name.clone(),
            path: last.clone(),
            source,
        })?;
        let rgb =
            crate::frame::decode_bytes(last, &bytes).map_err(|source| ReferenceError::Frame {
                camera: name.clone(),
                source,
            })?;
        return Ok(Grabbed {
            rgb,
            encoded: Some(bytes),
            time: Timestamp::now(),
            origin: last.display().to_string(),
            kind: "folder",
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ReferenceError::Runtime {
            camera: name.clone(),
            source,
        })?;
    let mut src = source::open(camera, config_base)?;
    let kind = src.kind();
    let grabbed = rt.block_on(src.grab())?;
    let Grab::Frame(c) = grabbed else {
        return Err(ReferenceError::NoFrame { camera: name });
    };
    let (rgb, encoded) = match c.payload {
        Payload::Encoded(bytes) => {
            let rgb =
                crate::frame::decode_bytes(Path::new(&c.origin), &bytes).map_err(|source| {
                    ReferenceError::Frame {
                        camera: name.clone(),
                        source,
                    }
                })?;
            (rgb, Some(bytes))
        }
        Payload::Rgb(rgb) => (rgb, None),
    };
    Ok(Grabbed {
        rgb,
        encoded,
        time: c.time,
        origin: c.origin,
        kind,
    })
}

/// File extension for encoded bytes (`jpg` or `png`), `None` for other formats.
fn extension_of(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes).ok()? {
        image::ImageFormat::Jpeg => Some("jpg"),
        image::ImageFormat::Png => Some("png"),
        _ => None,
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // The rename is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Stores `grabbed` as `camera`'s reference: the image at `out` (default
/// `calibration/<camera>.ref.jpg|png`) and the sidecar at `calibration/<camera>.ref.json`.
/// `sharpness` is the reference's own fine detail (from `compare::Reference`).
pub fn store(
    camera: &str,
    config_base: &Path,
    grabbed: &Grabbed,
    out: Option<&Path>,
    sharpness: f64,
    focus_check_reliable: bool,
) -> Result<(PathBuf, Sidecar), ReferenceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        let camera = camera.to_string();
        move |source| ReferenceError::Io {
            camera,
            path,
            source,
        }
    };
    // Keep the camera's own bytes when they are JPEG/PNG; otherwise (raw capture) write a PNG.
    let (bytes, ext) = match grabbed
        .encoded
        .as_deref()
        .and_then(|b| Some((b, extension_of(b)?)))
    {
        Some((b, ext)) => (b.to_vec(), ext),
        None => {
            let mut buf = Vec::new();
            grabbed
                .rgb
                .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
                .map_err(|e| io(Path::new("(png encoding)"))(std::io::Error::other(e)))?;
            (buf, "png")
        }
    };
    let image_path = match out {
        Some(p) => p.to_path_buf(),
        None => calibration_dir(config_base).join(format!("{camera}.ref.{ext}")),
    };
    write_atomic(&image_path, &bytes).map_err(io(&image_path))?;
    let side = sidecar_path(config_base, camera);
    let side_dir = side.parent().unwrap_or(Path::new("."));
    let rel = match (
        std::path::absolute(&image_path),
        std::path::absolute(side_dir),
    ) {
        (Ok(img), Ok(dir)) => img.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(img),
        _ => image_path.clone(),
    };
    let sidecar = Sidecar {
        camera: camera.to_string(),
        image: rel,
        width: grabbed.rgb.width(),
        height: grabbed.rgb.height(),
        sha256: crate::classify::sha256_hex(&bytes),
        taken_at: grabbed.time.to_rfc3339(),
        source_kind: grabbed.kind.to_string(),
        source: grabbed.origin.clone(),
        sharpness,
        focus_check_reliable,
        binwatch_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let mut json =
        serde_json::to_vec_pretty(&sidecar).map_err(|e| io(&side)(std::io::Error::other(e)))?;
    json.push(b'\n');
    write_atomic(&side, &json).map_err(io(&side))?;
    Ok((image_path, sidecar))
}

/// Reads the sidecar of `camera` (`None` if there is none).
pub fn read_sidecar(
    camera: &str,
    config_base: &Path,
) -> Result<Option<(PathBuf, Sidecar)>, ReferenceError> {
    let side = sidecar_path(config_base, camera);
    let text = match std::fs::read_to_string(&side) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReferenceError::Io {
                camera: camera.into(),
                path: side,
                source,
            });
        }
    };
    let sc: Sidecar = serde_json::from_str(&text).map_err(|e| ReferenceError::BadSidecar {
        camera: camera.into(),
        path: side.clone(),
        message: e.to_string(),
    })?;
    let dir = side.parent().unwrap_or(Path::new("."));
    Ok(Some((dir.join(&sc.image), sc)))
}

/// Loads `camera`'s reference: the decoded image, its path and its sidecar. The file's SHA-256
/// must match the sidecar's.
pub fn load(
    camera: &str,
    config_base: &Path,
) -> Result<(RgbImage, PathBuf, Sidecar), ReferenceError> {
    let Some((path, sc)) = read_sidecar(camera, config_base)? else {
        return Err(ReferenceError::Missing {
            camera: camera.into(),
            path: sidecar_path(config_base, camera),
        });
    };
    let bytes = std::fs::read(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReferenceError::Missing {
                camera: camera.into(),
                path: path.clone(),
            }
        } else {
            ReferenceError::Io {
                camera: camera.into(),
                path: path.clone(),
                source,
            }
        }
    })?;
    let actual = crate::classify::sha256_hex(&bytes);
    if actual != sc.sha256 {
        return Err(ReferenceError::HashMismatch {
            camera: camera.into(),
            path,
            expected: sc.sha256,
            actual,
        });
    }
    let rgb =
        crate::frame::decode_bytes(&path, &bytes).map_err(|source| ReferenceError::Frame {
            camera: camera.into(),
            source,
        })?;
    Ok((rgb, path, sc))
}
