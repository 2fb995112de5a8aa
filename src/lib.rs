//! binwatch: watches street-side waste bins through cameras and turns "this bin is overflowing" into
//! cleaning work orders, on small CPU-only edge boxes.
//!
//! One module per concept: [`config`] (the TOML file), [`region`] (geometry and resampling into the model
//! tensor), [`frame`] (decoding and checks), [`errtext`] (error chains as one line of text), [`runtime`] (finding libonnxruntime), [`classify`] (the ONNX
//! session), [`dataset`] (labelled photo folders and region files), [`eval`] (metrics), [`report`] (the
//! evaluation report a person reads). [`cmd`] holds one module per subcommand of the `binwatch` binary.

pub mod calibrate;
pub mod classify;
pub mod cmd;
pub mod config;
pub mod dataset;
pub mod errtext;
pub mod eval;
pub mod frame;
pub mod pipeline;
pub mod region;
pub mod report;
pub mod runtime;
pub mod skip;

// The daemon (`binwatch run`, issue 4): debouncing, events, outbox, sinks, receiver.
pub mod binstate;
pub mod daemon;
pub mod debounce;
pub mod event;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod receive;
pub mod sink;
pub mod source;
pub mod timestamp;
