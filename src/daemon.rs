//! `binwatch run`: the wiring from camera frames to delivered work orders.
//!
//! ```text
//! camera task (one per camera, own schedule) --decode--> bounded queue (drop newest when full)
//!   -> pipeline thread: one batched classifier run per frame, per-bin debouncer, event + evidence
//!   -> outbox of every sink (fsync'd)  -> delivery task per sink (retries, backoff)
//! ```
//!
//! Signals: SIGTERM/SIGINT stop the sources, let queued frames and deliveries in progress finish
//! (up to `daemon.shutdown_grace_s`), keep the outbox, send `STOPPING=1`; a second signal exits at
//! once. SIGHUP reloads the config: a bad new config is logged and the old one keeps running;
//! debouncer state survives a reload for bins whose settings did not change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::RgbImage;
use thiserror::Error;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::binstate;
use crate::calibrate::watch::{CameraWatch, WatchOutcome};
use crate::classify::{Classifier, ClassifyError, Options as ClassifyOptions};
use crate::config::{self, Config, ConfigError};
use crate::debounce::{BinState, Classes, DebounceConfig, DebounceError, Debouncer};
use crate::event::{
    BinContext, CameraCheck, CameraData, Event, Evidence, Location, ModelInfo, new_event_id,
};
use crate::memory;
use crate::metrics::{BinStats, Metrics, ModelLabels};
use crate::notify;
use crate::outbox::{Outbox, OutboxError, OutboxLimits, Recorded};
use crate::pipeline::{
    CameraBins, FrameData, FramePipeline, FrameReport, PipelineError, PipelineOptions,
};
use crate::region::Region;
use crate::sink::webhook::{WebhookConfig, WebhookError, WebhookSecret, WebhookSink};
use crate::sink::{RetryPolicy, Sink, SplitMix64};
use crate::skip::SkipRule;
use crate::source::{self, FrameSource, Grab, Payload};
use crate::timestamp::Timestamp;

/// Consecutive failed grabs after which a camera is reported offline.
pub const OFFLINE_AFTER: u32 = 3;
/// Longest wait between retries of a lost camera.
pub const MAX_CAMERA_BACKOFF: Duration = Duration::from_secs(300);
/// How long the inference thread waits with an empty queue before it returns freed heap to the OS.
pub const IDLE_RELEASE: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] ClassifyError),
    #[error(transparent)]
    Debounce(#[from] DebounceError),
    #[error("sink {sink}: {source}")]
    Sink {
        sink: String,
        #[source]
        source: WebhookError,
    },
    #[error("sink {sink}: {source}")]
    Secret {
        sink: String,
        #[source]
        source: SecretError,
    },
    #[error("sink {sink}: outbox {dir}: {source}")]
    Outbox {
        sink: String,
        dir: PathBuf,
        #[source]
        source: OutboxError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the pipeline thread ended before reporting the model")]
    PipelineGone,
}

/// How `binwatch run` was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// Overrides the config's `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// Stop once every camera has ended (folder replay with `loop = false`), every queued frame
    /// is classified and every outbox is empty.
    pub exit_when_done: bool,
}

/// The outbox folder of one sink.
pub fn outbox_dir(state_dir: &Path, sink: &str) -> PathBuf {
    state_dir.join("outbox").join(sink)
}

/// Sink names in config order: the `name` key, else `webhook`, `webhook-2`, ...
pub fn sink_names(cfg: &Config) -> Vec<String> {
    cfg.sinks
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            config::Sink::Webhook { name: Some(n), .. } => n.clone(),
            config::Sink::Webhook { .. } if i == 0 => "webhook".to_string(),
            config::Sink::Webhook { .. } => format!("webhook-{}", i + 1),
        })
        .collect()
}

/// The state folder: `--state-dir`, else the config's (relative to the config file).
pub fn state_dir(cfg: &Config, base: &Path, overridden: Option<&Path>) -> PathBuf {
    match overridden {
        Some(p) => p.to_path_buf(),
        None => base.join(&cfg.state_dir),
    }
}

fn config_base(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn host_name(cfg: &Config) -> String {
    cfg.daemon.host.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// The debouncer settings of a bin watched by `camera`.
pub fn debounce_config(d: &config::Debounce, camera_interval_s: f64) -> DebounceConfig {
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.001));
    DebounceConfig {
        enter_threshold: d.alert_threshold as f32,
        exit_threshold: d.clear_threshold as f32,
        confirm_for: secs(d.confirm_s),
        clear_for: secs(d.clear_s),
        renotify_every: (d.renotify_s > 0.0).then(|| secs(d.renotify_s)),
        min_confidence: d.min_confidence as f32,
        max_gap: secs(d.max_gap_s.unwrap_or((3.0 * camera_interval_s).max(30.0))),
        history_window: secs(d.history_s),
        history_max_samples: 600,
        min_frames: d.min_frames,
    }
}

/// Pushes an event to every sink's outbox (fsync'd before this returns) and wakes the senders.
type SinkOutbox = (String, Arc<Mutex<Outbox>>, Arc<Notify>);

#[derive(Clone)]
struct Outboxes {
    sinks: Arc<Vec<SinkOutbox>>,
    metrics: Arc<Metrics>,
}

impl Outboxes {
    fn push(&self, event: &Event) {
        let now = Timestamp::now();
        for (name, outbox, wake) in self.sinks.iter() {
            let mut ob = outbox.lock().unwrap_or_else(|p| p.into_inner());
            match ob.push(event.clone(), now) {
                Ok(r) => {
                    if !r.stripped.is_empty() || !r.dropped.is_empty() {
                        tracing::warn!(sink = %name, stripped = ?r.stripped, dropped = ?r.dropped, "outbox over its bound");
                    }
                }
                Err(e) => {
                    tracing::error!(sink = %name, event = %event.id, error = %e, "event could not be stored")
                }
            }
            let (depth, bytes) = (ob.len(), ob.total_bytes());
            drop(ob);
            self.metrics.set_outbox(name, |o| {
                o.depth = depth;
                o.bytes = bytes;
            });
            wake.notify_one();
        }
        self.metrics.event(event.ty.short());
    }
}

