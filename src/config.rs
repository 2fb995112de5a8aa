//! The configuration file (TOML): model, cameras, bins with their regions, debounce, sinks, state
//! directory. Deserialised into typed structs with defaults and `deny_unknown_fields`; [`check`] finds
//! every problem at once (syntax, unknown keys, wrong types, and semantic checks such as regions outside
//! 0..1 or a bin naming an unknown camera), each with its line, column, key path and value.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::region::{Quad, Rect, Region};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub cameras: Vec<Camera>,
    #[serde(default)]
    pub bins: Vec<Bin>,
    #[serde(default)]
    pub debounce: Debounce,
    #[serde(default)]
    pub sinks: Vec<Sink>,
    /// Where the outbox and per-bin state live.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// How `binwatch run` itself behaves (metrics address, queue, outbox bounds).
    #[serde(default)]
    pub daemon: DaemonConfig,
}

/// Settings of `binwatch run` that are not about one camera, bin or sink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Host name in event sources (`binwatch://<host>/<camera>`); unset = the machine's host name.
    pub host: Option<String>,
    /// Address of `/metrics` and `/healthz`; empty = no HTTP server.
    pub metrics_listen: String,
    /// Frames waiting for inference; when full, a camera's newest frame is dropped and counted.
    pub queue: usize,
    /// Most events waiting in each sink's outbox before non-essential ones are dropped.
    pub outbox_max_entries: usize,
    /// Most megabytes in each sink's outbox before evidence images are stripped, oldest first.
    pub outbox_max_mb: f64,
    /// Seconds a shutdown waits for deliveries in progress.
    pub shutdown_grace_s: f64,
    /// Longest side of the evidence crop JPEG in pixels.
    pub evidence_max_side: u32,
    /// Also attach the whole frame as JPEG to bin events.
    pub evidence_frame: bool,
    /// Reuse a bin's last prediction while its region's thumbnail signature stays within
    /// `skip_threshold` of the one at its last inference and that inference is younger than
    /// `skip_max_age_s`.
    pub skip_unchanged: bool,
    /// Largest signature distance (mean absolute difference of the normalised 16x16 thumbnails) that
    /// counts as unchanged.
    pub skip_threshold: f64,
    /// Seconds after which a bin runs the model again even if its region did not change.
    pub skip_max_age_s: f64,
    /// Decode JPEG frames at the smallest DCT scale (n/8) that leaves every region that needs inference at
    /// least `decode_scale_ratio` times the model's input size along each axis; false = full size.
    pub scaled_decode: bool,
    /// See `scaled_decode` (>= 1).
    pub decode_scale_ratio: f64,
}

/// The range of `bins.margin` (and of the `--margin` flags), in fractions of the region per side.
pub const MARGIN_RANGE: std::ops::RangeInclusive<f64> = 0.0..=5.0;
/// The range of `model.threads` (and of the `--threads` flags).
pub const THREADS_RANGE: std::ops::RangeInclusive<usize> = 1..=64;

/// The message for a margin outside [`MARGIN_RANGE`] (config check and command line alike).
pub fn margin_bound_message() -> String {
    format!(
        "margin must be in {}..={}",
        MARGIN_RANGE.start(),
        MARGIN_RANGE.end()
    )
}

/// The message for a thread count outside [`THREADS_RANGE`].
pub fn threads_bound_message() -> String {
    format!(
        "threads must be in {}..={}",
        THREADS_RANGE.start(),
        THREADS_RANGE.end()
    )
}

/// A `--margin` value: a number in [`MARGIN_RANGE`] (clap value parser).
pub fn parse_margin(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(m) if m.is_finite() && MARGIN_RANGE.contains(&m) => Ok(m),
        Ok(_) => Err(margin_bound_message()),
        Err(_) => Err(format!("not a number; {}", margin_bound_message())),
    }
}

