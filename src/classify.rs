//! The fill-level classifier: one ONNX Runtime session, loaded once and reused, configured entirely from
//! the model's `metadata_props` (see `models/CONTRACT.md`): class names, alert classes, input name and size,
//! pixel range and normalisation. All regions of a frame go through one batched run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::region::{FrameView, PixelMap, Region, RegionPlan, Scratch};
use crate::runtime::{self, RuntimeError};

#[derive(Debug, Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot read model {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load model {path}: {message}")]
    Session { path: PathBuf, message: String },
    #[error("model {path}: metadata key `{key}` is missing (see models/CONTRACT.md)")]
    MissingMeta { path: PathBuf, key: String },
    #[error("model {path}: metadata key `{key}` = {value:?} is invalid: {reason}")]
    BadMeta {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
    #[error("model {path}: inference failed: {message}")]
    Run { path: PathBuf, message: String },
}

/// How input values are normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalization {
    /// The graph normalises; the runtime feeds `byte / 255`.
    InGraph,
    /// The runtime applies `(byte / 255 - mean) / std`.
    Runtime { mean: [f32; 3], std: [f32; 3] },
}

/// What the model says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub classes: Vec<String>,
    /// Indices into `classes` that mean "needs cleaning".
    pub alert: Vec<usize>,
    pub input_name: String,
    pub output_name: String,
    pub width: usize,
    pub height: usize,
    pub normalization: Normalization,
    pub model_version: String,
    pub default_margin: Option<f64>,
    /// `quantization` from the metadata (e.g. `int8-qdq-per-channel`), informative; `None` for a float
    /// model.
    pub quantization: Option<String>,
}

impl ModelInfo {
    /// Reads and validates the contract's metadata through a key lookup.
    pub fn from_metadata(
        path: &Path,
        sha256: String,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<ModelInfo, ClassifyError> {
        let need = |key: &str| {
            get(key).ok_or_else(|| ClassifyError::MissingMeta {
                path: path.to_path_buf(),
                key: key.into(),
            })
        };
        let bad = |key: &str, value: &str, reason: &str| ClassifyError::BadMeta {
            path: path.to_path_buf(),
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let schema = need("binwatch.schema")?;
        if schema.trim() != "1" {
            return Err(bad(
                "binwatch.schema",
                &schema,
                "this binwatch understands schema 1",
            ));
        }
        let classes_raw = need("classes")?;
        let classes: Vec<String> = classes_raw
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        if classes.len() < 2 || classes.iter().any(String::is_empty) {
            return Err(bad(
                "classes",
                &classes_raw,
                "need at least two non-empty class names",
            ));
        }
        let alert_raw = need("alert_classes")?;
        let mut alert = Vec::new();
        for a in alert_raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match classes.iter().position(|c| c == a) {
                Some(i) => alert.push(i),
                None => {
                    return Err(bad(
                        "alert_classes",
                        &alert_raw,
                        &format!("`{a}` is not one of the classes {classes_raw}"),
                    ));
                }
            }
        }
        if alert.is_empty() {
            return Err(bad("alert_classes", &alert_raw, "no alert class given"));
        }
        for (key, want) in [
            ("input_layout", "NCHW"),
            ("color_order", "RGB"),
            ("resize", "stretch-triangle"),
        ] {
            let v = need(key)?;
            if v.trim() != want {
                return Err(bad(key, &v, &format!("only {want} is supported")));
            }
        }
        let range = need("pixel_range")?;
        let parts: Vec<String> = range.split(',').map(|s| s.trim().to_string()).collect();
        if parts != ["0", "1"] {
            return Err(bad(
                "pixel_range",
                &range,
                "only 0,1 (byte / 255) is supported",
            ));
        }
        let size = |key: &str| -> Result<usize, ClassifyError> {
            let v = need(key)?;
            match v.trim().parse::<usize>() {
                Ok(n) if (1..=4096).contains(&n) => Ok(n),
                _ => Err(bad(key, &v, "expected a pixel count in 1..=4096")),
            }
        };
        let triple = |key: &str| -> Result<[f32; 3], ClassifyError> {
            let v = need(key)?;
            let nums: Option<Vec<f32>> = v.split(',').map(|s| s.trim().parse().ok()).collect();
            match nums.as_deref() {
                Some(&[a, b, c]) if [a, b, c].iter().all(|x| x.is_finite()) => Ok([a, b, c]),
                _ => Err(bad(key, &v, "expected 3 comma-separated numbers")),
            }
        };
        let norm_raw = need("normalization")?;
        let normalization = match norm_raw.trim() {
            "in-graph" => Normalization::InGraph,
            "runtime" => {
                let std = triple("std")?;
                if std.iter().any(|s| *s <= 0.0) {
                    return Err(bad(
                        "std",
                        &get("std").unwrap_or_default(),
                        "std must be > 0",
                    ));
                }
                Normalization::Runtime {
                    mean: triple("mean")?,
                    std,
                }
            }
            _ => {
                return Err(bad(
                    "normalization",
                    &norm_raw,
                    "expected `in-graph` or `runtime`",
                ));
            }
        };
        let default_margin = match get("default_margin") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(m) if m.is_finite() && m >= 0.0 => Some(m),
                _ => return Err(bad("default_margin", &v, "expected a number >= 0")),
            },
        };
        Ok(ModelInfo {
            path: path.to_path_buf(),
            sha256,
            classes,
            alert,
            input_name: need("input_name")?,
            output_name: need("output_name")?,
            width: size("input_width")?,
            height: size("input_height")?,
            normalization,
            model_version: get("model_version").unwrap_or_else(|| "unknown".into()),
            default_margin,
            quantization: get("quantization")
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty()),
        })
    }

    pub fn pixel_map(&self) -> PixelMap {
        match self.normalization {
            Normalization::InGraph => PixelMap::UNIT,
            Normalization::Runtime { mean, std } => PixelMap::normalized(mean, std),
        }
    }

    /// Values per sample in the input tensor.
    pub fn sample_len(&self) -> usize {
        3 * self.width * self.height
    }

    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }
}