/// A frame on its way to the pipeline thread: still encoded (the pipeline decodes only what it needs).
struct Job {
    camera: String,
    time: Timestamp,
    origin: String,
    payload: Payload,
}

/// One bin as the pipeline needs it.
struct BinSpec {
    id: String,
    camera: String,
    region: Region,
    location: Location,
    /// Identifies the settings; a reload keeps the debouncer only if this is unchanged.
    key: String,
}

type Carry = HashMap<String, (String, Debouncer)>;

/// The pipeline thread: frame pipeline, debouncers, events. Returns the debouncers when the queue closes.
struct Pipeline {
    bins_by_camera: HashMap<String, Vec<BinSpec>>,
    /// Per camera, its bins' regions (with margins) and skip state, in `bins_by_camera` order.
    camera_bins: HashMap<String, CameraBins>,
    debouncers: Carry,
    frames: FramePipeline,
    report: FrameReport,
    model: ModelInfo,
    class_names: Vec<String>,
    host: String,
    outboxes: Outboxes,
    metrics: Arc<Metrics>,
    evidence_max_side: u32,
    evidence_frame: bool,
    /// Where `binstate` keeps the bins' open episodes.
    state_dir: PathBuf,
}

fn state_label(s: &BinState) -> &'static str {
    match s {
        BinState::Clear {
            pending_since: None,
        } => "clear",
        BinState::Clear { .. } => "pending",
        BinState::Overflowing {
            clearing_since: None,
            ..
        } => "overflowing",
        BinState::Overflowing { .. } => "clearing",
    }
}

/// JPEG of the region's bounding box (at most `max_side` pixels on the long side).
pub fn crop_jpeg(frame: &RgbImage, region: &Region, max_side: u32) -> Option<Vec<u8>> {
    let [x0, y0, x1, y1] = match region {
        Region::Rect(r) => r.to_array(),
        Region::Quad(q) => q.bounds(),
    };
    let (w, h) = (frame.width() as f64, frame.height() as f64);
    let px0 = (x0 * w).floor().clamp(0.0, w - 1.0) as u32;
    let py0 = (y0 * h).floor().clamp(0.0, h - 1.0) as u32;
    let px1 = ((x1 * w).ceil() as u32).clamp(px0 + 1, frame.width());
    let py1 = ((y1 * h).ceil() as u32).clamp(py0 + 1, frame.height());
    let crop = image::imageops::crop_imm(frame, px0, py0, px1 - px0, py1 - py0).to_image();
    jpeg(&crop, max_side)
}

fn jpeg(img: &RgbImage, max_side: u32) -> Option<Vec<u8>> {
    let img = if img.width().max(img.height()) > max_side {
        let s = max_side as f64 / img.width().max(img.height()) as f64;
        let (w, h) = (
            ((img.width() as f64 * s).round() as u32).max(1),
            ((img.height() as f64 * s).round() as u32).max(1),
        );
        image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
    } else {
        img.clone()
    };
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 80)
        .encode_image(&img)
        .ok()?;
    Some(buf)
}

impl Pipeline {
    fn frame(&mut self, job: Job) {
        let Some(bins) = self.bins_by_camera.get(&job.camera) else {
            return;
        };
        let Some(cam) = self.camera_bins.get_mut(&job.camera) else {
            return;
        };
        if bins.is_empty() {
            return;
        }
        let data = match &job.payload {
            Payload::Encoded(b) => FrameData::Encoded(b),
            Payload::Rgb(img) => FrameData::Rgb(img),
        };
        let origin = Path::new(&job.origin);
        match self
            .frames
            .process(cam, origin, data, job.time, &mut self.report)
        {
            Ok(()) => {}
            Err(PipelineError::Frame(e)) => {
                tracing::warn!(camera = %job.camera, error = %e, "corrupt frame skipped");
                self.metrics.camera_error(&job.camera, "decode");
                return;
            }
            Err(PipelineError::Classify(e)) => {
                tracing::error!(camera = %job.camera, error = %crate::errtext::one_line(&crate::errtext::chain(&e)), "classification failed; frame skipped");
                return;
            }
        }
        let report = &self.report;
        let times = &report.times;
        if report.inferred.iter().any(|i| *i) {
            self.metrics
                .inference(times.decode + times.resample + times.inference);
        }
        self.metrics.stages(times);
        tracing::debug!(camera = %job.camera, inferred = report.inferred.len() - report.skipped(), skipped = report.skipped(), decoded = ?report.decoded.map(|(s, _, w)| (s.to_string(), w)), ms = times.total.as_secs_f64() * 1e3, "frame");
        // the whole frame at full size, decoded only if a bin raises an event (evidence)
        let mut evidence_image: Option<Option<RgbImage>> = None;
        let mut changed = false;
        for ((bin, pred), inferred) in bins.iter().zip(&report.predictions).zip(&report.inferred) {
            self.metrics.bin_frame(&bin.id, *inferred);
            let Some((_, deb)) = self.debouncers.get_mut(&bin.id) else {
                continue;
            };
            // a reused prediction is fed at the new time, so debounce durations go on
            let transition = deb.observe(job.time, &pred.probabilities, true);
            let level = self.class_names[pred.class].clone();
            tracing::debug!(bin = %bin.id, camera = %bin.camera, level = %level, p_full = deb.last_p_full().unwrap_or(0.0), inferred, "frame classified");
            self.metrics.set_bin(
                &bin.id,
                BinStats {
                    camera: bin.camera.clone(),
                    level,
                    p_full: deb.last_p_full().unwrap_or(0.0),
                    state: state_label(deb.state()),
                    since: deb.state_since().unwrap_or(job.time),
                    held: deb.held_frames(),
                },
            );
            let Some(t) = transition else { continue };
            changed = true;
            let image = evidence_image
                .get_or_insert_with(|| match &job.payload {
                    Payload::Rgb(img) => Some(img.clone()),
                    Payload::Encoded(b) => match crate::frame::decode_bytes(origin, b) {
                        Ok(img) => Some(img),
                        Err(e) => {
                            tracing::warn!(camera = %job.camera, error = %e, "evidence frame does not decode; event sent without it");
                            None
                        }
                    },
                })
                .as_ref();
            let crop = image.and_then(|img| crop_jpeg(img, &bin.region, self.evidence_max_side));
            let frame = image
                .filter(|_| self.evidence_frame)
                .and_then(|img| jpeg(img, self.evidence_max_side.max(1280)));
            let ctx = BinContext {
                host: &self.host,
                camera: &bin.camera,
                location: &bin.location,
                class_names: &self.class_names,
                model: &self.model,
            };
            match Event::from_transition(
                new_event_id(),
                &t,
                &ctx,
                Evidence::from_jpeg(crop.as_deref(), frame.as_deref()),
            ) {
                Ok(ev) => {
                    tracing::info!(bin = %bin.id, camera = %bin.camera, event = %ev.ty.short(), episode = %t.episode, p_full = t.p_full, id = %ev.id, "bin event");
                    self.outboxes.push(&ev);
                }
                Err(e) => tracing::error!(bin = %bin.id, error = %e, "event could not be built"),
            }
        }
        // after the events are in the outbox: a crash in between repeats an overflow, never loses one
        if changed {
            self.save_states();
        }
    }

