//! binwatch: watches street-side waste bins through cameras and turns "this bin is overflowing" into
//! cleaning work orders, on small CPU-only edge boxes.
//!
//! Library layout, one module per concept: [`config`] (the TOML file), [`region`] (geometry and resampling
//! into the model tensor), [`frame`] (decoding), [`runtime`] (finding libonnxruntime), [`classify`] (the ONNX
//! session), [`eval`] (metrics), [`report`] (human-readable evaluation report), [`dataset`] (labelled photo
//! folders and region files). The binary's subcommands live in `src/cmd/`.

pub mod classify;
pub mod frame;
pub mod region;
pub mod runtime;