/// One region's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// In the model's class order.
    pub probabilities: Vec<f32>,
    /// Index of the most probable class.
    pub class: usize,
    /// Whether the most probable class is an alert class.
    pub alert: bool,
}

impl Prediction {
    pub fn level<'a>(&self, info: &'a ModelInfo) -> &'a str {
        &info.classes[self.class]
    }

    pub fn probabilities_by_class(&self, info: &ModelInfo) -> HashMap<String, f32> {
        info.classes
            .iter()
            .cloned()
            .zip(self.probabilities.iter().copied())
            .collect()
    }
}

/// Runtime options for the session.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Explicit libonnxruntime path (flag or config key); `None` = the usual lookup.
    pub ort_lib: Option<PathBuf>,
    /// Intra-op threads; 0 is taken as 1.
    pub threads: usize,
}

/// SHA-256 of a file's bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resampling plans by (region, frame size as decoded), so that a camera's frames reuse their weight
/// tables. Bounded: when full it starts over (eval sees a new frame size per photo).
#[derive(Debug, Default)]
pub struct PlanCache {
    plans: HashMap<PlanKey, RegionPlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PlanKey {
    coords: [u64; 8],
    quad: bool,
    frame: (usize, usize),
    out: (usize, usize),
}

impl PlanCache {
    /// Most plans kept.
    pub const MAX: usize = 256;

    /// The plan of `region` on a `frame_w x frame_h` frame for an `out_w x out_h` input, made on first use.
    pub fn get(
        &mut self,
        region: &Region,
        frame: (usize, usize),
        out: (usize, usize),
    ) -> &RegionPlan {
        let mut coords = [0u64; 8];
        for (c, v) in coords.iter_mut().zip(region.coords()) {
            *c = v.to_bits();
        }
        let key = PlanKey {
            coords,
            quad: matches!(region, Region::Quad(_)),
            frame,
            out,
        };
        if self.plans.len() >= Self::MAX && !self.plans.contains_key(&key) {
            self.plans.clear();
        }
        self.plans.entry(key).or_insert_with(|| {
            RegionPlan::new(region, frame.0 as u32, frame.1 as u32, out.0, out.1)
        })
    }