    fn save_states(&self) {
        let states: binstate::BinStates = self
            .debouncers
            .iter()
            .map(|(id, (_, d))| (id.clone(), d.saved()))
            .collect();
        if let Err(e) = binstate::save(&self.state_dir, &states) {
            tracing::error!(error = %e, "bin states not saved; a restart may open these episodes again");
        }
    }
}

/// The saved bin states of `dir`; an unreadable file is reported, moved aside and taken as none.
fn load_states(dir: &Path) -> binstate::BinStates {
    match binstate::load(dir) {
        Ok(s) => s,
        Err(e @ binstate::BinStateError::Corrupt { .. }) => {
            match binstate::set_aside(dir) {
                Ok(to) => {
                    tracing::error!(error = %e, moved_to = %to.display(), "bin states unreadable; starting without them")
                }
                Err(e2) => {
                    tracing::error!(error = %e, also = %e2, "bin states unreadable; starting without them")
                }
            }
            binstate::BinStates::new()
        }
        Err(e) => {
            tracing::error!(error = %e, "bin states unreadable; starting without them");
            binstate::BinStates::new()
        }
    }
}

/// Why a webhook's secret could not be read.
#[derive(Debug, Error)]
pub enum SecretError {
    /// The file or variable is missing, unreadable or not a secret.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// `secret_credential` outside a unit with `LoadCredential=`.
    #[error(
        "secret_credential {0}: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)"
    )]
    NoCredentials(String),
    /// None of the three is given (check-config refuses such a config).
    #[error("give one of secret_file, secret_env and secret_credential")]
    Missing,
}

/// Reads a webhook sink's secret exactly as the daemon does at start (file relative to `base`,
/// environment variable, or systemd credential). On failure, also the config key it came from.
pub fn webhook_secret(
    sink: &config::Sink,
    base: &Path,
) -> Result<WebhookSecret, (&'static str, SecretError)> {
    let config::Sink::Webhook {
        secret_file,
        secret_env,
        secret_credential,
        ..
    } = sink;
    match (secret_file, secret_env, secret_credential) {
        (Some(f), _, _) => {
            WebhookSecret::from_file(&base.join(f)).map_err(|e| ("secret_file", e.into()))
        }
        (None, Some(v), _) => WebhookSecret::from_env(v).map_err(|e| ("secret_env", e.into())),
        (None, None, Some(cred)) => {
            let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
                return Err((
                    "secret_credential",
                    SecretError::NoCredentials(cred.clone()),
                ));
            };
            WebhookSecret::from_file(&Path::new(&dir).join(cred))
                .map_err(|e| ("secret_credential", e.into()))
        }
        (None, None, None) => Err(("secret_file", SecretError::Missing)),
    }
}

/// What a frame may leave out, from the `daemon` settings.
pub fn pipeline_options(d: &config::DaemonConfig) -> PipelineOptions {
    PipelineOptions {
        skip: d.skip_unchanged.then(|| SkipRule {
            threshold: d.skip_threshold as f32,
            max_age: Duration::from_secs_f64(d.skip_max_age_s.max(0.001)),
        }),
        scaled_decode: d.scaled_decode.then_some(d.decode_scale_ratio.max(1.0)),
        window_decode: true,
    }
}

/// Everything one config runs: camera tasks, the pipeline thread, the delivery tasks.
struct Generation {
    cfg: Arc<Config>,
    stop_cameras: watch::Sender<bool>,
    cameras: Vec<JoinHandle<()>>,
    pipeline: Option<std::thread::JoinHandle<Carry>>,
    stop_sinks: watch::Sender<bool>,
    sinks: Vec<JoinHandle<()>>,
    outboxes: Outboxes,
    grace: Duration,
}

struct Shared {
    metrics: Arc<Metrics>,
}

