//! A USB camera through Video4Linux2 (`nokhwa`), behind the `v4l2` cargo feature (it needs
//! `libclang-dev` at build time for the V4L2 bindings). Capture blocks, so the camera lives on its
//! own OS thread; each grab sends a request there and waits for the answer, and the daemon's timeout
//! around `grab` keeps a hung device from stalling anything else. A failed capture closes the device;
//! the next grab opens it again (the daemon's backoff spaces the attempts).

use std::path::Path;

use super::{FrameSource, GrabFuture, SourceError};

/// `/dev/video2` -> 2.
pub fn device_index(device: &Path) -> Option<u32> {
    let name = device.file_name()?.to_str()?;
    name.strip_prefix("video")?.parse().ok()
}

#[cfg(feature = "v4l2")]
mod imp {
    use std::path::Path;
    use std::sync::mpsc;

    use image::RgbImage;
    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{
        CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
    };

    use super::super::{Captured, Grab, Payload, SourceError};
    use crate::timestamp::Timestamp;

    type Reply = tokio::sync::oneshot::Sender<Result<RgbImage, String>>;

    pub struct Worker {
        requests: mpsc::Sender<Reply>,
    }

    fn open(index: u32, size: Option<(u32, u32)>) -> Result<nokhwa::Camera, String> {
        let requested = match size {
            Some((w, h)) => RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(
                CameraFormat::new(Resolution::new(w, h), FrameFormat::MJPEG, 30),
            )),
            None => {
                RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestResolution)
            }
        };
        let mut cam =
            nokhwa::Camera::new(CameraIndex::Index(index), requested).map_err(|e| e.to_string())?;
        cam.open_stream().map_err(|e| e.to_string())?;
        Ok(cam)
    }

    fn capture(cam: &mut nokhwa::Camera) -> Result<RgbImage, String> {
        let buf = cam.frame().map_err(|e| e.to_string())?;
        let img = buf.decode_image::<RgbFormat>().map_err(|e| e.to_string())?;
        let (w, h) = (img.width(), img.height());
        RgbImage::from_raw(w, h, img.into_raw()).ok_or_else(|| "short frame buffer".to_string())
    }

    impl Worker {
        pub fn spawn(camera: &str, index: u32, size: Option<(u32, u32)>) -> Worker {
            let (tx, rx) = mpsc::channel::<Reply>();
            let name = format!("v4l2-{camera}");
            let _ = std::thread::Builder::new().name(name).spawn(move || {
                let mut cam: Option<nokhwa::Camera> = None;
                while let Ok(reply) = rx.recv() {
                    let result = (|| {
                        if cam.is_none() {
                            cam = Some(open(index, size)?);
                        }
                        let c = cam.as_mut().ok_or("camera not open")?;
                        capture(c)
                    })();
                    if result.is_err() {
                        cam = None; // reopen on the next request
                    }
                    let _ = reply.send(result);
                }
            });
            Worker { requests: tx }
        }

        pub async fn grab(&self, camera: &str, device: &Path) -> Result<Grab, SourceError> {
            let err = |message: String| SourceError::Device {
                camera: camera.to_string(),
                device: device.display().to_string(),
                message,
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.requests
                .send(tx)
                .map_err(|_| err("capture thread ended".into()))?;
            let img = rx
                .await
                .map_err(|_| err("capture thread ended".into()))?
                .map_err(err)?;
            Ok(Grab::Frame(Captured {
                payload: Payload::Rgb(img),
                time: Timestamp::now(),
                origin: device.display().to_string(),
            }))
        }
    }
}

pub struct V4l2Source {
    camera: String,
    device: std::path::PathBuf,
    #[cfg(feature = "v4l2")]
    worker: imp::Worker,
}

impl V4l2Source {
    pub fn new(camera: &str, device: &Path, size: Option<(u32, u32)>) -> Result<Self, SourceError> {
        let index = device_index(device).ok_or_else(|| SourceError::Device {
            camera: camera.to_string(),
            device: device.display().to_string(),
            message: "expected a device path like /dev/video0".into(),
        })?;
        #[cfg(not(feature = "v4l2"))]
        {
            let _ = (index, size);
            Err(SourceError::Device {
                camera: camera.to_string(),
                device: device.display().to_string(),
                message: "this binwatch was built without the `v4l2` feature".into(),
            })
        }
        #[cfg(feature = "v4l2")]
        Ok(V4l2Source {
            camera: camera.to_string(),
            device: device.to_path_buf(),
            worker: imp::Worker::spawn(camera, index, size),
        })
    }
}

impl FrameSource for V4l2Source {
    fn kind(&self) -> &'static str {
        "v4l2"
    }

    fn grab(&mut self) -> GrabFuture<'_> {
        Box::pin(async move {
            #[cfg(feature = "v4l2")]
            {
                self.worker.grab(&self.camera, &self.device).await
            }
            #[cfg(not(feature = "v4l2"))]
            Err(SourceError::Device {
                camera: self.camera.clone(),
                device: self.device.display().to_string(),
                message: "built without the `v4l2` feature".into(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_map_to_indices() {
        assert_eq!(device_index(Path::new("/dev/video0")), Some(0));
        assert_eq!(device_index(Path::new("/dev/video12")), Some(12));
        assert_eq!(device_index(Path::new("/dev/sda")), None);
    }

    #[test]
    fn a_missing_device_is_an_error_on_grab_not_a_panic() {
        let Ok(mut src) = V4l2Source::new("usb", Path::new("/dev/video99"), None) else {
            return; // built without the feature: refused up front, also fine
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let err = rt.block_on(src.grab()).expect_err("no such device");
        assert!(
            err.to_string().contains("camera usb: device /dev/video99"),
            "{err}"
        );
    }
}
