//! Alert events as CloudEvents 1.0 JSON (structured mode), the one payload every sink sends.
//!
//! Envelope: `specversion` "1.0", `id` (UUID v4, chosen once when the event is built and kept
//! for every resend), `source` = `binwatch://<host>/<camera>`, `type` (see [`EventType`]),
//! `time` (RFC 3339 UTC), `subject` (the bin id for bin events, the camera id for camera events),
//! `datacontenttype` = `application/json`, and `data`: [`BinData`] or [`CameraData`].
//! Bin data carries the camera, the bin's location from config, the level and per-class
//! probabilities, the score history over the debounce window, the model version, the episode id
//! and the evidence (bin crop JPEG as base64, optionally the full frame). The outbox may strip
//! the evidence images to bound its size; `evidence.stripped` then says so.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::debounce::{EpisodeId, Transition, TransitionKind};
use crate::timestamp::Timestamp;

/// Media type of an event in CloudEvents structured JSON mode.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=utf-8";

/// Errors building or reading events; each names the event, bin or camera concerned.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A transition's probabilities do not match the class names.
    #[error("bin {bin}: {got} probabilities for {expected} class names")]
    ClassMismatch {
        /// The bin.
        bin: String,
        /// Number of probabilities.
        got: usize,
        /// Number of class names.
        expected: usize,
    },
    /// An event could not be encoded or decoded as JSON.
    #[error("event {id}: JSON: {source}")]
    Json {
        /// Event id, or `?` when unknown.
        id: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The `specversion` is not 1.0 or a required attribute is empty.
    #[error("event {id}: not a binwatch CloudEvent: {reason}")]
    Invalid {
        /// Event id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// The event types binwatch emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// `org.binwatch.bin.overflowing`: open a work order.
    #[serde(rename = "org.binwatch.bin.overflowing")]
    BinOverflowing,
    /// `org.binwatch.bin.renotify`: the work order is still open.
    #[serde(rename = "org.binwatch.bin.renotify")]
    BinRenotify,
    /// `org.binwatch.bin.resolved`: close the work order.
    #[serde(rename = "org.binwatch.bin.resolved")]
    BinResolved,
    /// `org.binwatch.camera.offline`.
    #[serde(rename = "org.binwatch.camera.offline")]
    CameraOffline,
    /// `org.binwatch.camera.online`.
    #[serde(rename = "org.binwatch.camera.online")]
    CameraOnline,
    /// `org.binwatch.camera.moved`: the view no longer matches the calibration reference (moved,
    /// covered, defocused or unrecognised); the bin regions may be wrong until it is fixed.
    #[serde(rename = "org.binwatch.camera.moved")]
    CameraMoved,
    /// `org.binwatch.camera.restored`: the view matches the reference again after `camera.moved`.
    #[serde(rename = "org.binwatch.camera.restored")]
    CameraRestored,
}

impl EventType {
    /// The CloudEvents `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BinOverflowing => "org.binwatch.bin.overflowing",
            EventType::BinRenotify => "org.binwatch.bin.renotify",
            EventType::BinResolved => "org.binwatch.bin.resolved",
            EventType::CameraOffline => "org.binwatch.camera.offline",
            EventType::CameraOnline => "org.binwatch.camera.online",
            EventType::CameraMoved => "org.binwatch.camera.moved",
            EventType::CameraRestored => "org.binwatch.camera.restored",
        }
    }

    /// Overflowing and resolved open and close work orders: the outbox never drops them.
    pub fn is_essential(self) -> bool {
        matches!(self, EventType::BinOverflowing | EventType::BinResolved)
    }

    /// A short upper-case word for log lines (`OVERFLOWING`, `RESOLVED`, ...).
    pub fn short(self) -> &'static str {
        match self {
            EventType::BinOverflowing => "OVERFLOWING",
            EventType::BinRenotify => "STILL-OVERFLOWING",
            EventType::BinResolved => "RESOLVED",
            EventType::CameraOffline => "CAMERA-OFFLINE",
            EventType::CameraOnline => "CAMERA-ONLINE",
            EventType::CameraMoved => "CAMERA-MOVED",
            EventType::CameraRestored => "CAMERA-RESTORED",
        }
    }
}