impl Generation {
    async fn start(
        cfg: Arc<Config>,
        base: &Path,
        opts: &Options,
        shared: &Shared,
        carry: Carry,
    ) -> Result<Generation, DaemonError> {
        let metrics = shared.metrics.clone();
        let state = state_dir(&cfg, base, opts.state_dir.as_deref());
        let host = host_name(&cfg);
        let grace = Duration::from_secs_f64(cfg.daemon.shutdown_grace_s);

        // sinks and their outboxes
        let names = sink_names(&cfg);
        type Built = (
            String,
            PathBuf,
            Arc<dyn Sink>,
            Arc<Mutex<Outbox>>,
            Arc<Notify>,
        );
        let mut built: Vec<Built> = Vec::new();
        for (sink, name) in cfg.sinks.iter().zip(&names) {
            let config::Sink::Webhook {
                url,
                timeout_s,
                retry_initial_s,
                retry_max_s,
                ..
            } = sink;
            let serr = |source| DaemonError::Sink {
                sink: name.clone(),
                source,
            };
            let secret = webhook_secret(sink, base).map_err(|(_, source)| DaemonError::Secret {
                sink: name.clone(),
                source,
            })?;
            let mut wc = WebhookConfig::new(url);
            wc.name = name.clone();
            wc.timeout = Duration::from_secs_f64(*timeout_s);
            wc.connect_timeout = wc.timeout.min(Duration::from_secs(5));
            let sink: Arc<dyn Sink> = Arc::new(WebhookSink::new(wc, secret).map_err(serr)?);
            let policy = RetryPolicy {
                initial: Duration::from_secs_f64(*retry_initial_s),
                max_delay: Duration::from_secs_f64(*retry_max_s),
                ..RetryPolicy::default()
            };
            let limits = OutboxLimits {
                max_entries: cfg.daemon.outbox_max_entries,
                max_bytes: (cfg.daemon.outbox_max_mb * 1024.0 * 1024.0) as u64,
            };
            let dir = outbox_dir(&state, name);
            let (outbox, report) =
                Outbox::open(&dir, limits, policy).map_err(|source| DaemonError::Outbox {
                    sink: name.clone(),
                    dir: dir.clone(),
                    source,
                })?;
            tracing::info!(sink = %name, dir = %dir.display(), waiting = outbox.len(), interrupted_writes_removed = report.temp_files_removed.len(), corrupt_set_aside = report.corrupt_moved.len(), duplicates_removed = report.duplicates_removed.len(), "outbox open");
            let (len, bytes) = (outbox.len(), outbox.total_bytes());
            metrics.set_outbox(name, |o| {
                o.depth = len;
                o.bytes = bytes;
            });
            built.push((
                name.clone(),
                dir,
                sink,
                Arc::new(Mutex::new(outbox)),
                Arc::new(Notify::new()),
            ));
        }
        let outboxes = Outboxes {
            sinks: Arc::new(
                built
                    .iter()
                    .map(|(n, _, _, o, w)| (n.clone(), o.clone(), w.clone()))
                    .collect(),
            ),
            metrics: metrics.clone(),
        };

        // the pipeline thread (loads the model there; reports its info or the error)
        let model_path = cfg.model_path(base);
        let copts = ClassifyOptions {
            ort_lib: cfg.model.onnxruntime.as_ref().map(|p| base.join(p)),
            threads: cfg.model.threads,
        };
        let interval: HashMap<&str, f64> = cfg
            .cameras
            .iter()
            .map(|c| (c.name.as_str(), c.interval_s))
            .collect();
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(cfg.daemon.queue);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), DaemonError>>();
        let mut bins_by_camera: HashMap<String, Vec<BinSpec>> = HashMap::new();
        let mut dcfgs = HashMap::new();
        for b in &cfg.bins {
            let Some(region) = b.region() else { continue };
            let dcfg = debounce_config(
                &cfg.debounce,
                interval.get(b.camera.as_str()).copied().unwrap_or(60.0),
            );
            dcfgs.insert(b.id.clone(), dcfg.clone());
            bins_by_camera
                .entry(b.camera.clone())
                .or_default()
                .push(BinSpec {
                    id: b.id.clone(),
                    camera: b.camera.clone(),
                    region,
                    location: Location {
                        lat: b.lat,
                        lon: b.lon,
                        address: b.address.clone(),
                    },
                    key: format!("{b:?}|{dcfg:?}|{}", model_path.display()),
                });
        }
        let margins: HashMap<String, Option<f64>> =
            cfg.bins.iter().map(|b| (b.id.clone(), b.margin)).collect();
        let pipe_metrics = metrics.clone();
        let pipe_outboxes = outboxes.clone();
        let pipe_host = host.clone();
        let evidence_max_side = cfg.daemon.evidence_max_side;
        let evidence_frame = cfg.daemon.evidence_frame;
        let options = pipeline_options(&cfg.daemon);
        let saved = load_states(&state);
        let pipe_state = state.clone();
        let pipeline = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let classifier = match Classifier::load(&model_path, &copts) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return carry;
                    }
                };
                let info = classifier.info().clone();
                let class_names = info.classes.clone();
                let alert = info
                    .alert
                    .first()
                    .map(|&i| class_names[i].clone())
                    .unwrap_or_else(|| "full".into());
                let mut debouncers: Carry = HashMap::new();
                let mut carry = carry;
                for spec in bins_by_camera.values_mut().flatten() {
                    // apply the context margin (the bin's, else the model's default)
                    let m = margins
                        .get(&spec.id)
                        .copied()
                        .flatten()
                        .or(info.default_margin)
                        .unwrap_or(0.0);
                    if m > 0.0
                        && let Ok(r) = spec.region.with_margin(m)
                    {
                        spec.region = r;
                    }
                    spec.key = format!("{}|{}|{}", spec.key, info.sha256, m);
                    let deb = match carry.remove(&spec.id) {
                        Some((k, d)) if k == spec.key => d,
                        carried => {
                            let made = Classes::new(&spec.id, class_names.clone(), &alert)
                                .and_then(|c| Debouncer::new(&spec.id, c, dcfgs[&spec.id].clone()));
                            let mut d = match made {
                                Ok(d) => d,
                                Err(e) => {
                                    let _ = ready_tx.send(Err(e.into()));
                                    return carry;
                                }
                            };
                            // new settings (a reload) or a new process: the open episode goes on
                            let before = match &carried {
                                Some((_, old)) => Some(old.saved()),
                                None => saved.get(&spec.id).cloned(),
                            };
                            if let Some(before) = before {
                                if let Some(e) = &before.episode {
                                    tracing::info!(bin = %spec.id, episode = %e.id, since = %e.since, "open overflow episode carried over");
                                }
                                d.restore(&before);
                            }
                            d
                        }
                    };
                    debouncers.insert(spec.id.clone(), (spec.key.clone(), deb));
                }
                let model = ModelInfo {
                    name: info
                        .path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "model".into()),
                    version: info.model_version.clone(),
                    quantization: info.quantization.clone(),
                };
                tracing::info!(model = %info.path.display(), version = %model.version, quantization = info.quantization.as_deref().unwrap_or("none"), classes = ?class_names, skip = ?options.skip, scaled_decode = ?options.scaled_decode, "model loaded");
                pipe_metrics.set_model(ModelLabels {
                    name: model.name.clone(),
                    version: model.version.clone(),
                    sha256: info.sha256.clone(),
                    quantization: info.quantization.clone().unwrap_or_else(|| "none".into()),
                });
                let camera_bins = bins_by_camera
                    .iter()
                    .map(|(cam, specs)| {
                        let regions = specs.iter().map(|b| b.region).collect();
                        (cam.clone(), CameraBins::new(regions, options.skip))
                    })
                    .collect();
                let _ = ready_tx.send(Ok(()));
                let mut p = Pipeline {
                    bins_by_camera,
                    camera_bins,
                    debouncers,
                    frames: FramePipeline::new(classifier, options),
                    report: FrameReport::default(),
                    model,
                    class_names,
                    host: pipe_host,
                    outboxes: pipe_outboxes,
                    metrics: pipe_metrics.clone(),
                    evidence_max_side,
                    evidence_frame,
                    state_dir: pipe_state,
                };
                pipe_metrics.set_inference_alive(true);
                // Between bursts of frames, hand the heap that inference freed back to the OS, so that the
                // resident size of a daemon that sees a frame every few seconds stays near its floor. Never
                // on the hot path: only once the queue has been empty for IDLE_RELEASE.
                let mut worked = false;
                loop {
                    match job_rx.recv_timeout(IDLE_RELEASE) {
                        Ok(job) => {
                            p.frame(job);
                            worked = true;
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            if std::mem::take(&mut worked) {
                                memory::release_to_os();
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                pipe_metrics.set_inference_alive(false);
                p.debouncers
            })
            .map_err(|source| DaemonError::Io {
                what: "start the inference thread".into(),
                source,
            })?;
        let ready = tokio::task::spawn_blocking(move || ready_rx.recv())
            .await
            .ok()
            .and_then(Result::ok);
        match ready {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                let _ = pipeline.join();
                return Err(e);
            }
            None => return Err(DaemonError::PipelineGone),
        }

        // delivery tasks
        let (stop_sinks, sinks_rx) = watch::channel(false);
        let sinks = built
            .into_iter()
            .map(|(name, dir, sink, outbox, wake)| {
                tokio::spawn(deliver_loop(
                    name,
                    dir,
                    sink,
                    outbox,
                    wake,
                    metrics.clone(),
                    sinks_rx.clone(),
                    grace,
                ))
            })
            .collect();

        // camera tasks
        let (stop_cameras, cams_rx) = watch::channel(false);
        let mut cameras = Vec::new();
        for cam in &cfg.cameras {
            let bins: Vec<String> = cfg
                .bins
                .iter()
                .filter(|b| b.camera == cam.name)
                .map(|b| b.id.clone())
                .collect();
            metrics.camera(&cam.name, |c| {
                c.interval_s = cam.interval_s;
                c.online = true;
                c.ended = false;
            });
            let watch = if cam.check_s > 0.0 {
                match CameraWatch::load(&cfg, base, &cam.name) {
                    Ok(Some(w)) => {
                        tracing::info!(camera = %cam.name, reference = %w.sidecar().image.display(), every_s = cam.check_s, "camera checked against its calibration reference");
                        Some(w)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(camera = %cam.name, error = %e, "calibration reference unusable; the camera is not checked");
                        None
                    }
                }
            } else {
                None
            };
            cameras.push(tokio::spawn(camera_task(
                cam.clone(),
                base.to_path_buf(),
                bins,
                watch,
                host.clone(),
                job_tx.clone(),
                outboxes.clone(),
                metrics.clone(),
                cams_rx.clone(),
            )));
        }
        drop(job_tx);
        metrics.retain(
            &cfg.cameras
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>(),
            &cfg.bins.iter().map(|b| b.id.clone()).collect::<Vec<_>>(),
        );
        Ok(Generation {
            cfg,
            stop_cameras,
            cameras,
            pipeline: Some(pipeline),
            stop_sinks,
            sinks,
            outboxes,
            grace,
        })
    }

    /// Whether the inference thread runs (or ended normally because every camera ended).
    fn pipeline_alive(&self) -> bool {
        match &self.pipeline {
            Some(p) => !p.is_finished() || self.cameras.iter().all(|h| h.is_finished()),
            None => false,
        }
    }

    /// Whether every camera ended, the queue is drained and every outbox is empty.
    fn done(&mut self) -> bool {
        if !self.cameras.iter().all(|h| h.is_finished()) {
            return false;
        }
        if self.pipeline.as_ref().is_some_and(|p| !p.is_finished()) {
            return false;
        }
        self.outboxes
            .sinks
            .iter()
            .all(|(_, o, _)| o.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
    }

    /// Stops sources, finishes queued frames and deliveries in progress; returns the debouncers.
    async fn stop(mut self) -> Carry {
        let _ = self.stop_cameras.send(true);
        for h in self.cameras.drain(..) {
            let _ = h.await;
        }
        let carry = match self.pipeline.take() {
            Some(p) => tokio::task::spawn_blocking(move || p.join().unwrap_or_default())
                .await
                .unwrap_or_default(),
            None => HashMap::new(),
        };
        let _ = self.stop_sinks.send(true);
        for h in self.sinks.drain(..) {
            if tokio::time::timeout(self.grace + Duration::from_secs(2), h)
                .await
                .is_err()
            {
                tracing::warn!("a delivery task did not stop in time");
            }
        }
        carry
    }
}

