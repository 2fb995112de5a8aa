//! Decoding a camera frame or photo into 8-bit RGB, with the checks a frame must pass before it reaches
//! the classifier (readable, a known format, a sane size). No EXIF rotation (schema 1 of the model contract).
//!
//! JPEG goes through libjpeg-turbo's decoder (as built by `mozjpeg`, whose decoding side is libjpeg-turbo's):
//! it gives the same pixels as the training code's Pillow, bit for bit, which the 1e-3 parity between the
//! Rust and Python pipelines needs (image-rs's pure-Rust JPEG decoder differs by 1-2 levels in colour
//! images). Other formats (PNG) go through the `image` crate.

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
    #[error("cannot decode JPEG {path}: {message}")]
    Jpeg { path: PathBuf, message: String },
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

/// Decodes a JPEG with libjpeg-turbo (islow DCT and fancy upsampling, libjpeg's and Pillow's defaults).
fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<RgbImage, FrameError> {
    let err = |message: String| FrameError::Jpeg {
        path: path.to_path_buf(),
        message,
    };
    // libjpeg reports errors by unwinding (mozjpeg's error manager uses resume_unwind, no panic message)
    let result = std::panic::catch_unwind(|| -> std::io::Result<(usize, usize, Vec<u8>)> {
        let d = mozjpeg::Decompress::with_markers(&[]).from_mem(bytes)?;
        let (w, h) = (d.width(), d.height());
        if w > MAX_SIDE as usize || h > MAX_SIDE as usize {
            return Ok((w, h, Vec::new()));
        }
        let mut started = d.rgb()?;
        let data = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok((w, h, data))
    });
    let (w, h, data) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(err(e.to_string())),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "corrupt JPEG data".into());
            return Err(err(message));
        }
    };
    let (width, height) = (w as u32, h as u32);
    if data.is_empty() {
        return Err(FrameError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let img =
        RgbImage::from_raw(width, height, data).ok_or_else(|| err("short scanline data".into()))?;
    check(path, img)
}

/// Decodes encoded bytes (JPEG or PNG); `path` only names the source in errors.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<RgbImage, FrameError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return decode_jpeg(path, bytes);
    }
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
    fn truncated_jpeg_is_an_error_not_a_crash() {
        let err = decode_bytes(
            Path::new("cam/broken.jpg"),
            b"\xff\xd8\xff\xe0 not really a jpeg",
        )
        .unwrap_err();
        assert!(matches!(err, FrameError::Jpeg { .. }), "{err}");
        assert!(err.to_string().contains("cam/broken.jpg"), "{err}");
    }

    #[test]
    fn jpeg_round_trip() {
        let img = RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, 128])
        });
        let mut buf = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut buf),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let back = decode_bytes(Path::new("t.jpg"), &buf).unwrap();
        assert_eq!(back.dimensions(), (40, 30));
        let diff: i32 = img
            .pixels()
            .zip(back.pixels())
            .map(|(a, b)| (a.0[0] as i32 - b.0[0] as i32).abs())
            .max()
            .unwrap();
        assert!(diff < 16, "{diff}");
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