impl From<TransitionKind> for EventType {
    fn from(k: TransitionKind) -> Self {
        match k {
            TransitionKind::Overflowing => EventType::BinOverflowing,
            TransitionKind::Renotify => EventType::BinRenotify,
            TransitionKind::Resolved => EventType::BinResolved,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CloudEvents 1.0 event in structured JSON form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always `"1.0"`.
    pub specversion: String,
    /// UUID v4, stable across resends.
    pub id: String,
    /// `binwatch://<host>/<camera>`.
    pub source: String,
    /// The event type.
    #[serde(rename = "type")]
    pub ty: EventType,
    /// RFC 3339 UTC time of the observation that caused the event.
    pub time: String,
    /// Bin id (bin events) or camera id (camera events).
    pub subject: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The payload.
    pub data: EventData,
}

/// The `data` member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    /// For `org.binwatch.bin.*`.
    Bin(Box<BinData>),
    /// For `org.binwatch.camera.*`.
    Camera(CameraData),
}

/// Where a bin stands, from config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// WGS84 latitude (absent when the config gives none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// WGS84 longitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Street address, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The model that produced the probabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model name.
    pub name: String,
    /// Model version (from its metadata).
    pub version: String,
    /// How the weights are quantised (metadata `quantization`, e.g. `int8-qdq-per-channel`); absent for
    /// a float model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
}

/// One point of the score history, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// RFC 3339 time of the frame.
    pub time: String,
    /// p(alert class).
    pub p_full: f32,
    /// True if the frame was held (not used as evidence).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// Evidence images, base64 JPEG.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// The bin region's crop, JPEG, standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_jpeg_base64: Option<String>,
    /// The whole frame, JPEG, standard base64 (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_jpeg_base64: Option<String>,
    /// True when the outbox removed the images to stay within its size bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stripped: bool,
}

impl Evidence {
    /// Evidence from raw JPEG bytes.
    pub fn from_jpeg(crop: Option<&[u8]>, frame: Option<&[u8]>) -> Self {
        Evidence {
            crop_jpeg_base64: crop.map(|b| B64.encode(b)),
            frame_jpeg_base64: frame.map(|b| B64.encode(b)),
            stripped: false,
        }
    }

    /// Whether any image is present.
    pub fn has_images(&self) -> bool {
        self.crop_jpeg_base64.is_some() || self.frame_jpeg_base64.is_some()
    }

    /// Removes the images, marking the evidence as stripped. Returns whether anything changed.
    pub fn strip(&mut self) -> bool {
        let had = self.has_images();
        self.crop_jpeg_base64 = None;
        self.frame_jpeg_base64 = None;
        self.stripped |= had;
        had
    }
}

/// Payload of bin events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinData {
    /// Bin id.
    pub bin: String,
    /// Camera id.
    pub camera: String,
    /// Where the bin is.
    pub location: Location,
    /// The episode (= work order) this event belongs to.
    pub episode_id: EpisodeId,
    /// Top class of the triggering frame (`empty` / `partial` / `full`).
    pub level: String,
    /// Probability of the alert class in the triggering frame.
    pub p_full: f32,
    /// Probabilities by class name.
    pub probabilities: BTreeMap<String, f32>,
    /// When the overflow was confirmed (RFC 3339).
    pub overflowing_since: String,
    /// Start of the evidence run that triggered this event (RFC 3339).
    pub evidence_since: String,
    /// Renotifies so far in this episode.
    pub renotify_count: u32,
    /// Score history over the debounce window, oldest first.
    pub score_history: Vec<HistoryPoint>,
    /// The model.
    pub model: ModelInfo,
    /// Evidence images.
    pub evidence: Evidence,
}