#[allow(clippy::too_many_arguments)]
async fn camera_task(
    cam: config::Camera,
    base: PathBuf,
    bins: Vec<String>,
    mut watch: Option<CameraWatch>,
    host: String,
    jobs: SyncSender<Job>,
    outboxes: Outboxes,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let name = cam.name.clone();
    let interval = Duration::from_secs_f64(cam.interval_s);
    let grab_timeout = match &cam.source {
        config::Source::Http { timeout_s, .. } => Duration::from_secs_f64(timeout_s + 1.0),
        _ => Duration::from_secs(10).max(interval * 2),
    };
    let mut src: Option<Box<dyn FrameSource>> = None;
    let mut failures: u32 = 0;
    let mut offline = false;
    let mut last_good: Option<Timestamp> = None;
    let check_every = Duration::from_secs_f64(cam.check_s.max(0.0));
    let mut last_check: Option<tokio::time::Instant> = None;
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => break,
        }
        let tick = tokio::time::Instant::now();
        let result = match &mut src {
            Some(s) => {
                tokio::select! {
                    r = tokio::time::timeout(grab_timeout, s.grab()) => match r {
                        Ok(r) => r.map_err(|e| ("fetch", e.to_string())),
                        Err(_) => Err(("timeout", format!("camera {name}: no frame within {:.1} s", grab_timeout.as_secs_f64()))),
                    },
                    _ = stop.changed() => break,
                }
            }
            None => match source::open(&cam, &base) {
                Ok(s) => {
                    tracing::info!(camera = %name, kind = s.kind(), "camera source open");
                    src = Some(s);
                    next = tick;
                    continue;
                }
                Err(e) => Err(("fetch", e.to_string())),
            },
        };
        match result {
            Ok(Grab::End) => {
                tracing::info!(camera = %name, "camera source ended (last file replayed)");
                metrics.camera(&name, |c| c.ended = true);
                break;
            }
            Ok(Grab::Frame(c)) => {
                let origin = c.origin.clone();
                // only the header here: the pipeline thread decodes what the bins need, when they need it
                let checked = match &c.payload {
                    Payload::Rgb(_) => Ok(()),
                    Payload::Encoded(bytes) => {
                        crate::frame::probe(Path::new(&origin), bytes).map(|_| ())
                    }
                };
                // the camera answered: it is online, whether or not the frame decodes
                failures = 0;
                if offline {
                    offline = false;
                    tracing::info!(camera = %name, "camera back online");
                    metrics.camera(&name, |s| s.online = true);
                    let ev = Event::camera(
                        new_event_id(),
                        &host,
                        true,
                        Timestamp::now(),
                        CameraData {
                            camera: name.clone(),
                            reason: None,
                            last_frame_time: last_good.map(|t| t.to_rfc3339()),
                            bins: bins.clone(),
                            check: None,
                        },
                    );
                    let ob = outboxes.clone();
                    let _ = tokio::task::spawn_blocking(move || ob.push(&ev)).await;
                }
                match checked {
                    Ok(()) => {
                        last_good = Some(c.time);
                        metrics.camera(&name, |s| {
                            s.frames += 1;
                            s.last_frame = Some(c.time);
                        });
                        if watch.is_some() && last_check.is_none_or(|t| t.elapsed() >= check_every)
                        {
                            last_check = Some(tokio::time::Instant::now());
                            let w = watch.take();
                            // the check compares whole frames: a full decode, every check_s only
                            let live = match &c.payload {
                                Payload::Rgb(img) => Payload::Rgb(img.clone()),
                                Payload::Encoded(b) => Payload::Encoded(b.clone()),
                            };
                            let o = origin.clone();
                            let (w, outcome) = tokio::task::spawn_blocking(move || {
                                let mut w = w.expect("checked above");
                                let image = match live {
                                    Payload::Rgb(img) => Ok(img),
                                    Payload::Encoded(b) => {
                                        crate::frame::decode_bytes(Path::new(&o), &b)
                                    }
                                };
                                let r = image.ok().map(|img| w.observe(&img));
                                (w, r)
                            })
                            .await
                            .unwrap_or_else(|e| panic!("camera check thread: {e}"));
                            let reference = w.sidecar().image.display().to_string();
                            watch = Some(w);
                            match outcome {
                                Some(outcome) => {
                                    if let Some(ev) = camera_check_event(
                                        &name, &host, &bins, &reference, outcome, &metrics,
                                    ) {
                                        let ob = outboxes.clone();
                                        let _ =
                                            tokio::task::spawn_blocking(move || ob.push(&ev)).await;
                                    }
                                }
                                // the frame does not decode (the pipeline counts it): check the next
                                None => last_check = None,
                            }
                        }
                        match jobs.try_send(Job {
                            camera: name.clone(),
                            time: c.time,
                            origin,
                            payload: c.payload,
                        }) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => {
                                tracing::warn!(camera = %name, "inference queue full; newest frame dropped");
                                metrics.camera(&name, |s| s.dropped += 1);
                            }
                            Err(TrySendError::Disconnected(_)) => break,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(camera = %name, error = %e, "corrupt frame skipped");
                        metrics.camera_error(&name, "decode");
                    }
                }
                next += interval;
                if next < tick {
                    next = tick + interval;
                }
            }
            Err((kind, msg)) => {
                failures += 1;
                metrics.camera_error(&name, kind);
                tracing::warn!(camera = %name, failures, error = %msg, "camera failed");
                if failures >= OFFLINE_AFTER && !offline {
                    offline = true;
                    tracing::error!(camera = %name, error = %msg, "camera offline");
                    metrics.camera(&name, |s| s.online = false);
                    let ev = Event::camera(
                        new_event_id(),
                        &host,
                        false,
                        Timestamp::now(),
                        CameraData {
                            camera: name.clone(),
                            reason: Some(msg.clone()),
                            last_frame_time: last_good.map(|t| t.to_rfc3339()),
                            bins: bins.clone(),
                            check: None,
                        },
                    );
                    let ob = outboxes.clone();
                    let _ = tokio::task::spawn_blocking(move || ob.push(&ev)).await;
                }
                if kind == "timeout" {
                    src = None; // a hung source is opened afresh
                }
                let backoff = interval
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(MAX_CAMERA_BACKOFF)
                    .max(interval);
                next = tick + backoff;
            }
        }
    }
}

