//! Decoding a camera frame or photo into 8-bit RGB, with the checks a frame must pass before it reaches
//! the classifier (readable, a known format, a sane size). No EXIF rotation (schema 1 of the model contract).

use std::path::{Path, PathBuf};

use image::{ImageReader, Limits, RgbImage};
use thiserror::Error;

/// Smallest frame side we accept: below this a region cannot hold a recognisable bin.
pub const MIN_SIDE: u32 = 8;
/// Largest frame side we accept (decompression-bomb guard).
pub const MAX_SIDE: u32 = 16_384;

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode {path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{path}: image is {width}x{height}, expected each side in {MIN_SIDE}..={MAX_SIDE}")]
    Size {
        path: PathBuf,
        width: u32,
        height: u32,
    },
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l
}

fn check(path: &Path, img: RgbImage) -> Result<RgbImage, FrameError> {
    let (width, height) = img.dimensions();
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(FrameError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(img)
}

/// Decodes encoded bytes (JPEG or PNG); `path` only names the source in errors.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<RgbImage, FrameError> {
    let decode = |source| FrameError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| FrameError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.limits(limits());
    let img = reader.decode().map_err(decode)?;
    check(path, img.into_rgb8())
}

/// Reads and decodes an image file.
pub fn load(path: &Path) -> Result<RgbImage, FrameError> {
    let bytes = std::fs::read(path).map_err(|source| FrameError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error_naming_the_file() {
        let err = decode_bytes(Path::new("cam/x.jpg"), b"not an image").unwrap_err();
        assert!(matches!(err, FrameError::Decode { .. }));
        assert!(err.to_string().contains("cam/x.jpg"), "{err}");
    }

    #[test]
    fn tiny_image_is_refused() {
        let mut buf = Vec::new();
        RgbImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
            .unwrap();
        let err = decode_bytes(Path::new("t.png"), &buf).unwrap_err();
        assert!(err.to_string().contains("4x4"), "{err}");
    }

    #[test]
    fn missing_file_is_io_error() {
        let err = load(Path::new("/nonexistent/binwatch.jpg")).unwrap_err();
        assert!(matches!(err, FrameError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/binwatch.jpg"));
    }
}