/// Payload of camera events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraData {
    /// Camera id.
    pub camera: String,
    /// Why it went offline (last error), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Time of the last good frame (RFC 3339), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame_time: Option<String>,
    /// Bins watched by this camera.
    pub bins: Vec<String>,
    /// For `camera.moved` / `camera.restored`: the comparison with the calibration reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CameraCheck>,
}

/// The outcome of comparing a live frame with the camera's calibration reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraCheck {
    /// `ok`, `moved`, `covered`, `defocused` or `unrecognised`.
    pub verdict: String,
    /// For people: the measured figures and thresholds behind the verdict.
    pub explanation: String,
    /// Estimated shift of the view, in percent of the frame's width and height.
    pub shift_pct: [f64; 2],
    /// Structural similarity of the background (outside the bins) with the reference.
    pub background_ssim: f64,
    /// The reference image the frame was compared with.
    pub reference: String,
}

/// What the event builder needs to know about the bin besides the transition.
#[derive(Debug, Clone, PartialEq)]
pub struct BinContext<'a> {
    /// Host name for `source`.
    pub host: &'a str,
    /// Camera id.
    pub camera: &'a str,
    /// Bin location from config.
    pub location: &'a Location,
    /// Class names in model output order.
    pub class_names: &'a [String],
    /// The model.
    pub model: &'a ModelInfo,
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn uri_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `binwatch://<host>/<camera>`, each part percent-encoded.
pub fn source_uri(host: &str, camera: &str) -> String {
    format!("binwatch://{}/{}", uri_segment(host), uri_segment(camera))
}