/// Logs one comparison with the calibration reference, updates the camera's metrics, and returns
/// the `camera.moved` / `camera.restored` event it calls for, if any.
fn camera_check_event(
    name: &str,
    host: &str,
    bins: &[String],
    reference: &str,
    outcome: Result<WatchOutcome, crate::calibrate::CalibrateError>,
    metrics: &Metrics,
) -> Option<Event> {
    let (moved, c) = match outcome {
        Err(e) => {
            tracing::warn!(camera = %name, error = %e, "camera check failed to run");
            return None;
        }
        Ok(WatchOutcome::Ok(c)) => {
            tracing::debug!(camera = %name, ssim = c.background_ssim, "camera matches its reference");
            metrics.camera(name, |s| s.misaligned = false);
            return None;
        }
        Ok(WatchOutcome::Failing(c)) => {
            tracing::warn!(camera = %name, verdict = %c.verdict, explanation = %c.explanation, "camera does not match its reference");
            return None;
        }
        Ok(WatchOutcome::Moved(c)) => (true, c),
        Ok(WatchOutcome::Recovered(c)) => (false, c),
    };
    if moved {
        tracing::error!(camera = %name, verdict = %c.verdict, explanation = %c.explanation, "camera moved, covered or defocused");
    } else {
        tracing::info!(camera = %name, "camera matches its reference again");
    }
    metrics.camera(name, |s| s.misaligned = moved);
    let verdict = match c.verdict {
        crate::calibrate::compare::Verdict::Ok => "ok",
        crate::calibrate::compare::Verdict::Moved { .. } => "moved",
        crate::calibrate::compare::Verdict::Covered => "covered",
        crate::calibrate::compare::Verdict::Defocused => "defocused",
        crate::calibrate::compare::Verdict::Unrecognised => "unrecognised",
    };
    Some(Event::camera_check(
        new_event_id(),
        host,
        moved,
        Timestamp::now(),
        CameraData {
            camera: name.to_string(),
            reason: Some(c.verdict.to_string()),
            last_frame_time: None,
            bins: bins.to_vec(),
            check: Some(CameraCheck {
                verdict: verdict.into(),
                explanation: c.explanation.clone(),
                shift_pct: [c.shift.dx_frac * 100.0, c.shift.dy_frac * 100.0],
                background_ssim: c.background_ssim,
                reference: reference.to_string(),
            }),
        },
    ))
}

