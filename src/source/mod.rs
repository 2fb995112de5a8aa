//! Frame sources, one file per kind, behind one trait: [`folder`] (replay of image files),
//! [`http`] (an IP camera's JPEG snapshot URL) and [`v4l2`] (a USB camera through `nokhwa`, behind
//! the `v4l2` cargo feature). The daemon drives each camera from its own task on its own schedule
//! and calls [`FrameSource::grab`] once per tick, with a timeout, so a slow or dead camera only
//! delays itself.

pub mod folder;
pub mod http;
pub mod v4l2;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use image::RgbImage;
use thiserror::Error;

use crate::config::{Camera, Source};
use crate::timestamp::Timestamp;

/// What a source hands over: encoded bytes (decoded later, off the async runtime) or pixels.
#[derive(Debug)]
pub enum Payload {
    /// JPEG or PNG bytes, as read from a file or an HTTP answer.
    Encoded(Vec<u8>),
    /// Already decoded RGB (V4L2 capture).
    Rgb(RgbImage),
}

/// One captured frame.
#[derive(Debug)]
pub struct Captured {
    pub payload: Payload,
    /// Capture time.
    pub time: Timestamp,
    /// Where it came from (file name, URL, device), for logs and errors.
    pub origin: String,
}

/// The result of one grab.
#[derive(Debug)]
pub enum Grab {
    Frame(Captured),
    /// The source has no more frames (a folder replayed once).
    End,
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("camera {camera}: cannot read {path}: {source}")]
    Io {
        camera: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("camera {camera}: folder {path} holds no .jpg/.jpeg/.png files")]
    EmptyFolder { camera: String, path: PathBuf },
    #[error("camera {camera}: {url}: {message}")]
    Http {
        camera: String,
        url: String,
        message: String,
    },
    #[error("camera {camera}: password variable {var} is not set")]
    MissingPassword { camera: String, var: String },
    #[error("camera {camera}: device {device}: {message}")]
    Device {
        camera: String,
        device: String,
        message: String,
    },
    #[error("camera {camera}: no frame within {seconds} s")]
    Timeout { camera: String, seconds: f64 },
}

/// The future of one grab.
pub type GrabFuture<'a> = Pin<Box<dyn Future<Output = Result<Grab, SourceError>> + Send + 'a>>;

/// A camera, as the daemon sees it.
pub trait FrameSource: Send {
    /// `folder`, `http` or `v4l2`.
    fn kind(&self) -> &'static str;
    /// Captures one frame now.
    fn grab(&mut self) -> GrabFuture<'_>;
}

/// Opens the source of a configured camera; relative folder paths are taken from `base`.
pub fn open(camera: &Camera, base: &Path) -> Result<Box<dyn FrameSource>, SourceError> {
    Ok(match &camera.source {
        Source::Folder { path, repeat } => Box::new(folder::FolderSource::new(
            &camera.name,
            &base.join(path),
            *repeat,
        )?),
        Source::Http {
            url,
            timeout_s,
            username,
            password_env,
            auth,
        } => Box::new(http::HttpSource::new(
            &camera.name,
            url,
            *timeout_s,
            username.clone(),
            password_env.as_deref(),
            *auth,
        )?),
        Source::V4l2 {
            device,
            width,
            height,
        } => Box::new(v4l2::V4l2Source::new(
            &camera.name,
            device,
            width.zip(*height),
        )?),
    })
}
