//! Counters and gauges of the daemon, rendered as Prometheus text on `/metrics`, and the
//! `/healthz` answer; both served on 127.0.0.1 by default (`daemon.metrics_listen`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::timestamp::Timestamp;

/// Upper bounds (seconds) of the inference latency histogram.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Default)]
pub struct CameraStats {
    pub frames: u64,
    /// Errors by kind: `fetch`, `decode`, `timeout`.
    pub errors: BTreeMap<&'static str, u64>,
    /// Frames dropped because the inference queue was full.
    pub dropped: u64,
    pub last_frame: Option<Timestamp>,
    pub online: bool,
    /// The source ended (a folder replayed once).
    pub ended: bool,
    /// Seconds between frames, for health.
    pub interval_s: f64,
    /// The last check against the calibration reference failed (`camera.moved` was raised).
    pub misaligned: bool,
}

#[derive(Debug, Clone)]
pub struct BinStats {
    pub camera: String,
    pub level: String,
    pub p_full: f32,
    /// `clear`, `pending`, `overflowing` or `clearing`.
    pub state: &'static str,
    pub since: Timestamp,
    pub held: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxStats {
    pub depth: usize,
    pub bytes: u64,
    pub dead: usize,
    pub delivered: u64,
}

#[derive(Debug, Default)]
struct Inner {
    cameras: BTreeMap<String, CameraStats>,
    bins: BTreeMap<String, BinStats>,
    outboxes: BTreeMap<String, OutboxStats>,
    buckets: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
    events: BTreeMap<&'static str, u64>,
    inference_alive: bool,
    reloads: u64,
    reload_failures: u64,
    /// Per bin: frames whose prediction came from a model run, and frames that reused the last one.
    bin_runs: BTreeMap<String, (u64, u64)>,
    /// Seconds spent per frame stage, summed.
    stages: StageSeconds,
    model: Option<ModelLabels>,
}

/// Seconds spent in each stage of the frame pipeline, summed over frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSeconds {
    pub thumbnail: f64,
    pub signature: f64,
    pub decode: f64,
    pub resample: f64,
    pub inference: f64,
    pub rest: f64,
}

/// The loaded model, for `binwatch_model_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLabels {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// `none` for a float model.
    pub quantization: String,
}