/// A fresh random event id (UUID v4).
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Event {
    /// Builds a bin event from a debouncer transition. `id` is the event id to use forever
    /// (see [`new_event_id`]); tests pass a fixed one.
    pub fn from_transition(
        id: String,
        t: &Transition,
        ctx: &BinContext<'_>,
        evidence: Evidence,
    ) -> Result<Event, EventError> {
        if t.probabilities.len() != ctx.class_names.len() {
            return Err(EventError::ClassMismatch {
                bin: t.bin.clone(),
                got: t.probabilities.len(),
                expected: ctx.class_names.len(),
            });
        }
        let probabilities = ctx
            .class_names
            .iter()
            .cloned()
            .zip(t.probabilities.iter().copied())
            .collect();
        let score_history = t
            .history
            .iter()
            .map(|s| HistoryPoint {
                time: s.time.to_rfc3339(),
                p_full: s.p_full,
                held: s.held,
            })
            .collect();
        Ok(Event {
            specversion: "1.0".into(),
            id,
            source: source_uri(ctx.host, ctx.camera),
            ty: t.kind.into(),
            time: t.at.to_rfc3339(),
            subject: t.bin.clone(),
            datacontenttype: "application/json".into(),
            data: EventData::Bin(Box::new(BinData {
                bin: t.bin.clone(),
                camera: ctx.camera.to_string(),
                location: ctx.location.clone(),
                episode_id: t.episode.clone(),
                level: t.level.clone(),
                p_full: t.p_full,
                probabilities,
                overflowing_since: t.overflowing_since.to_rfc3339(),
                evidence_since: t.evidence_since.to_rfc3339(),
                renotify_count: t.renotify_count,
                score_history,
                model: ctx.model.clone(),
                evidence,
            })),
        })
    }

    /// Builds `camera.offline` (`online == false`) or `camera.online` for `data.camera`.
    pub fn camera(
        id: String,
        host: &str,
        online: bool,
        time: Timestamp,
        data: CameraData,
    ) -> Event {
        let camera = data.camera.clone();
        Event {
            specversion: "1.0".into(),
            id,
            source: source_uri(host, &camera),
            ty: if online {
                EventType::CameraOnline
            } else {
                EventType::CameraOffline
            },
            time: time.to_rfc3339(),
            subject: camera,
            datacontenttype: "application/json".into(),
            data: EventData::Camera(data),
        }
    }

    /// Builds `camera.moved` (`moved == true`) or `camera.restored` for `data.camera`.
    pub fn camera_check(
        id: String,
        host: &str,
        moved: bool,
        time: Timestamp,
        data: CameraData,
    ) -> Event {
        let mut ev = Event::camera(id, host, !moved, time, data);
        ev.ty = if moved {
            EventType::CameraMoved
        } else {
            EventType::CameraRestored
        };
        ev
    }

    /// The bin data, for bin events.
    pub fn bin_data(&self) -> Option<&BinData> {
        match &self.data {
            EventData::Bin(b) => Some(b),
            EventData::Camera(_) => None,
        }
    }

    /// Key under which the outbox keeps events in order: `bin:<id>` or `camera:<id>`.
    pub fn ordering_key(&self) -> String {
        match &self.data {
            EventData::Bin(b) => format!("bin:{}", b.bin),
            EventData::Camera(c) => format!("camera:{}", c.camera),
        }
    }

    /// Removes evidence images (bin events). Returns whether anything was removed.
    pub fn strip_evidence(&mut self) -> bool {
        match &mut self.data {
            EventData::Bin(b) => b.evidence.strip(),
            EventData::Camera(_) => false,
        }
    }

    /// Whether the event still carries evidence images.
    pub fn has_evidence(&self) -> bool {
        self.bin_data().is_some_and(|b| b.evidence.has_images())
    }

    /// Compact JSON bytes, the body sinks send.
    pub fn to_json(&self) -> Result<Vec<u8>, EventError> {
        serde_json::to_vec(self).map_err(|source| EventError::Json {
            id: self.id.clone(),
            source,
        })
    }

    /// Parses and checks an event (specversion 1.0, non-empty id/source/subject).
    pub fn from_json(bytes: &[u8]) -> Result<Event, EventError> {
        let ev: Event = serde_json::from_slice(bytes).map_err(|source| EventError::Json {
            id: "?".into(),
            source,
        })?;
        let invalid = |reason: &str| EventError::Invalid {
            id: ev.id.clone(),
            reason: reason.to_string(),
        };
        if ev.specversion != "1.0" {
            return Err(invalid("specversion is not 1.0"));
        }
        if ev.id.is_empty() || ev.source.is_empty() || ev.subject.is_empty() {
            return Err(invalid("empty id, source or subject"));
        }
        Ok(ev)
    }

    /// One human-readable line, e.g. for `binwatch receive` and logs.
    pub fn summary_line(&self) -> String {
        match &self.data {
            EventData::Bin(b) => {
                let addr = b.location.address.as_deref().unwrap_or("-");
                let pos = match (b.location.lat, b.location.lon) {
                    (Some(lat), Some(lon)) => format!("{lat:.6},{lon:.6}"),
                    _ => "no position".to_string(),
                };
                format!(
                    "{} {} bin={} camera={} level={} p_full={:.2} at \"{}\" ({}) episode={} id={}",
                    self.time,
                    self.ty.short(),
                    b.bin,
                    b.camera,
                    b.level,
                    b.p_full,
                    addr,
                    pos,
                    b.episode_id,
                    self.id
                )
            }
            EventData::Camera(c) => format!(
                "{} {} camera={} reason={} id={}",
                self.time,
                self.ty.short(),
                c.camera,
                c.reason.as_deref().unwrap_or("-"),
                self.id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debounce::ScoreSample;

    fn transition(kind: TransitionKind) -> Transition {
        let t0 = Timestamp::from_unix_secs(1_796_327_100);
        Transition {
            kind,
            bin: "bin-7".into(),
            episode: EpisodeId("bin-7-1796327040000".into()),
            at: t0,
            evidence_since: Timestamp::from_unix_secs(1_796_327_040),
            overflowing_since: t0,
            probabilities: vec![0.0625, 0.125, 0.8125],
            p_full: 0.8125,
            level: "full".into(),
            renotify_count: 0,
            history: vec![
                ScoreSample {
                    time: Timestamp::from_unix_secs(1_796_327_040),
                    p_full: 0.75,
                    held: false,
                },
                ScoreSample {
                    time: Timestamp::from_unix_ms(1_796_327_070_500),
                    p_full: 0.5,
                    held: true,
                },
                ScoreSample {
                    time: t0,
                    p_full: 0.8125,
                    held: false,
                },
            ],
        }
    }

    fn ctx_parts() -> (Location, Vec<String>, ModelInfo) {
        (
            Location {
                lat: Some(-34.9011),
                lon: Some(-56.1645),
                address: Some("Av. 18 de Julio 1234".into()),
            },
            vec!["empty".into(), "partial".into(), "full".into()],
            ModelInfo {
                name: "binfill".into(),
                version: "2026.12.1".into(),
                quantization: None,
            },
        )
    }

    #[test]
    fn overflowing_event_exact_json() {
        let (loc, names, model) = ctx_parts();
        let ctx = BinContext {
            host: "edge-01",
            camera: "cam north",
            location: &loc,
            class_names: &names,
            model: &model,
        };
        let ev = Event::from_transition(
            "5f0c6f8e-4c1a-4b7e-9d3a-2a1b3c4d5e6f".into(),
            &transition(TransitionKind::Overflowing),
            &ctx,
            Evidence::from_jpeg(Some(&[0xFF, 0xD8, 0xFF, 0xD9]), None),
        )
        .expect("event");
        let json = String::from_utf8(ev.to_json().expect("json")).expect("utf8");
        let expected = concat!(
            r#"{"specversion":"1.0","id":"5f0c6f8e-4c1a-4b7e-9d3a-2a1b3c4d5e6f","#,
            r#""source":"binwatch://edge-01/cam%20north","type":"org.binwatch.bin.overflowing","#,
            r#""time":"2026-12-03T19:45:00Z","subject":"bin-7","datacontenttype":"application/json","#,
            r#""data":{"bin":"bin-7","camera":"cam north","#,
            r#""location":{"lat":-34.9011,"lon":-56.1645,"address":"Av. 18 de Julio 1234"},"#,
            r#""episode_id":"bin-7-1796327040000","level":"full","p_full":0.8125,"#,
            r#""probabilities":{"empty":0.0625,"full":0.8125,"partial":0.125},"#,
            r#""overflowing_since":"2026-12-03T19:45:00Z","evidence_since":"2026-12-03T19:44:00Z","#,
            r#""renotify_count":0,"score_history":["#,
            r#"{"time":"2026-12-03T19:44:00Z","p_full":0.75},"#,
            r#"{"time":"2026-12-03T19:44:30.500Z","p_full":0.5,"held":true},"#,
            r#"{"time":"2026-12-03T19:45:00Z","p_full":0.8125}],"#,
            r#""model":{"name":"binfill","version":"2026.12.1"},"#,
            r#""evidence":{"crop_jpeg_base64":"/9j/2Q=="}}}"#
        );
        assert_eq!(json, expected);
        let back = Event::from_json(json.as_bytes()).expect("parse back");
        assert_eq!(back, ev);
        assert!(back.has_evidence());
        assert_eq!(back.ordering_key(), "bin:bin-7");
        assert_eq!(
            back.summary_line(),
            "2026-12-03T19:45:00Z OVERFLOWING bin=bin-7 camera=cam north level=full p_full=0.81 \
             at \"Av. 18 de Julio 1234\" (-34.901100,-56.164500) episode=bin-7-1796327040000 \
             id=5f0c6f8e-4c1a-4b7e-9d3a-2a1b3c4d5e6f"
        );
    }

    #[test]
    fn types_map_from_transitions() {
        let (loc, names, model) = ctx_parts();
        let ctx = BinContext {
            host: "h",
            camera: "c",
            location: &loc,
            class_names: &names,
            model: &model,
        };
        for (k, ty) in [
            (TransitionKind::Overflowing, "org.binwatch.bin.overflowing"),
            (TransitionKind::Renotify, "org.binwatch.bin.renotify"),
            (TransitionKind::Resolved, "org.binwatch.bin.resolved"),
        ] {
            let ev = Event::from_transition("x".into(), &transition(k), &ctx, Evidence::default())
                .expect("event");
            let v: serde_json::Value =
                serde_json::from_slice(&ev.to_json().expect("json")).expect("value");
            assert_eq!(v["type"], ty);
            assert_eq!(ev.ty.as_str(), ty);
            assert!(
                v["data"]["evidence"]
                    .as_object()
                    .is_some_and(|o| o.is_empty())
            );
        }
        let mut bad = transition(TransitionKind::Overflowing);
        bad.probabilities.pop();
        let err = Event::from_transition("x".into(), &bad, &ctx, Evidence::default())
            .expect_err("mismatch");
        assert!(err.to_string().contains("bin-7"));
    }

    #[test]
    fn camera_event_exact_json() {
        let ev = Event::camera(
            "id-1".into(),
            "edge-01",
            false,
            Timestamp::from_unix_secs(1_796_327_100),
            CameraData {
                camera: "cam-2".into(),
                reason: Some("connect timeout".into()),
                last_frame_time: Some(Timestamp::from_unix_secs(1_796_327_000).to_rfc3339()),
                bins: vec!["bin-1".into(), "bin-2".into()],
                check: None,
            },
        );
        let json = String::from_utf8(ev.to_json().expect("json")).expect("utf8");
        assert_eq!(
            json,
            concat!(
                r#"{"specversion":"1.0","id":"id-1","source":"binwatch://edge-01/cam-2","#,
                r#""type":"org.binwatch.camera.offline","time":"2026-12-03T19:45:00Z","subject":"cam-2","#,
                r#""datacontenttype":"application/json","data":{"camera":"cam-2","reason":"connect timeout","#,
                r#""last_frame_time":"2026-12-03T19:43:20Z","bins":["bin-1","bin-2"]}}"#
            )
        );
        let back = Event::from_json(json.as_bytes()).expect("parse");
        assert_eq!(back, ev);
        assert_eq!(back.ordering_key(), "camera:cam-2");
        assert!(!back.ty.is_essential());
    }

    #[test]
    fn strip_evidence_marks_it() {
        let (loc, names, model) = ctx_parts();
        let ctx = BinContext {
            host: "h",
            camera: "c",
            location: &loc,
            class_names: &names,
            model: &model,
        };
        let mut ev = Event::from_transition(
            "x".into(),
            &transition(TransitionKind::Resolved),
            &ctx,
            Evidence::from_jpeg(Some(b"crop"), Some(b"frame")),
        )
        .expect("event");
        assert!(ev.has_evidence());
        assert!(ev.strip_evidence());
        assert!(!ev.strip_evidence());
        let v: serde_json::Value =
            serde_json::from_slice(&ev.to_json().expect("json")).expect("value");
        assert_eq!(v["data"]["evidence"], serde_json::json!({"stripped": true}));
    }

    #[test]
    fn rejects_foreign_json_and_ids_are_uuid_v4() {
        let err = Event::from_json(br#"{"specversion":"0.3","id":"a","source":"s","type":"org.binwatch.camera.online","time":"t","subject":"c","datacontenttype":"application/json","data":{"camera":"c","bins":[]}}"#)
            .expect_err("0.3");
        assert!(err.to_string().contains("event a"));
        assert!(Event::from_json(b"{}").is_err());
        let id = new_event_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_event_id());
        assert_eq!(source_uri("h/x", "ç"), "binwatch://h%2Fx/%C3%A7");
    }
}
