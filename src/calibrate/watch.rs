//! The calibration check as a library: what `binwatch calibrate check` runs per camera, and
//! [`CameraWatch`], the piece the daemon calls now and then with a live frame to learn when to
//! emit `camera.moved` (after `confirm` consecutive failed comparisons, once per episode).

use std::path::Path;

use image::RgbImage;

use super::CalibrateError;
use super::compare::{CompareConfig, Comparison, Reference};
use super::geometry_check::{Finding, GeometryThresholds, check_regions};
use super::reference::{self, ReferenceError, Sidecar};
use super::region::Outline;
use crate::config::Config;
use crate::region::Region;

/// The camera's bins in config order with their (valid) regions, as the comparison wants them.
pub fn camera_regions(cfg: &Config, camera: &str) -> Vec<(String, Region)> {
    cfg.bins
        .iter()
        .filter(|b| b.camera == camera)
        .filter_map(|b| Some((b.id.clone(), b.region()?)))
        .collect()
}

/// The camera's bins as written (valid or not), for the geometry checks.
pub fn camera_outlines(cfg: &Config, camera: &str) -> Vec<(String, Outline)> {
    cfg.bins
        .iter()
        .filter(|b| b.camera == camera)
        .filter_map(|b| Some((b.id.clone(), Outline::of_bin(b)?)))
        .collect()
}

/// Geometry findings of one camera's bins for a reference of `width` x `height` pixels.
pub fn geometry(cfg: &Config, camera: &str, width: u32, height: u32) -> Vec<Finding> {
    check_regions(
        camera,
        width,
        height,
        &camera_outlines(cfg, camera),
        &GeometryThresholds::default(),
    )
}

/// A camera's reference, analysed once, and the state of its periodic check.
#[derive(Debug, Clone)]
pub struct CameraWatch {
    reference: Reference,
    sidecar: Sidecar,
    /// Consecutive failed comparisons before `camera.moved` is emitted (a passing lorry or a
    /// person in front of the lens fails one comparison, not two minutes' worth).
    pub confirm: u32,
    failures: u32,
    reported: bool,
}

/// What one observation concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchOutcome {
    /// The frame matches the reference.
    Ok(Comparison),
    /// Failed, but not yet `confirm` times in a row (or already reported).
    Failing(Comparison),
    /// Emit `camera.moved` now: `confirm` consecutive failures, first time in this episode. The
    /// comparison's `verdict` (Moved / Covered / Defocused / Unrecognised) and `explanation`
    /// belong in the event.
    Moved(Comparison),
    /// The camera passes again after a reported episode.
    Recovered(Comparison),
}

impl CameraWatch {
    /// Loads `camera`'s reference (`calibration/<camera>.ref.json` beside the config);
    /// `Ok(None)` when the camera has never been calibrated (the daemon then skips the check).
    pub fn load(
        cfg: &Config,
        config_base: &Path,
        camera: &str,
    ) -> Result<Option<CameraWatch>, ReferenceError> {
        if reference::read_sidecar(camera, config_base)?.is_none() {
            return Ok(None);
        }
        let (img, _, sidecar) = reference::load(camera, config_base)?;
        let reference = Reference::new(
            camera,
            &img,
            &camera_regions(cfg, camera),
            &CompareConfig::default(),
        )
        .map_err(|e| ReferenceError::BadSidecar {
            camera: camera.into(),
            path: reference::sidecar_path(config_base, camera),
            message: e.to_string(),
        })?;
        Ok(Some(CameraWatch {
            reference,
            sidecar,
            confirm: 2,
            failures: 0,
            reported: false,
        }))
    }

    /// From an already decoded reference (tests, or a daemon that keeps the image elsewhere).
    pub fn new(reference: Reference, sidecar: Sidecar) -> CameraWatch {
        CameraWatch {
            reference,
            sidecar,
            confirm: 2,
            failures: 0,
            reported: false,
        }
    }

    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Compares one live frame with the reference (~50 ms for 600x800 on a 2-core box; run it
    /// off the async runtime) and updates the episode state.
    pub fn observe(&mut self, live: &RgbImage) -> Result<WatchOutcome, CalibrateError> {
        let c = self.reference.compare(live)?;
        Ok(if c.verdict.is_ok() {
            self.failures = 0;
            if std::mem::take(&mut self.reported) {
                WatchOutcome::Recovered(c)
            } else {
                WatchOutcome::Ok(c)
            }
        } else {
            self.failures += 1;
            if self.failures >= self.confirm.max(1) && !self.reported {
                self.reported = true;
                WatchOutcome::Moved(c)
            } else {
                WatchOutcome::Failing(c)
            }
        })
    }
}