/// Shared by every part of the daemon.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn camera(&self, name: &str, f: impl FnOnce(&mut CameraStats)) {
        self.with(|i| f(i.cameras.entry(name.to_string()).or_default()));
    }

    pub fn camera_error(&self, name: &str, kind: &'static str) {
        self.camera(name, |c| *c.errors.entry(kind).or_default() += 1);
    }

    pub fn camera_stats(&self, name: &str) -> Option<CameraStats> {
        self.with(|i| i.cameras.get(name).cloned())
    }

    pub fn set_bin(&self, bin: &str, stats: BinStats) {
        self.with(|i| i.bins.insert(bin.to_string(), stats));
    }

    pub fn set_outbox(&self, sink: &str, f: impl FnOnce(&mut OutboxStats)) {
        self.with(|i| f(i.outboxes.entry(sink.to_string()).or_default()));
    }

    pub fn outbox_depth_total(&self) -> usize {
        self.with(|i| i.outboxes.values().map(|o| o.depth).sum())
    }

    pub fn inference(&self, d: Duration) {
        let s = d.as_secs_f64();
        self.with(|i| {
            for (b, le) in i.buckets.iter_mut().zip(LATENCY_BUCKETS) {
                if s <= le {
                    *b += 1;
                }
            }
            i.latency_sum += s;
            i.latency_count += 1;
        });
    }

    /// One frame of a bin: its prediction came from a model run (`inferred`) or was reused.
    pub fn bin_frame(&self, bin: &str, inferred: bool) {
        self.with(|i| {
            let e = i.bin_runs.entry(bin.to_string()).or_default();
            if inferred {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        });
    }

    /// Adds one frame's stage times.
    pub fn stages(&self, t: &crate::pipeline::StageTimes) {
        self.with(|i| {
            let s = &mut i.stages;
            s.thumbnail += t.thumbnail.as_secs_f64();
            s.signature += t.signature.as_secs_f64();
            s.decode += t.decode.as_secs_f64();
            s.resample += t.resample.as_secs_f64();
            s.inference += t.inference.as_secs_f64();
            s.rest += t.rest().as_secs_f64();
        });
    }

    pub fn set_model(&self, m: ModelLabels) {
        self.with(|i| i.model = Some(m));
    }

    pub fn event(&self, ty: &'static str) {
        self.with(|i| *i.events.entry(ty).or_default() += 1);
    }

    pub fn set_inference_alive(&self, alive: bool) {
        self.with(|i| i.inference_alive = alive);
    }

    pub fn reload(&self, ok: bool) {
        self.with(|i| {
            if ok {
                i.reloads += 1
            } else {
                i.reload_failures += 1
            }
        });
    }

    /// Forgets cameras and bins no longer configured (after a reload).
    pub fn retain(&self, cameras: &[String], bins: &[String]) {
        self.with(|i| {
            i.cameras.retain(|k, _| cameras.contains(k));
            i.bins.retain(|k, _| bins.contains(k));
            i.bin_runs.retain(|k, _| bins.contains(k));
        });
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, now: Timestamp) -> String {
        self.with(|i| {
            let mut o = String::new();
            let head = |o: &mut String, name: &str, ty: &str, help: &str| {
                let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {ty}");
            };
            head(
                &mut o,
                "binwatch_camera_frames_total",
                "counter",
                "Frames captured whose header reads as a JPEG or PNG of a usable size, per camera (the pixels are decoded by the pipeline, which counts what fails there as a decode error).",
            );
            for (c, s) in &i.cameras {
                let _ = writeln!(
                    o,
                    "binwatch_camera_frames_total{{camera=\"{}\"}} {}",
                    esc(c),
                    s.frames
                );
            }
            head(
                &mut o,
                "binwatch_camera_errors_total",
                "counter",
                "Failed captures (fetch, timeout) and undecodable frames (decode), per camera.",
            );
            for (c, s) in &i.cameras {
                for kind in ["fetch", "timeout", "decode"] {
                    let n = s.errors.get(kind).copied().unwrap_or(0);
                    let _ = writeln!(
                        o,
                        "binwatch_camera_errors_total{{camera=\"{}\",kind=\"{kind}\"}} {n}",
                        esc(c)
                    );
                }
            }
            head(
                &mut o,
                "binwatch_camera_dropped_frames_total",
                "counter",
                "Frames dropped because the inference queue was full.",
            );
            for (c, s) in &i.cameras {
                let _ = writeln!(
                    o,
                    "binwatch_camera_dropped_frames_total{{camera=\"{}\"}} {}",
                    esc(c),
                    s.dropped
                );
            }
            head(
                &mut o,
                "binwatch_camera_last_frame_age_seconds",
                "gauge",
                "Seconds since the camera's last good frame (absent before the first).",
            );
            for (c, s) in &i.cameras {
                if let Some(t) = s.last_frame {
                    let _ = writeln!(
                        o,
                        "binwatch_camera_last_frame_age_seconds{{camera=\"{}\"}} {:.3}",
                        esc(c),
                        now.since(t).as_secs_f64()
                    );
                }
            }
            head(
                &mut o,
                "binwatch_camera_online",
                "gauge",
                "1 while the camera delivers frames, 0 after it was reported offline.",
            );
            for (c, s) in &i.cameras {
                let _ = writeln!(
                    o,
                    "binwatch_camera_online{{camera=\"{}\"}} {}",
                    esc(c),
                    u8::from(s.online)
                );
            }
            head(
                &mut o,
                "binwatch_camera_misaligned",
                "gauge",
                "1 after the camera failed its check against the calibration reference (camera.moved), 0 otherwise.",
            );
            for (c, s) in &i.cameras {
                let _ = writeln!(
                    o,
                    "binwatch_camera_misaligned{{camera=\"{}\"}} {}",
                    esc(c),
                    u8::from(s.misaligned)
                );
            }
            head(
                &mut o,
                "binwatch_bin_p_full",
                "gauge",
                "Probability of the alert class in the bin's last frame.",
            );
            for (b, s) in &i.bins {
                let _ = writeln!(
                    o,
                    "binwatch_bin_p_full{{bin=\"{}\",camera=\"{}\"}} {:.4}",
                    esc(b),
                    esc(&s.camera),
                    s.p_full
                );
            }
            head(
                &mut o,
                "binwatch_bin_level",
                "gauge",
                "1 for the bin's most probable class in its last frame.",
            );
            for (b, s) in &i.bins {
                let _ = writeln!(
                    o,
                    "binwatch_bin_level{{bin=\"{}\",level=\"{}\"}} 1",
                    esc(b),
                    esc(&s.level)
                );
            }
            head(
                &mut o,
                "binwatch_bin_state",
                "gauge",
                "1 for the debouncer state of the bin.",
            );
            for (b, s) in &i.bins {
                for st in ["clear", "pending", "overflowing", "clearing"] {
                    let _ = writeln!(
                        o,
                        "binwatch_bin_state{{bin=\"{}\",state=\"{st}\"}} {}",
                        esc(b),
                        u8::from(st == s.state)
                    );
                }
            }
            head(
                &mut o,
                "binwatch_bin_state_seconds",
                "gauge",
                "Seconds the bin has been in its current state.",
            );
            for (b, s) in &i.bins {
                let _ = writeln!(
                    o,
                    "binwatch_bin_state_seconds{{bin=\"{}\"}} {:.3}",
                    esc(b),
                    now.since(s.since).as_secs_f64()
                );
            }
            head(
                &mut o,
                "binwatch_bin_held_frames_total",
                "counter",
                "Frames not used as evidence (low confidence, unreadable region).",
            );
            for (b, s) in &i.bins {
                let _ = writeln!(
                    o,
                    "binwatch_bin_held_frames_total{{bin=\"{}\"}} {}",
                    esc(b),
                    s.held
                );
            }
            head(
                &mut o,
                "binwatch_outbox_depth",
                "gauge",
                "Events waiting in the sink's outbox.",
            );
            for (k, s) in &i.outboxes {
                let _ = writeln!(
                    o,
                    "binwatch_outbox_depth{{sink=\"{}\"}} {}",
                    esc(k),
                    s.depth
                );
            }
            head(
                &mut o,
                "binwatch_outbox_bytes",
                "gauge",
                "Bytes of the events waiting in the sink's outbox.",
            );
            for (k, s) in &i.outboxes {
                let _ = writeln!(
                    o,
                    "binwatch_outbox_bytes{{sink=\"{}\"}} {}",
                    esc(k),
                    s.bytes
                );
            }
            head(
                &mut o,
                "binwatch_outbox_dead_letters",
                "gauge",
                "Events the sink refused for good (kept on disk).",
            );
            for (k, s) in &i.outboxes {
                let _ = writeln!(
                    o,
                    "binwatch_outbox_dead_letters{{sink=\"{}\"}} {}",
                    esc(k),
                    s.dead
                );
            }
            head(
                &mut o,
                "binwatch_delivered_total",
                "counter",
                "Events delivered (2xx) by the sink.",
            );
            for (k, s) in &i.outboxes {
                let _ = writeln!(
                    o,
                    "binwatch_delivered_total{{sink=\"{}\"}} {}",
                    esc(k),
                    s.delivered
                );
            }
            head(
                &mut o,
                "binwatch_events_total",
                "counter",
                "Events raised, by type.",
            );
            for (t, n) in &i.events {
                let _ = writeln!(o, "binwatch_events_total{{type=\"{t}\"}} {n}");
            }
            head(
                &mut o,
                "binwatch_inference_seconds",
                "histogram",
                "Time of one batched classifier run (RGB decode, resampling, the model) over the bins of a frame that needed it; frames whose bins all reused their last prediction are not counted.",
            );
            for (b, le) in i.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(o, "binwatch_inference_seconds_bucket{{le=\"{le}\"}} {b}");
            }
            let _ = writeln!(
                o,
                "binwatch_inference_seconds_bucket{{le=\"+Inf\"}} {}",
                i.latency_count
            );
            let _ = writeln!(o, "binwatch_inference_seconds_sum {:.6}", i.latency_sum);
            let _ = writeln!(o, "binwatch_inference_seconds_count {}", i.latency_count);
            head(
                &mut o,
                "binwatch_bin_inferences_total",
                "counter",
                "Frames whose prediction for the bin came from a model run.",
            );
            for (b, (run, _)) in &i.bin_runs {
                let _ = writeln!(o, "binwatch_bin_inferences_total{{bin=\"{}\"}} {run}", esc(b));
            }
            head(
                &mut o,
                "binwatch_inference_skipped_total",
                "counter",
                "Frames whose bin region had not changed since its last inference (daemon.skip_unchanged): the last prediction was reused.",
            );
            for (b, (_, skipped)) in &i.bin_runs {
                let _ = writeln!(
                    o,
                    "binwatch_inference_skipped_total{{bin=\"{}\"}} {skipped}",
                    esc(b)
                );
            }
            head(
                &mut o,
                "binwatch_frame_stage_seconds_total",
                "counter",
                "Time spent per stage of the frame pipeline: thumbnail (header and 1/8 luma decode), signature (skip decisions), decode (RGB for inference), resample, inference (the model), rest.",
            );
            let st = &i.stages;
            for (name, v) in [
                ("thumbnail", st.thumbnail),
                ("signature", st.signature),
                ("decode", st.decode),
                ("resample", st.resample),
                ("inference", st.inference),
                ("rest", st.rest),
            ] {
                let _ = writeln!(
                    o,
                    "binwatch_frame_stage_seconds_total{{stage=\"{name}\"}} {v:.6}"
                );
            }
            if let Some(m) = &i.model {
                head(
                    &mut o,
                    "binwatch_model_info",
                    "gauge",
                    "The loaded model (metadata model_version and quantization; none for a float model).",
                );
                let _ = writeln!(
                    o,
                    "binwatch_model_info{{model=\"{}\",version=\"{}\",sha256=\"{}\",quantization=\"{}\"}} 1",
                    esc(&m.name),
                    esc(&m.version),
                    esc(&m.sha256),
                    esc(&m.quantization)
                );
            }
            head(
                &mut o,
                "binwatch_config_reloads_total",
                "counter",
                "SIGHUP reloads, by result.",
            );
            let _ = writeln!(
                o,
                "binwatch_config_reloads_total{{result=\"ok\"}} {}",
                i.reloads
            );
            let _ = writeln!(
                o,
                "binwatch_config_reloads_total{{result=\"error\"}} {}",
                i.reload_failures
            );
            o
        })
    }

    /// `/healthz`: healthy while the inference thread runs and no camera is offline or silent
    /// for more than three intervals (at least 60 s). Returns (healthy, text).
    pub fn health(&self, now: Timestamp) -> (bool, String) {
        self.with(|i| {
            let mut ok = i.inference_alive;
            let mut text = format!(
                "inference {}\n",
                if i.inference_alive {
                    "running"
                } else {
                    "stopped"
                }
            );
            for (c, s) in &i.cameras {
                let stale = Duration::from_secs_f64((3.0 * s.interval_s).max(60.0));
                let state = if s.ended {
                    "ended".to_string()
                } else if !s.online {
                    ok = false;
                    "offline".to_string()
                } else if s.misaligned {
                    ok = false;
                    "moved, covered or defocused (see calibrate check)".to_string()
                } else {
                    match s.last_frame {
                        Some(t) if now.since(t) > stale => {
                            ok = false;
                            format!("silent for {:.0} s", now.since(t).as_secs_f64())
                        }
                        Some(t) => {
                            format!("ok, last frame {:.1} s ago", now.since(t).as_secs_f64())
                        }
                        None => "waiting for the first frame".to_string(),
                    }
                };
                let _ = writeln!(text, "camera {c}: {state}");
            }
            text.insert_str(0, if ok { "ok\n" } else { "unhealthy\n" });
            (ok, text)
        })
    }
}