fn lock(o: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    o.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many dead letters an outbox folder holds.
pub fn dead_letters(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("dead"))
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
async fn deliver_loop(
    name: String,
    dir: PathBuf,
    sink: Arc<dyn Sink>,
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut rng = SplitMix64::from_os();
    loop {
        if *stop.borrow() {
            break;
        }
        let due = tokio::task::block_in_place(|| lock(&outbox).take_due(Timestamp::now()));
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "outbox read failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !due.is_empty() {
            let mut set = tokio::task::JoinSet::new();
            let mut pending: Vec<u64> = Vec::new();
            for (seq, ev) in due {
                pending.push(seq);
                let sink = sink.clone();
                set.spawn(async move {
                    let outcome = sink.deliver(&ev).await;
                    (seq, ev, outcome)
                });
            }
            let mut deadline: Option<tokio::time::Instant> = None;
            loop {
                let next = match deadline {
                    Some(d) => tokio::select! {
                        r = set.join_next() => r,
                        _ = tokio::time::sleep_until(d) => break,
                    },
                    None => tokio::select! {
                        r = set.join_next() => r,
                        _ = stop.changed() => {
                            deadline = Some(tokio::time::Instant::now() + grace);
                            continue;
                        }
                    },
                };
                let Some(res) = next else { break };
                let Ok((seq, ev, outcome)) = res else {
                    continue;
                };
                pending.retain(|s| *s != seq);
                let now = Timestamp::now();
                let rec = tokio::task::block_in_place(|| {
                    lock(&outbox).record(seq, &outcome, now, &mut rng)
                });
                match rec {
                    Ok(Recorded::Removed) => {
                        tracing::info!(sink = %name, id = %ev.id, event = %ev.ty.short(), subject = %ev.subject, "delivered");
                        metrics.set_outbox(&name, |o| o.delivered += 1);
                    }
                    Ok(Recorded::RetryAt(t)) => {
                        tracing::warn!(sink = %name, id = %ev.id, retry_at = %t, reason = %outcome.reason(), "delivery failed; will retry")
                    }
                    Ok(Recorded::DeadLettered(reason)) => {
                        tracing::error!(sink = %name, id = %ev.id, reason = %reason, "delivery refused for good; kept as a dead letter")
                    }
                    Err(e) => {
                        tracing::error!(sink = %name, id = %ev.id, error = %e, "outbox update failed")
                    }
                }
            }
            if !pending.is_empty() {
                set.abort_all();
                let mut ob = lock(&outbox);
                for seq in pending {
                    ob.release(seq);
                }
                tracing::warn!(sink = %name, "deliveries in progress abandoned at shutdown; they stay in the outbox");
            }
        }
        let (depth, bytes, wake_at) = {
            let ob = lock(&outbox);
            (ob.len(), ob.total_bytes(), ob.next_wakeup())
        };
        let dead = dead_letters(&dir);
        metrics.set_outbox(&name, |o| {
            o.depth = depth;
            o.bytes = bytes;
            o.dead = dead;
        });
        if *stop.borrow() {
            break;
        }
        let sleep = wake_at
            .map(|t| t.since(Timestamp::now()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => break,
        }
    }
}

/// Runs the daemon until a signal (or, with `exit_when_done`, the end of every replay).
pub async fn run(opts: Options) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |k| {
        signal(k).map_err(|source| DaemonError::Io {
            what: "install signal handler".into(),
            source,
        })
    };
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut hup = sig(SignalKind::hangup())?;

    let cfg = Arc::new(Config::load(&opts.config)?);
    let base = config_base(&opts.config);
    let shared = Shared {
        metrics: Metrics::new(),
    };

    // /metrics and /healthz
    let (stop_http, http_rx) = watch::channel(false);
    if !cfg.daemon.metrics_listen.is_empty() {
        let addr = &cfg.daemon.metrics_listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Io {
                what: format!("daemon.metrics_listen {addr}: bind"),
                source,
            })?;
        let bound = listener.local_addr().ok();
        tracing::info!(addr = ?bound, "serving /metrics and /healthz");
        let m = shared.metrics.clone();
        let mut rx = http_rx.clone();
        tokio::spawn(crate::metrics::serve(listener, m, async move {
            let _ = rx.changed().await;
        }));
    }

    let mut generation = Generation::start(cfg, &base, &opts, &shared, HashMap::new()).await?;
    notify::notify("READY=1\nSTATUS=watching");
    tracing::info!(
        cameras = generation.cfg.cameras.len(),
        bins = generation.cfg.bins.len(),
        sinks = generation.cfg.sinks.len(),
        "binwatch running"
    );
    let watchdog = notify::watchdog_interval();
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut done_check = tokio::time::interval(Duration::from_millis(200));

    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break }
            _ = hup.recv() => {
                tracing::info!(config = %opts.config.display(), "SIGHUP: reloading config");
                match Config::load(&opts.config) {
                    Err(e) => {
                        tracing::error!(error = %e, "new config refused; the old one keeps running");
                        shared.metrics.reload(false);
                    }
                    Ok(new) => {
                        notify::notify("RELOADING=1");
                        let old = generation.cfg.clone();
                        let carry = generation.stop().await;
                        let kept = carry.clone();
                        generation = match Generation::start(Arc::new(new), &base, &opts, &shared, carry).await {
                            Ok(g) => {
                                tracing::info!("config reloaded");
                                shared.metrics.reload(true);
                                g
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "new config failed to start; going back to the old one");
                                shared.metrics.reload(false);
                                Generation::start(old, &base, &opts, &shared, kept).await?
                            }
                        };
                        notify::notify("READY=1");
                    }
                }
            }
            _ = dog.tick(), if watchdog.is_some() => {
                // no ping once the inference thread is gone: systemd restarts the service
                if generation.pipeline_alive() {
                    notify::notify("WATCHDOG=1");
                } else {
                    tracing::error!("the inference thread ended; withholding the watchdog ping");
                }
            }
            _ = done_check.tick(), if opts.exit_when_done => {
                if generation.done() {
                    tracing::info!("every camera ended and every outbox is empty: exiting");
                    break;
                }
            }
        }
    }

    notify::notify("STOPPING=1");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("binwatch: second signal, exiting at once (the outbox is kept)");
        std::process::exit(130);
    });
    generation.stop().await;
    let _ = stop_http.send(true);
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Rect;

    #[test]
    fn debounce_mapping_uses_camera_interval_for_the_gap() {
        let d = config::Debounce::default();
        let c = debounce_config(&d, 60.0);
        assert_eq!(c.max_gap, Duration::from_secs(180));
        assert_eq!(c.confirm_for, Duration::from_secs(300));
        assert_eq!(c.min_frames, 3);
        assert!(c.validate("b").is_ok());
        let c = debounce_config(
            &config::Debounce {
                confirm_s: 0.0,
                renotify_s: 0.0,
                ..d
            },
            1.0,
        );
        assert_eq!(c.max_gap, Duration::from_secs(30));
        assert_eq!(c.renotify_every, None);
        assert!(c.validate("b").is_ok());
    }

    #[test]
    fn crop_is_a_jpeg_of_the_region() {
        let img = RgbImage::from_pixel(200, 100, image::Rgb([200, 10, 10]));
        let r = Region::Rect(Rect::new(0.5, 0.0, 1.0, 0.5).expect("rect"));
        let j = crop_jpeg(&img, &r, 640).expect("jpeg");
        let back = image::load_from_memory(&j).expect("decode").to_rgb8();
        assert_eq!(back.dimensions(), (100, 50));
        let j = crop_jpeg(&img, &Region::Rect(Rect::FULL), 50).expect("jpeg");
        let back = image::load_from_memory(&j).expect("decode").to_rgb8();
        assert_eq!(back.dimensions(), (50, 25));
    }
}