/// A `--threads` value: a count in [`THREADS_RANGE`] (clap value parser).
pub fn parse_threads(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if THREADS_RANGE.contains(&n) => Ok(n),
        Ok(_) => Err(threads_bound_message()),
        Err(_) => Err(format!("not a whole number; {}", threads_bound_message())),
    }
}

/// Default `daemon.skip_threshold`.
pub const DEFAULT_SKIP_THRESHOLD: f64 = 0.1;
/// Default `daemon.skip_max_age_s`.
pub const DEFAULT_SKIP_MAX_AGE_S: f64 = 300.0;

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            host: None,
            metrics_listen: "127.0.0.1:9816".into(),
            queue: 4,
            outbox_max_entries: 10_000,
            outbox_max_mb: 256.0,
            shutdown_grace_s: 10.0,
            evidence_max_side: 640,
            evidence_frame: false,
            skip_unchanged: true,
            skip_threshold: DEFAULT_SKIP_THRESHOLD,
            skip_max_age_s: DEFAULT_SKIP_MAX_AGE_S,
            scaled_decode: true,
            decode_scale_ratio: crate::pipeline::DEFAULT_SCALE_RATIO,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/binwatch")
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The ONNX model; relative paths are relative to the config file's folder.
    pub path: PathBuf,
    /// libonnxruntime.so 1.31.x; unset = env ORT_DYLIB_PATH, beside the executable, or `.ort/` of a checkout.
    pub onnxruntime: Option<PathBuf>,
    /// Intra-op threads.
    pub threads: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: PathBuf::from("models/bin-fill.onnx"),
            onnxruntime: None,
            threads: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    pub name: String,
    pub source: Source,
    /// Seconds between frames.
    #[serde(default = "default_interval")]
    pub interval_s: f64,
    /// Seconds between comparisons of a live frame with the camera's calibration reference
    /// (`binwatch calibrate snapshot`); a failed check raises `camera.moved`. 0 = never.
    #[serde(default = "default_check")]
    pub check_s: f64,
}

fn default_interval() -> f64 {
    60.0
}

fn default_check() -> f64 {
    600.0
}

/// Where a camera's frames come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// Replays image files from a folder (in name order).
    Folder {
        path: PathBuf,
        /// Start again from the first file after the last one (false: the camera ends).
        #[serde(default, rename = "loop")]
        repeat: bool,
    },
    /// Fetches a JPEG snapshot URL.
    Http {
        url: String,
        #[serde(default = "default_timeout")]
        timeout_s: f64,
        username: Option<String>,
        /// Name of the environment variable holding the password.
        password_env: Option<String>,
        /// HTTP authentication scheme used with `username`: `basic` or `digest`.
        #[serde(default)]
        auth: HttpAuth,
    },
    /// Captures from a Video4Linux2 device.
    V4l2 {
        device: PathBuf,
        width: Option<u32>,
        height: Option<u32>,
    },
}

fn default_timeout() -> f64 {
    10.0
}

/// HTTP authentication scheme of a snapshot URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpAuth {
    #[default]
    Basic,
    Digest,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bin {
    pub id: String,
    pub camera: String,
    /// `[x0, y0, x1, y1]` in 0..1.
    pub region: Option<[f64; 4]>,
    /// Four `[x, y]` points in 0..1, clockwise from top-left.
    pub quad: Option<[[f64; 2]; 4]>,
    /// Context margin; unset = the model's `default_margin`.
    pub margin: Option<f64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
}

impl Bin {
    /// The checked region (exactly one of `region` and `quad` must be set; [`check`] reports it otherwise).
    pub fn region(&self) -> Option<Region> {
        match (self.region, self.quad) {
            (Some(r), None) => Rect::from_array(r).ok().map(Region::Rect),
            (None, Some(q)) => Quad::new(q).ok().map(Region::Quad),
            _ => None,
        }
    }
}

