//! `binwatch calibrate`: static checks of a camera's bin regions, comparison of a live frame with the
//! camera's reference frame (moved / covered / defocused), the installer's preview PNG, the reference
//! files under `calibration/`, and the comment-preserving config edit of `calibrate add`.

pub mod compare;
pub mod edit;
pub mod error;
pub mod font;
pub mod geometry_check;
pub mod preview;
pub mod reference;
pub mod region;
pub mod watch;

pub use error::CalibrateError;
pub use region::{Outline, Point};
pub use watch::{CameraWatch, WatchOutcome};