    pub fn len(&self) -> usize {
        self.plans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }
}

/// A loaded model, ready to classify regions of frames.
pub struct Classifier {
    session: Session,
    info: ModelInfo,
    pixel_map: PixelMap,
    input: Vec<f32>,
    scratch: Scratch,
    plans: PlanCache,
    last_resample: std::time::Duration,
}

impl Classifier {
    /// Loads the model once; reuse the classifier for every frame.
    pub fn load(model: &Path, options: &Options) -> Result<Classifier, ClassifyError> {
        let bytes = std::fs::read(model).map_err(|source| ClassifyError::Read {
            path: model.to_path_buf(),
            source,
        })?;
        let env = runtime::environment(options.ort_lib.as_deref())?;
        let sess_err = |message: String| ClassifyError::Session {
            path: model.to_path_buf(),
            message: crate::errtext::one_line(&message),
        };
        let session = Session::builder(&env)
            .map_err(|e| sess_err(e.to_string()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| sess_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| sess_err(e.to_string()))?
            // Plain malloc instead of ONNX Runtime's CPU arena, and no memory-pattern planning: the arena
            // keeps its high-water mark for the life of the process (tens of MB for a batch of crops), while
            // malloc'd buffers go back to the allocator, which the daemon returns to the OS when it is idle
            // (`memory::release_to_os`). Inference is as fast either way here (benches/pipeline.rs).
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| sess_err(e.to_string()))?
            .with_memory_pattern(false)
            .map_err(|e| sess_err(e.to_string()))?
            .commit_from_memory(&bytes)
            .map_err(|e| sess_err(e.to_string()))?;
        let info = {
            let meta = session.metadata().map_err(|e| sess_err(e.to_string()))?;
            ModelInfo::from_metadata(model, sha256_hex(&bytes), |k| meta.custom(k))?
        };
        for (what, name, names) in [
            (
                "input_name",
                &info.input_name,
                session
                    .inputs()
                    .iter()
                    .map(|o| o.name().to_string())
                    .collect::<Vec<_>>(),
            ),
            (
                "output_name",
                &info.output_name,
                session
                    .outputs()
                    .iter()
                    .map(|o| o.name().to_string())
                    .collect(),
            ),
        ] {
            if !names.contains(name) {
                return Err(ClassifyError::BadMeta {
                    path: model.to_path_buf(),
                    key: what.into(),
                    value: name.clone(),
                    reason: format!("the graph has {}", names.join(", ")),
                });
            }
        }
        check_graph_shapes(model, &info, &session)?;
        Ok(Classifier {
            session,
            pixel_map: info.pixel_map(),
            info,
            input: Vec::new(),
            scratch: Scratch::default(),
            plans: PlanCache::default(),
            last_resample: std::time::Duration::ZERO,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// A resampling plan for this model's input size.
    pub fn plan(&self, region: &Region, frame: &RgbImage) -> RegionPlan {
        RegionPlan::new(
            region,
            frame.width(),
            frame.height(),
            self.info.width,
            self.info.height,
        )
    }

    /// Classifies every region of one frame in one batched run, in order. The resampling plans are kept
    /// (per region and frame size) for the next frames.
    pub fn classify(
        &mut self,
        frame: &RgbImage,
        regions: &[Region],
    ) -> Result<Vec<Prediction>, ClassifyError> {
        self.classify_view(&FrameView::full(frame), regions)
    }

    /// Like [`Classifier::classify`], from a decoded frame (at any scale) or a window of it that holds
    /// every region's pixels ([`Classifier::source_rect`]).
    pub fn classify_view(
        &mut self,
        view: &FrameView<'_>,
        regions: &[Region],
    ) -> Result<Vec<Prediction>, ClassifyError> {
        let t = std::time::Instant::now();
        self.fill(view, regions);
        self.last_resample = t.elapsed();
        self.run(regions.len())
    }

    /// The frame pixels (of a `frame_w x frame_h` decode) that classifying `region` reads.
    pub fn source_rect(
        &mut self,
        region: &Region,
        frame: (usize, usize),
    ) -> crate::region::PixelRect {
        let out = (self.info.width, self.info.height);
        self.plans.get(region, frame, out).source_rect()
    }

    /// Time the last [`Classifier::classify_view`] spent resampling into the tensor (the rest was the
    /// model run).
    pub fn last_resample_time(&self) -> std::time::Duration {
        self.last_resample
    }

    /// Resamples each region into the input tensor.
    fn fill(&mut self, view: &FrameView<'_>, regions: &[Region]) {
        let per = self.info.sample_len();
        let out = (self.info.width, self.info.height);
        self.input.resize(regions.len() * per, 0.0);
        for (r, dst) in regions.iter().zip(self.input.chunks_exact_mut(per)) {
            let plan = self.plans.get(r, view.frame_size(), out);
            plan.write_view(view, &self.pixel_map, dst, &mut self.scratch);
        }
    }

    /// Classifies a batch of (frame, plan) pairs in one run; frames may differ (eval batches across photos).
    pub fn classify_planned(
        &mut self,
        items: &[(&RgbImage, &RegionPlan)],
    ) -> Result<Vec<Prediction>, ClassifyError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let n = items.len();
        let per = self.info.sample_len();
        self.input.resize(n * per, 0.0);
        for ((frame, plan), out) in items.iter().zip(self.input.chunks_exact_mut(per)) {
            plan.write(frame, &self.pixel_map, out, &mut self.scratch);
        }
        self.run(n)
    }

    /// Runs the model on the first `n` samples already in the input buffer.
    fn run(&mut self, n: usize) -> Result<Vec<Prediction>, ClassifyError> {
        // ONNX Runtime's messages span lines; the daemon logs one line per failed frame
        let run_err = |message: String| ClassifyError::Run {
            path: self.info.path.clone(),
            message: crate::errtext::one_line(&message),
        };
        let shape = [n, 3, self.info.height, self.info.width];
        let tensor = TensorRef::from_array_view((shape, &self.input[..n * self.info.sample_len()]))
            .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.info.input_name.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let value = outputs
            .get(&self.info.output_name)
            .ok_or_else(|| run_err(format!("no output named {}", self.info.output_name)))?;
        let (oshape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let c = self.info.classes.len();
        if oshape.len() != 2 || oshape[0] as usize != n || oshape[1] as usize != c {
            return Err(run_err(format!(
                "output {} has shape {:?}, expected [{n}, {c}] (one probability per class {})",
                self.info.output_name,
                &oshape[..],
                self.info.classes.join(",")
            )));
        }
        Ok(data
            .chunks_exact(c)
            .map(|p| {
                let class = p
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                Prediction {
                    probabilities: p.to_vec(),
                    class,
                    alert: self.info.alert.contains(&class),
                }
            })
            .collect())
    }
}

/// A graph shape as text, symbolic dimensions (-1) as `?`.
fn shape_text(dims: &[i64]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|&d| if d < 0 { "?".into() } else { d.to_string() })
        .collect();
    format!("[{}]", d.join(", "))
}

/// Checks the metadata against the graph where the graph fixes a dimension: the input's channels,
/// height and width (NCHW, `input_layout`) and the output's class dimension, so that a model whose
/// metadata does not describe its graph is refused at load instead of failing on every frame.
fn check_graph_shapes(
    path: &Path,
    info: &ModelInfo,
    session: &Session,
) -> Result<(), ClassifyError> {
    let bad = |key: &str, value: String, reason: String| ClassifyError::BadMeta {
        path: path.to_path_buf(),
        key: key.into(),
        value,
        reason,
    };
    let input = session
        .inputs()
        .iter()
        .find(|o| o.name() == info.input_name);
    if let Some(dims) = input.and_then(|o| o.dtype().tensor_shape()) {
        let dims: &[i64] = dims;
        if dims.len() != 4 {
            return Err(bad(
                "input_layout",
                "NCHW".into(),
                format!(
                    "the graph's input `{}` has {} dimensions (shape {}), NCHW needs 4",
                    info.input_name,
                    dims.len(),
                    shape_text(dims)
                ),
            ));
        }
        let checks = [
            ("color_order", "RGB".to_string(), 1, 3, "channels"),
            (
                "input_height",
                info.height.to_string(),
                2,
                info.height,
                "height",
            ),
            (
                "input_width",
                info.width.to_string(),
                3,
                info.width,
                "width",
            ),
        ];
        for (key, value, axis, want, what) in checks {
            if dims[axis] >= 0 && dims[axis] != want as i64 {
                return Err(bad(
                    key,
                    value,
                    format!(
                        "the graph's input `{}` has {what} {} (shape {}), not {want}",
                        info.input_name,
                        dims[axis],
                        shape_text(dims)
                    ),
                ));
            }
        }
    }
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == info.output_name);
    if let Some(dims) = output.and_then(|o| o.dtype().tensor_shape()) {
        let dims: &[i64] = dims;
        let classes = info.classes.join(",");
        if dims.len() != 2 {
            return Err(bad(
                "output_name",
                info.output_name.clone(),
                format!(
                    "the graph's output has {} dimensions (shape {}), expected [batch, classes]",
                    dims.len(),
                    shape_text(dims)
                ),
            ));
        }
        let n = info.classes.len() as i64;
        if dims[1] >= 0 && dims[1] != n {
            return Err(bad(
                "classes",
                classes,
                format!(
                    "{n} classes, but the graph's output `{}` has {} (shape {})",
                    info.output_name,
                    dims[1],
                    shape_text(dims)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Rect;

    #[test]
    fn plans_are_kept_per_region_and_frame_size() {
        let mut cache = PlanCache::default();
        let a = Region::Rect(Rect::new(0.1, 0.2, 0.5, 0.9).unwrap());
        let b = Region::Rect(Rect::new(0.1, 0.2, 0.5, 0.8).unwrap());
        let s1 = cache.get(&a, (640, 480), (224, 224)).source_rect();
        for _ in 0..3 {
            assert_eq!(cache.get(&a, (640, 480), (224, 224)).source_rect(), s1);
        }
        assert_eq!(cache.len(), 1);
        let s2 = cache.get(&a, (320, 240), (224, 224)).source_rect();
        // the region ends at x = 160 on the smaller frame (plus the filter's last tap)
        assert!(
            (160..=161).contains(&s2.x1) && s1.x1 >= 320,
            "{s1:?} {s2:?}"
        );
        cache.get(&b, (640, 480), (224, 224));
        assert_eq!(cache.len(), 3);
    }

    fn contract_meta(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("binwatch.schema", "1"),
            ("classes", "empty,partial,full"),
            ("alert_classes", "full"),
            ("input_name", "image"),
            ("output_name", "probabilities"),
            ("input_layout", "NCHW"),
            ("input_width", "224"),
            ("input_height", "224"),
            ("color_order", "RGB"),
            ("pixel_range", "0,1"),
            ("normalization", "in-graph"),
            ("resize", "stretch-triangle"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn quantization_is_read_from_the_metadata_and_informative_only() {
        let read = |m: HashMap<String, String>| {
            ModelInfo::from_metadata(Path::new("m.onnx"), "0".into(), |k| m.get(k).cloned())
                .unwrap()
        };
        let float = read(contract_meta(&[]));
        assert_eq!(float.quantization, None);
        let int8 = read(contract_meta(&[
            ("quantization", "int8-qdq-per-channel"),
            ("quantized_from_sha256", "664c4d14"),
        ]));
        assert_eq!(int8.quantization.as_deref(), Some("int8-qdq-per-channel"));
        // nothing else changes with it
        assert_eq!(
            ModelInfo {
                quantization: None,
                ..int8
            },
            float
        );
    }

    #[test]
    fn plan_cache_is_bounded() {
        let mut cache = PlanCache::default();
        let r = Region::Rect(Rect::FULL);
        for w in 0..PlanCache::MAX + 10 {
            cache.get(&r, (100 + w, 50), (4, 4));
        }
        assert!(cache.len() <= PlanCache::MAX, "{}", cache.len());
    }
}