/// Turning per-frame probabilities into state changes of a bin.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Debounce {
    /// A frame counts as "full" when the alert classes' probability reaches this.
    pub alert_threshold: f64,
    /// A frame counts as "clear" when the alert probability is at most this (hysteresis; below alert_threshold).
    pub clear_threshold: f64,
    /// Seconds of "full" frames before the bin is reported overflowing.
    pub confirm_s: f64,
    /// Seconds of "clear" frames before the bin is reported clean again.
    pub clear_s: f64,
    /// At least this many consecutive frames agree before any change.
    pub min_frames: u32,
    /// Frames whose most probable class is below this probability are held (neither confirm nor clear).
    pub min_confidence: f64,
    /// Longest gap between usable frames that still counts as one run; unset = 3 camera intervals (>= 30 s).
    pub max_gap_s: Option<f64>,
    /// Re-notify an unresolved overflow this often, in seconds; 0 = never.
    pub renotify_s: f64,
    /// Seconds of score history carried by each event.
    pub history_s: f64,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            alert_threshold: 0.7,
            clear_threshold: 0.4,
            confirm_s: 300.0,
            clear_s: 600.0,
            min_frames: 3,
            min_confidence: 0.5,
            max_gap_s: None,
            renotify_s: 7200.0,
            history_s: 900.0,
        }
    }
}

/// Where events go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Sink {
    /// Standard Webhooks-signed POST of CloudEvents JSON.
    Webhook {
        url: String,
        /// File holding the `whsec_...` secret.
        secret_file: Option<PathBuf>,
        /// Environment variable holding the secret.
        secret_env: Option<String>,
        /// Name of a systemd credential holding the secret (`LoadCredential=`), read from
        /// `$CREDENTIALS_DIRECTORY/<name>`.
        secret_credential: Option<String>,
        #[serde(default = "default_timeout")]
        timeout_s: f64,
        /// Names the sink's outbox folder and its log lines; unset = `webhook` (`webhook-<n>` from the 2nd on).
        name: Option<String>,
        /// First retry delay in seconds; later ones double (with jitter) up to `retry_max_s`.
        #[serde(default = "default_retry_initial")]
        retry_initial_s: f64,
        #[serde(default = "default_retry_max")]
        retry_max_s: f64,
    },
}

fn default_retry_initial() -> f64 {
    5.0
}

