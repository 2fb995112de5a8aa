//! Replays the image files of a folder in name order, one per tick: the way to run the daemon on
//! recorded material, and the source of the tests and the demo. With `loop = true` it starts
//! again after the last file (re-listing the folder); otherwise the camera ends there.

use std::path::{Path, PathBuf};

use super::{Captured, FrameSource, Grab, GrabFuture, Payload, SourceError};
use crate::timestamp::Timestamp;

pub struct FolderSource {
    camera: String,
    dir: PathBuf,
    repeat: bool,
    files: Vec<PathBuf>,
    next: usize,
}

/// The image files of `dir` (`.jpg`, `.jpeg`, `.png`, any case), sorted by name.
pub fn list_images(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                })
        })
        .collect();
    files.sort();
    Ok(files)
}

impl FolderSource {
    pub fn new(camera: &str, dir: &Path, repeat: bool) -> Result<Self, SourceError> {
        let mut s = FolderSource {
            camera: camera.to_string(),
            dir: dir.to_path_buf(),
            repeat,
            files: Vec::new(),
            next: 0,
        };
        s.relist()?;
        Ok(s)
    }

    fn relist(&mut self) -> Result<(), SourceError> {
        self.files = list_images(&self.dir).map_err(|source| SourceError::Io {
            camera: self.camera.clone(),
            path: self.dir.clone(),
            source,
        })?;
        self.next = 0;
        if self.files.is_empty() {
            return Err(SourceError::EmptyFolder {
                camera: self.camera.clone(),
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// How many files one pass replays.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for FolderSource {
    fn kind(&self) -> &'static str {
        "folder"
    }

    fn grab(&mut self) -> GrabFuture<'_> {
        Box::pin(async move {
            if self.next >= self.files.len() {
                if !self.repeat {
                    return Ok(Grab::End);
                }
                self.relist()?;
            }
            let path = self.files[self.next].clone();
            self.next += 1;
            let read = path.clone();
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(&read))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
                .map_err(|source| SourceError::Io {
                    camera: self.camera.clone(),
                    path: path.clone(),
                    source,
                })?;
            Ok(Grab::Frame(Captured {
                payload: Payload::Encoded(bytes),
                time: Timestamp::now(),
                origin: path.display().to_string(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(g: &Grab) -> String {
        match g {
            Grab::Frame(c) => Path::new(&c.origin)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Grab::End => "END".into(),
        }
    }

    #[tokio::test]
    async fn replays_in_name_order_once_or_looping() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in ["b.jpg", "a.JPG", "c.png", "notes.txt"] {
            std::fs::write(dir.path().join(n), n).expect("write");
        }
        let mut once = FolderSource::new("cam", dir.path(), false).expect("open");
        assert_eq!(once.len(), 3);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(names(&once.grab().await.expect("grab")));
        }
        assert_eq!(seen, ["a.JPG", "b.jpg", "c.png", "END", "END"]);

        let mut looping = FolderSource::new("cam", dir.path(), true).expect("open");
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(names(&looping.grab().await.expect("grab")));
        }
        assert_eq!(seen, ["a.JPG", "b.jpg", "c.png", "a.JPG"]);
    }

    #[test]
    fn empty_or_missing_folder_is_an_error_naming_the_camera() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = FolderSource::new("yard", dir.path(), false)
            .err()
            .expect("empty");
        assert!(err.to_string().contains("camera yard"), "{err}");
        let err = FolderSource::new("yard", &dir.path().join("nope"), false)
            .err()
            .expect("missing");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
