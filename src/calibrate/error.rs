//! Errors of the calibration code; each names the camera, bin or file it is about.

use std::path::PathBuf;

/// What went wrong while checking, comparing or rendering a camera's calibration.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// A frame could not be read or decoded.
    #[error("camera '{camera}': cannot read image {path}: {source}")]
    ReadImage {
        camera: String,
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// The preview could not be written.
    #[error("camera '{camera}': cannot write preview {path}: {source}")]
    WriteImage {
        camera: String,
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// A frame is empty or too small to analyse.
    #[error(
        "camera '{camera}': {what} frame is {width}x{height} px, too small to analyse (need at least {min}x{min})"
    )]
    FrameTooSmall {
        camera: String,
        what: &'static str,
        width: u32,
        height: u32,
        min: u32,
    },
    /// Live and reference frames do not have the same aspect ratio, so they cannot be compared.
    #[error(
        "camera '{camera}': live frame {live_w}x{live_h} does not match the reference {ref_w}x{ref_h} (aspect ratio differs); take a new reference with `binwatch calibrate snapshot`"
    )]
    FrameMismatch {
        camera: String,
        live_w: u32,
        live_h: u32,
        ref_w: u32,
        ref_h: u32,
    },
    /// A region cannot be cropped (e.g. it has no area inside the frame).
    #[error("camera '{camera}' bin '{bin}': cannot crop region: {reason}")]
    Crop {
        camera: String,
        bin: String,
        reason: String,
    },
}