fn default_retry_max() -> f64 {
    3600.0
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// Key path, e.g. `bins[1].region`; empty for syntax errors outside any key.
    pub key: String,
    /// The value as written in the file, if any.
    pub value: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`", self.key)?;
            if let Some(v) = &self.value {
                write!(f, " = {v}")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path} has {} problem(s):\n{}", .problems.len(), .problems.iter().map(|p| format!("  {}:{p}", .path.display())).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Reads and checks a config file; any problem is an error listing all of them.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        match check(&text, base) {
            (Some(c), p) if p.is_empty() => Ok(c),
            (_, problems) => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }),
        }
    }

    /// The model path, relative paths taken from `base` (the config file's folder).
    pub fn model_path(&self, base: &Path) -> PathBuf {
        base.join(&self.model.path)
    }
}

/// The fields a derived struct declares (serde passes them to `deserialize_struct`).
fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    use serde::de::{self, Visitor};
    #[derive(Debug)]
    struct Stop(Option<&'static [&'static str]>);
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop(None)
        }
    }
    struct Probe;
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop(None))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            Err(Stop(Some(fields)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Stop(f)) => f,
        Ok(_) => None,
    }
}

struct Checker<'a> {
    src: &'a str,
    problems: Vec<Problem>,
    /// Value span of every key path.
    spans: HashMap<String, Range<usize>>,
}

impl<'a> Checker<'a> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    fn push(
        &mut self,
        span: Range<usize>,
        key: &str,
        with_value: bool,
        message: impl Into<String>,
    ) {
        let (line, column) = self.line_col(span.start);
        let value = with_value
            .then(|| self.src.get(span.clone()).map(|v| v.trim().to_string()))
            .flatten()
            .filter(|v| !v.is_empty() && v.len() <= 200 && !v.starts_with('['));
        let value = value.or_else(|| {
            // arrays and inline tables: show them on one line
            with_value
                .then(|| self.src.get(span.clone()))
                .flatten()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|v| !v.is_empty() && v.len() <= 200 && !v.starts_with("[["))
        });
        self.problems.push(Problem {
            line,
            column,
            key: key.to_string(),
            value,
            message: message.into(),
        });
    }

    /// A semantic problem at a key path (its value span when known).
    fn at(&mut self, key: &str, message: impl Into<String>) {
        let span = self.spans.get(key).cloned().unwrap_or(0..0);
        let has = self.spans.contains_key(key);
        self.push(span, key, has, message);
    }

    fn record_spans(&mut self, path: &str, v: &Spanned<DeValue<'_>>) {
        self.spans.insert(path.to_string(), v.span());
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, val) in t.iter() {
                    let p = join(path, k.get_ref());
                    self.record_spans(&p, val);
                }
            }
            DeValue::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    self.record_spans(&format!("{path}[{i}]"), val);
                }
            }
            _ => {}
        }
    }

    /// Deserialises one value into `T`, reporting unknown keys and every wrong-typed key (not only the
    /// first): a bad key is reported, removed, and the rest deserialised again.
    fn typed<T: DeserializeOwned>(
        &mut self,
        path: &str,
        value: &Spanned<DeValue<'a>>,
    ) -> Option<T> {
        let mut value = value.clone();
        let mut removed: Vec<String> = Vec::new();
        if let (Some(fields), DeValue::Table(t)) = (struct_fields::<T>(), value.get_mut()) {
            let unknown: Vec<(String, Range<usize>)> = t
                .keys()
                .filter(|k| !fields.contains(&k.get_ref().as_ref()))
                .map(|k| (k.get_ref().to_string(), k.span()))
                .collect();
            for (k, span) in unknown {
                let hint = closest(&k, fields)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.push(
                    span,
                    &join(path, &k),
                    false,
                    format!("unknown key{hint}; known keys: {}", fields.join(", ")),
                );
                t.remove(k.as_str());
                removed.push(k);
            }
        }
        let mut type_errors: Vec<String> = Vec::new();
        for _ in 0..64 {
            let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
                Ok(v) => return type_errors.is_empty().then_some(v),
                Err(e) => e,
            };
            let span = err.span().unwrap_or_else(|| value.span());
            let message = err.message().trim().to_string();
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
                && type_errors.iter().any(|k| k == field)
            {
                return None;
            }
            // An unknown key that the up-front check could not see (a variant of a tagged enum, such as
            // a sink's kind): place it at its own key, with a suggestion, like the others.
            if let Some((field, tail)) = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split_once('`'))
                && let DeValue::Table(t) = value.get_mut()
                && let Some(kspan) = t.keys().find(|k| k.get_ref() == field).map(|k| k.span())
            {
                let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
                let hint = closest(field, &expected)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.push(
                    kspan,
                    &join(path, field),
                    false,
                    format!("unknown key{hint}; known keys: {}", expected.join(", ")),
                );
                t.remove(field);
                type_errors.push(field.to_string());
                continue;
            }
            // The innermost key whose value holds the error names it best.
            let inner = self
                .spans
                .iter()
                .filter(|(k, s)| {
                    (k.starts_with(&format!("{path}."))
                        || k.starts_with(&format!("{path}["))
                        || path.is_empty())
                        && s.start <= span.start
                        && span.end <= s.end
                })
                .min_by_key(|(_, s)| s.end - s.start)
                .map(|(k, s)| (k.clone(), s.clone()));
            // The key of this table to drop before trying again.
            let own = match value.get_ref() {
                DeValue::Table(t) => t
                    .iter()
                    .find(|(k, v)| {
                        (v.span().start <= span.start && span.end <= v.span().end)
                            || (k.span().start <= span.start && span.end <= k.span().end)
                    })
                    .map(|(k, _)| k.get_ref().to_string()),
                _ => None,
            };
            match (inner, own) {
                (Some((key, s)), Some(own)) => {
                    self.push(s, &key, true, message);
                    if let DeValue::Table(t) = value.get_mut() {
                        t.remove(own.as_str());
                    }
                    type_errors.push(own);
                }
                (inner, _) => {
                    let (key, s) = inner.unwrap_or_else(|| (path.to_string(), value.span()));
                    self.push(s, &key, true, message);
                    return None;
                }
            }
        }
        None
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The known name closest to a typo (edit distance at most 3).
fn closest<'f>(word: &str, known: &[&'f str]) -> Option<&'f str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + (ca != *cb) as usize)
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (dist(word, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

/// Checks a config file's text; returns the config if it could be built, and every problem found.
/// `base` is the folder relative paths (the model file) are resolved from.
pub fn check(src: &str, base: &Path) -> (Option<Config>, Vec<Problem>) {
    let mut c = Checker {
        src,
        problems: Vec::new(),
        spans: HashMap::new(),
    };
    let (doc, errors) = DeTable::parse_recoverable(src);
    if !errors.is_empty() {
        for e in &errors {
            let span = e.span().unwrap_or(0..0);
            c.push(
                span,
                "",
                false,
                format!("TOML syntax: {}", e.message().trim()),
            );
        }
        return (None, c.problems);
    }
    let root = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
    c.record_spans("", &root);
    let DeValue::Table(table) = root.get_ref() else {
        unreachable!("a document is a table")
    };
    let fields = struct_fields::<Config>().unwrap_or(&[]);
    for k in table.keys() {
        if !fields.contains(&k.get_ref().as_ref()) {
            let hint = closest(k.get_ref(), fields)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            c.push(
                k.span(),
                k.get_ref(),
                false,
                format!("unknown key{hint}; known keys: {}", fields.join(", ")),
            );
        }
    }
    let model = match table.get("model") {
        Some(v) => c.typed::<ModelConfig>("model", v),
        None => Some(ModelConfig::default()),
    };
    let debounce = match table.get("debounce") {
        Some(v) => c.typed::<Debounce>("debounce", v),
        None => Some(Debounce::default()),
    };
    let state_dir = match table.get("state_dir") {
        Some(v) => c.typed::<PathBuf>("state_dir", v),
        None => Some(default_state_dir()),
    };
    let daemon = match table.get("daemon") {
        Some(v) => c.typed::<DaemonConfig>("daemon", v),
        None => Some(DaemonConfig::default()),
    };
    let cameras = list::<Camera>(&mut c, table, "cameras");
    let bins = list::<Bin>(&mut c, table, "bins");
    let sinks = list::<Sink>(&mut c, table, "sinks");

    let cfg = Config {
        model: model.clone().unwrap_or_default(),
        cameras: cameras.iter().flatten().cloned().collect(),
        bins: bins.iter().flatten().cloned().collect(),
        debounce: debounce.clone().unwrap_or_default(),
        sinks: sinks.iter().flatten().cloned().collect(),
        state_dir: state_dir.unwrap_or_else(default_state_dir),
        daemon: daemon.clone().unwrap_or_default(),
    };
    let raw_names = |list: &str, key: &str| -> Vec<Option<String>> {
        match table.get(list).map(|v| v.get_ref()) {
            Some(DeValue::Array(a)) => a
                .iter()
                .map(|e| {
                    e.get_ref()
                        .get(key)
                        .and_then(|n| n.get_ref().as_str())
                        .map(str::to_string)
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let seen = Seen {
        cameras: raw_names("cameras", "name"),
        bins: raw_names("bins", "id"),
        model_ok: model.is_some(),
        debounce_ok: debounce.is_some(),
        daemon_ok: daemon.is_some(),
    };
    semantic(&mut c, &cfg, (&cameras, &bins, &sinks), &seen, base);
    let mut problems = c.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    (problems.is_empty().then_some(cfg), problems)
}

/// A problem found outside [`check`] (loading the model, reading a secret), placed at `key` of the file
/// `src` like `check`'s own: the key's line, column and value when the file has it, else line 1.
pub fn problem_at(src: &str, key: &str, message: impl Into<String>) -> Problem {
    let mut c = Checker {
        src,
        problems: Vec::new(),
        spans: HashMap::new(),
    };
    let (doc, errors) = DeTable::parse_recoverable(src);
    if errors.is_empty() {
        let root = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
        c.record_spans("", &root);
    }
    c.at(key, message);
    c.problems.pop().expect("at() adds one problem")
}

/// What was read from the file beyond the typed config: camera names and bin ids as written, entry by
/// entry (`None` where missing or not a string), and which single-table sections deserialised cleanly.
struct Seen {
    cameras: Vec<Option<String>>,
    bins: Vec<Option<String>>,
    model_ok: bool,
    debounce_ok: bool,
    daemon_ok: bool,
}

/// An array of tables, each element deserialised on its own so one bad entry does not hide the others.
fn list<'a, T: DeserializeOwned>(
    c: &mut Checker<'a>,
    table: &DeTable<'a>,
    key: &str,
) -> Vec<Option<T>> {
    let Some(v) = table.get(key) else {
        return Vec::new();
    };
    match v.get_ref() {
        DeValue::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, e)| c.typed::<T>(&format!("{key}[{i}]"), e))
            .collect(),
        other => {
            c.push(
                v.span(),
                key,
                true,
                format!(
                    "expected an array of tables ([[{key}]]), found a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

/// The list entries that deserialised (`None` where one had a problem), in file order.
type Entries<'e> = (&'e [Option<Camera>], &'e [Option<Bin>], &'e [Option<Sink>]);

fn semantic(
    c: &mut Checker<'_>,
    cfg: &Config,
    (cameras, bins, sinks): Entries<'_>,
    seen: &Seen,
    base: &Path,
) {
    // model
    if seen.model_ok {
        if !THREADS_RANGE.contains(&cfg.model.threads) {
            c.at("model.threads", threads_bound_message());
        }
        let model = base.join(&cfg.model.path);
        if !model.is_file() {
            c.at(
                "model.path",
                format!("model file {} does not exist", model.display()),
            );
        }
        if let Some(lib) = &cfg.model.onnxruntime {
            let lib = base.join(lib);
            if !lib.is_file() {
                c.at(
                    "model.onnxruntime",
                    format!(
                        "{} does not exist; run .ci/setup or fix the path",
                        lib.display()
                    ),
                );
            }
        }
    }
    // names and ids, from the raw file so that an entry with another problem still counts
    let mut names = HashSet::new();
    for (i, name) in seen.cameras.iter().enumerate() {
        let Some(name) = name else { continue };
        if name.trim().is_empty() {
            c.at(&format!("cameras[{i}].name"), "camera name is empty");
        } else if !names.insert(name.as_str()) {
            c.at(
                &format!("cameras[{i}].name"),
                format!("duplicate camera name `{name}`"),
            );
        }
    }
    let mut bin_ids = HashSet::new();
    for (i, id) in seen.bins.iter().enumerate() {
        let Some(id) = id else { continue };
        if id.trim().is_empty() {
            c.at(&format!("bins[{i}].id"), "bin id is empty");
        } else if !bin_ids.insert(id.as_str()) {
            c.at(&format!("bins[{i}].id"), format!("duplicate bin id `{id}`"));
        }
    }
    // cameras
    for (i, cam) in cameras.iter().enumerate() {
        let Some(cam) = cam else { continue };
        let p = format!("cameras[{i}]");
        if !(cam.interval_s.is_finite() && cam.interval_s > 0.0) {
            c.at(
                &format!("{p}.interval_s"),
                format!("camera `{}`: interval must be > 0 seconds", cam.name),
            );
        }
        if !(cam.check_s.is_finite() && cam.check_s >= 0.0) {
            c.at(
                &format!("{p}.check_s"),
                format!(
                    "camera `{}`: check interval must be >= 0 seconds (0 = never)",
                    cam.name
                ),
            );
        }
        match &cam.source {
            Source::Folder { path, .. } if path.as_os_str().is_empty() => c.at(
                &format!("{p}.source.path"),
                format!("camera `{}`: folder path is empty", cam.name),
            ),
            Source::Http { url, timeout_s, .. } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    c.at(
                        &format!("{p}.source.url"),
                        format!(
                            "camera `{}`: URL must start with http:// or https://",
                            cam.name
                        ),
                    );
                }
                if !(timeout_s.is_finite() && *timeout_s > 0.0) {
                    c.at(
                        &format!("{p}.source.timeout_s"),
                        format!("camera `{}`: timeout must be > 0 seconds", cam.name),
                    );
                }
            }
            Source::V4l2 { width, height, .. } if width.is_some() != height.is_some() => c.at(
                &format!("{p}.source"),
                format!(
                    "camera `{}`: give both width and height, or neither",
                    cam.name
                ),
            ),
            _ => {}
        }
    }
    // bins
    for (i, bin) in bins.iter().enumerate() {
        let Some(bin) = bin else { continue };
        let p = format!("bins[{i}]");
        if !names.contains(bin.camera.as_str()) {
            let mut known: Vec<&str> = names.iter().copied().collect();
            known.sort_unstable();
            c.at(
                &format!("{p}.camera"),
                format!(
                    "bin `{}`: unknown camera `{}`; cameras: {}",
                    bin.id,
                    bin.camera,
                    if known.is_empty() {
                        "(none)".into()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        match (bin.region, bin.quad) {
            (Some(r), None) => {
                if let Err(e) = Rect::from_array(r) {
                    c.at(&format!("{p}.region"), format!("bin `{}`: {e}", bin.id));
                }
            }
            (None, Some(q)) => {
                if let Err(e) = Quad::new(q) {
                    c.at(&format!("{p}.quad"), format!("bin `{}`: {e}", bin.id));
                }
            }
            (Some(_), Some(_)) => c.at(
                &format!("{p}.quad"),
                format!("bin `{}`: give either region or quad, not both", bin.id),
            ),
            (None, None) => c.at(
                &p,
                format!(
                    "bin `{}`: needs a region = [x0, y0, x1, y1] or a quad = [[x, y] x 4]",
                    bin.id
                ),
            ),
        }
        if let Some(m) = bin.margin
            && !(m.is_finite() && MARGIN_RANGE.contains(&m))
        {
            c.at(
                &format!("{p}.margin"),
                format!("bin `{}`: {}", bin.id, margin_bound_message()),
            );
        }
        if let Some(lat) = bin.lat
            && !(-90.0..=90.0).contains(&lat)
        {
            c.at(
                &format!("{p}.lat"),
                format!("bin `{}`: latitude must be in -90..=90", bin.id),
            );
        }
        if let Some(lon) = bin.lon
            && !(-180.0..=180.0).contains(&lon)
        {
            c.at(
                &format!("{p}.lon"),
                format!("bin `{}`: longitude must be in -180..=180", bin.id),
            );
        }
        if bin.lat.is_some() != bin.lon.is_some() {
            c.at(
                &p,
                format!("bin `{}`: give both lat and lon, or neither", bin.id),
            );
        }
    }
    // debounce
    if seen.debounce_ok {
        let d = &cfg.debounce;
        for (k, v) in [
            ("alert_threshold", d.alert_threshold),
            ("clear_threshold", d.clear_threshold),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                c.at(
                    &format!("debounce.{k}"),
                    "a probability threshold must be in 0..=1",
                );
            }
        }
        if d.clear_threshold >= d.alert_threshold {
            c.at(
                "debounce.clear_threshold",
                format!("must be below alert_threshold ({})", d.alert_threshold),
            );
        }
        for (k, v) in [("confirm_s", d.confirm_s), ("clear_s", d.clear_s)] {
            if !(v.is_finite() && v >= 0.0) {
                c.at(&format!("debounce.{k}"), "a duration must be >= 0 seconds");
            }
        }
        if d.min_frames == 0 {
            c.at("debounce.min_frames", "must be at least 1");
        }
        if !(d.min_confidence.is_finite() && (0.0..=1.0).contains(&d.min_confidence)) {
            c.at("debounce.min_confidence", "a probability must be in 0..=1");
        }
        for (k, v) in [
            ("max_gap_s", d.max_gap_s.unwrap_or(1.0)),
            ("history_s", d.history_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                c.at(&format!("debounce.{k}"), "a duration must be > 0 seconds");
            }
        }
        if !(d.renotify_s.is_finite() && d.renotify_s >= 0.0) {
            c.at(
                "debounce.renotify_s",
                "a duration must be >= 0 seconds (0 = never)",
            );
        }
    }
    // sinks
    for (i, sink) in sinks.iter().enumerate() {
        let Some(Sink::Webhook {
            url,
            secret_file,
            secret_env,
            secret_credential,
            timeout_s,
            name,
            retry_initial_s,
            retry_max_s,
        }) = sink
        else {
            continue;
        };
        let p = format!("sinks[{i}]");
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            c.at(
                &format!("{p}.url"),
                "webhook URL must start with http:// or https://",
            );
        }
        let sources = [
            secret_file.is_some(),
            secret_env.is_some(),
            secret_credential.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            c.at(
                &p,
                "give one of secret_file, secret_env and secret_credential",
            );
        }
        if !(timeout_s.is_finite() && *timeout_s > 0.0) {
            c.at(&format!("{p}.timeout_s"), "timeout must be > 0 seconds");
        }
        if !sources.contains(&true) {
            c.at(&p, "a webhook needs secret_file, secret_env or secret_credential (the secret itself never goes in the config)");
        }
        if let Some(n) = name
            && (n.is_empty()
                || !n
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
        {
            c.at(&format!("{p}.name"), "a sink name must be non-empty and use only letters, digits, - and _ (it names a folder)");
        }
        if !(retry_initial_s.is_finite() && *retry_initial_s > 0.0) {
            c.at(
                &format!("{p}.retry_initial_s"),
                "a duration must be > 0 seconds",
            );
        }
        if !(retry_max_s.is_finite() && *retry_max_s >= *retry_initial_s) {
            c.at(&format!("{p}.retry_max_s"), "must be >= retry_initial_s");
        }
    }
    // daemon
    if seen.daemon_ok {
        let d = &cfg.daemon;
        if !d.metrics_listen.is_empty() && d.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            c.at(
                "daemon.metrics_listen",
                "expected an address like 127.0.0.1:9816 (or \"\" for none)",
            );
        }
        if d.queue == 0 {
            c.at("daemon.queue", "must be at least 1");
        }
        if d.outbox_max_entries == 0 {
            c.at("daemon.outbox_max_entries", "must be at least 1");
        }
        for (k, v) in [
            ("outbox_max_mb", d.outbox_max_mb),
            ("shutdown_grace_s", d.shutdown_grace_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                c.at(&format!("daemon.{k}"), "must be > 0");
            }
        }
        if !(d.skip_threshold.is_finite() && d.skip_threshold > 0.0 && d.skip_threshold <= 2.0) {
            c.at(
                "daemon.skip_threshold",
                "must be a number in 0..=2 and above 0 (a signature distance; 0.1 is the default)",
            );
        }
        if !(d.skip_max_age_s.is_finite() && d.skip_max_age_s > 0.0) {
            c.at("daemon.skip_max_age_s", "must be > 0 seconds");
        }
        if !(d.decode_scale_ratio.is_finite() && (1.0..=64.0).contains(&d.decode_scale_ratio)) {
            c.at(
                "daemon.decode_scale_ratio",
                "must be a number in 1..=64 (times the model's input size)",
            );
        }
        if d.evidence_max_side < 16 {
            c.at("daemon.evidence_max_side", "must be at least 16 pixels");
        }
        if let Some(h) = &d.host
            && h.trim().is_empty()
        {
            c.at("daemon.host", "host name is empty");
        }
    }
}