/// Serves `/metrics` and `/healthz` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let now = Timestamp::now();
                    let (status, ctype, body) = match req.uri().path() {
                        "/metrics" => (
                            StatusCode::OK,
                            "text/plain; version=0.0.4; charset=utf-8",
                            metrics.render(now),
                        ),
                        "/healthz" => {
                            let (ok, text) = metrics.health(now);
                            (
                                if ok {
                                    StatusCode::OK
                                } else {
                                    StatusCode::SERVICE_UNAVAILABLE
                                },
                                "text/plain; charset=utf-8",
                                text,
                            )
                        }
                        _ => (
                            StatusCode::NOT_FOUND,
                            "text/plain; charset=utf-8",
                            "try /metrics or /healthz\n".into(),
                        ),
                    };
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    *r.status_mut() = status;
                    r.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static(ctype),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_escaped_labels() {
        let m = Metrics::new();
        let t0 = Timestamp::from_unix_secs(1_800_000_000);
        m.camera("yard \"A\"", |c| {
            c.frames = 3;
            c.online = true;
            c.last_frame = Some(t0);
        });
        m.camera_error("yard \"A\"", "decode");
        m.set_bin(
            "bin-1",
            BinStats {
                camera: "yard".into(),
                level: "full".into(),
                p_full: 0.93,
                state: "overflowing",
                since: t0,
                held: 0,
            },
        );
        m.inference(Duration::from_millis(30));
        m.set_outbox("webhook", |o| o.depth = 2);
        let text = m.render(t0.plus(Duration::from_secs(5)));
        assert!(
            text.contains("binwatch_camera_frames_total{camera=\"yard \\\"A\\\"\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "binwatch_camera_errors_total{camera=\"yard \\\"A\\\"\",kind=\"decode\"} 1"
            )
        );
        assert!(
            text.contains(
                "binwatch_camera_last_frame_age_seconds{camera=\"yard \\\"A\\\"\"} 5.000"
            )
        );
        assert!(text.contains("binwatch_bin_state{bin=\"bin-1\",state=\"overflowing\"} 1"));
        assert!(text.contains("binwatch_bin_state_seconds{bin=\"bin-1\"} 5.000"));
        assert!(text.contains("binwatch_inference_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("binwatch_inference_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("binwatch_outbox_depth{sink=\"webhook\"} 2"));
    }

    #[test]
    fn skips_stages_and_model_are_exported() {
        let m = Metrics::new();
        for inferred in [true, false, false, true, false] {
            m.bin_frame("bin-1", inferred);
        }
        m.bin_frame("gone", true);
        let ms = Duration::from_millis;
        m.stages(&crate::pipeline::StageTimes {
            thumbnail: ms(4),
            signature: ms(1),
            decode: ms(10),
            resample: ms(5),
            inference: ms(60),
            total: ms(82),
        });
        m.set_model(ModelLabels {
            name: "bin-fill-int8".into(),
            version: "2026.12.0".into(),
            sha256: "abc".into(),
            quantization: "int8-qdq-per-channel".into(),
        });
        m.retain(&[], &["bin-1".to_string()]);
        let text = m.render(Timestamp::from_unix_secs(1_800_000_000));
        assert!(
            text.contains("binwatch_bin_inferences_total{bin=\"bin-1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("binwatch_inference_skipped_total{bin=\"bin-1\"} 3"),
            "{text}"
        );
        assert!(
            !text.contains("bin=\"gone\""),
            "forgotten after a reload: {text}"
        );
        assert!(text.contains("binwatch_frame_stage_seconds_total{stage=\"decode\"} 0.010000"));
        assert!(text.contains("binwatch_frame_stage_seconds_total{stage=\"rest\"} 0.002000"));
        assert!(text.contains(
            "binwatch_model_info{model=\"bin-fill-int8\",version=\"2026.12.0\",sha256=\"abc\",quantization=\"int8-qdq-per-channel\"} 1"
        ));
    }

    #[test]
    fn health_needs_inference_and_live_cameras() {
        let m = Metrics::new();
        let t0 = Timestamp::from_unix_secs(1_800_000_000);
        assert!(!m.health(t0).0);
        m.set_inference_alive(true);
        m.camera("a", |c| {
            c.online = true;
            c.interval_s = 10.0;
            c.last_frame = Some(t0);
        });
        assert!(m.health(t0.plus(Duration::from_secs(30))).0);
        let (ok, text) = m.health(t0.plus(Duration::from_secs(90)));
        assert!(!ok && text.contains("camera a: silent"), "{text}");
    }
}
