//! Per-bin debouncer: turns a noisy stream of classifier outputs into overflow episodes.
//!
//! A pure state machine with no clock and no I/O: each call to [`Debouncer::observe`] carries the
//! frame's time, the class probabilities and whether the bin's region was readable, and may return
//! a [`Transition`]. Rules (all durations are wall-clock time between frames, never frame counts):
//!
//! * **Held frames.** A frame is *held* (ignored as evidence) when the region is blocked or
//!   unreadable, when the top probability is below [`DebounceConfig::min_confidence`], when the
//!   probabilities are malformed (wrong length, NaN, negative), or when its time goes backwards.
//!   A held frame neither confirms nor clears; it is still recorded in the score history.
//! * **Gaps.** Evidence must be continuous: when two consecutive *usable* frames are more than
//!   [`DebounceConfig::max_gap`] apart (a dead camera, or a long run of held frames), any pending
//!   confirmation or clearing restarts at the later frame instead of counting the gap as evidence.
//! * **Entering.** From `Clear`, a run of usable frames with `p(full) >= enter_threshold` lasting
//!   at least `confirm_for` (first to last frame of the run) confirms an overflow:
//!   [`TransitionKind::Overflowing`] with a new episode id. Any usable frame below the enter
//!   threshold ends the run.
//! * **Leaving.** While overflowing, a run of usable frames with `p(full) <= exit_threshold`
//!   lasting at least `clear_for` resolves it ([`TransitionKind::Resolved`]). Frames between the
//!   two thresholds (the hysteresis band) end a clearing run but never start a new episode.
//! * **Re-notification.** While an episode is unresolved and no clearing run is in progress,
//!   [`TransitionKind::Renotify`] fires at `confirmed_at + k * renotify_every` (k = 1, 2, ...) on
//!   the first frame (usable or held) at or after each due time; missed due times collapse to one.
//!
//! One episode is one work order: its [`EpisodeId`] is `<bin>-<ms of first full frame>`, stable
//! and deterministic, and shared by the overflowing, renotify and resolved transitions.
//! A bounded score history `(time, p_full, held)` covering `history_window` travels with every
//! transition so the event can show why it fired.
//!
//! **Surviving a restart.** [`Debouncer::saved`] is what must outlive the process (the open episode, its
//! confirmation time and renotify count, the last resolution); [`Debouncer::restore`] puts it back into a
//! fresh debouncer, with whatever config it was built with. Runs in progress are not kept: evidence starts
//! again from the next frame, so an episode open before a restart is resolved (with the same id) once the
//! bin reads clear for `clear_for`, and is never opened twice. The daemon stores it (`binstate`).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Errors building a debouncer; each names the bin it concerns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DebounceError {
    /// A configuration value is out of range.
    #[error("bin {bin}: invalid debounce config: {reason}")]
    InvalidConfig {
        /// The bin whose config was rejected.
        bin: String,
        /// What is wrong.
        reason: String,
    },
    /// The alert class (e.g. `full`) is not among the model's classes.
    #[error("bin {bin}: alert class {class:?} is not one of the model classes {classes:?}")]
    UnknownAlertClass {
        /// The bin concerned.
        bin: String,
        /// The missing class name.
        class: String,
        /// The model's classes.
        classes: Vec<String>,
    },
}

/// Tunables of the debouncer. Build with `Default` and override; check with [`Self::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct DebounceConfig {
    /// `p(full)` at or above which a frame counts towards an overflow (default 0.7).
    pub enter_threshold: f32,
    /// `p(full)` at or below which a frame counts towards clearing (default 0.3). Must be < enter.
    pub exit_threshold: f32,
    /// How long `p(full)` must stay at/above enter to confirm (default 60 s).
    pub confirm_for: Duration,
    /// How long `p(full)` must stay at/below exit to resolve (default 120 s).
    pub clear_for: Duration,
    /// Re-notify an unresolved episode this often (default 2 h); `None` disables it.
    pub renotify_every: Option<Duration>,
    /// Frames whose top probability is below this are held (default 0.5).
    pub min_confidence: f32,
    /// Longest gap between usable frames that still counts as continuous (default 30 s).
    pub max_gap: Duration,
    /// Score history kept for events, by age (default 5 min).
    pub history_window: Duration,
    /// Score history kept for events, by count (default 600 samples).
    pub history_max_samples: usize,
    /// A confirming or clearing run also needs at least this many usable frames (default 1:
    /// duration alone decides).
    pub min_frames: u32,
}

impl Default for DebounceConfig {
    fn default() -> Self {
        DebounceConfig {
            enter_threshold: 0.7,
            exit_threshold: 0.3,
            confirm_for: Duration::from_secs(60),
            clear_for: Duration::from_secs(120),
            renotify_every: Some(Duration::from_secs(2 * 3600)),
            min_confidence: 0.5,
            max_gap: Duration::from_secs(30),
            history_window: Duration::from_secs(300),
            history_max_samples: 600,
            min_frames: 1,
        }
    }
}

impl DebounceConfig {
    /// Checks ranges: `0 <= exit < enter <= 1`, `0 <= min_confidence <= 1`, durations and the
    /// history size non-zero. `bin` only labels the error.
    pub fn validate(&self, bin: &str) -> Result<(), DebounceError> {
        let bad = |reason: String| {
            Err(DebounceError::InvalidConfig {
                bin: bin.to_string(),
                reason,
            })
        };
        let unit = |x: f32| x.is_finite() && (0.0..=1.0).contains(&x);
        if !unit(self.enter_threshold) || !unit(self.exit_threshold) {
            return bad(format!(
                "thresholds must be within 0..=1 (enter {}, exit {})",
                self.enter_threshold, self.exit_threshold
            ));
        }
        if self.exit_threshold >= self.enter_threshold {
            return bad(format!(
                "exit_threshold {} must be below enter_threshold {}",
                self.exit_threshold, self.enter_threshold
            ));
        }
        if !unit(self.min_confidence) {
            return bad(format!(
                "min_confidence {} must be within 0..=1",
                self.min_confidence
            ));
        }
        for (name, d) in [
            ("confirm_for", self.confirm_for),
            ("clear_for", self.clear_for),
            ("max_gap", self.max_gap),
            ("history_window", self.history_window),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be greater than zero"));
            }
        }
        if self.renotify_every.is_some_and(|d| d.is_zero()) {
            return bad("renotify_every must be greater than zero (or unset)".into());
        }
        if self.history_max_samples == 0 {
            return bad("history_max_samples must be greater than zero".into());
        }
        Ok(())
    }
}

/// The model's class names and which one raises alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classes {
    names: Vec<String>,
    alert: usize,
}

impl Classes {
    /// `names` in the model's output order; `alert` the name of the overflow class (e.g. `full`).
    pub fn new(bin: &str, names: Vec<String>, alert: &str) -> Result<Self, DebounceError> {
        match names.iter().position(|n| n == alert) {
            Some(alert) => Ok(Classes { names, alert }),
            None => Err(DebounceError::UnknownAlertClass {
                bin: bin.to_string(),
                class: alert.to_string(),
                classes: names,
            }),
        }
    }

    /// Class names in output order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Index of the alert class.
    pub fn alert_index(&self) -> usize {
        self.alert
    }

    /// Name of the alert class.
    pub fn alert_name(&self) -> &str {
        &self.names[self.alert]
    }
}

/// Identifies one overflow episode (= one work order): `<bin>-<unix ms of its first full frame>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EpisodeId(pub String);

impl fmt::Display for EpisodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One point of the score history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreSample {
    /// Frame time.
    pub time: Timestamp,
    /// Probability of the alert class (NaN-free; malformed frames record 0).
    pub p_full: f32,
    /// Whether the frame was held (not used as evidence).
    pub held: bool,
}

/// Why a frame was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// The caller said the region was blocked or unreadable.
    RegionUnreadable,
    /// Top probability below `min_confidence`.
    LowConfidence,
    /// Wrong number of probabilities, NaN or negative values.
    Malformed,
    /// Frame time earlier than the previous frame's.
    TimeWentBackwards,
}

/// What happened to the bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// An overflow was confirmed: open a work order.
    Overflowing,
    /// Still overflowing after `renotify_every`: remind.
    Renotify,
    /// The bin was emptied: close the work order.
    Resolved,
}

/// Output of the debouncer, carrying everything the event needs from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// What happened.
    pub kind: TransitionKind,
    /// The bin.
    pub bin: String,
    /// The episode (same id for overflowing, renotify and resolved of one overflow).
    pub episode: EpisodeId,
    /// Time of the frame that caused the transition.
    pub at: Timestamp,
    /// Start of the evidence run that caused it (first full frame, or first clear frame).
    pub evidence_since: Timestamp,
    /// When the overflow was confirmed.
    pub overflowing_since: Timestamp,
    /// Probabilities of the frame that caused it (in class order).
    pub probabilities: Vec<f32>,
    /// Alert-class probability of that frame.
    pub p_full: f32,
    /// Name of that frame's top class (the "level").
    pub level: String,
    /// How many renotifies this episode has had, including this one.
    pub renotify_count: u32,
    /// Score history over the window, oldest first.
    pub history: Vec<ScoreSample>,
}

/// Current state, for metrics and `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinState {
    /// No open episode; `pending_since` is the start of a run towards overflow, if any.
    Clear {
        /// Start of the current full run.
        pending_since: Option<Timestamp>,
    },
    /// An open episode.
    Overflowing {
        /// The episode.
        episode: EpisodeId,
        /// When it was confirmed.
        since: Timestamp,
        /// Start of the current clearing run.
        clearing_since: Option<Timestamp>,
    },
}

/// The part of a debouncer that outlives the process: see [`Debouncer::saved`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    /// The open episode, if the bin is overflowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<SavedEpisode>,
    /// When the bin was last resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Timestamp>,
}

/// An open episode as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedEpisode {
    /// Its id (the work order).
    pub id: EpisodeId,
    /// When it was confirmed.
    pub since: Timestamp,
    /// Renotifies sent so far.
    #[serde(default)]
    pub renotify_count: u32,
}

/// The per-bin state machine. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Debouncer {
    bin: String,
    classes: Classes,
    cfg: DebounceConfig,
    state: BinState,
    last_usable: Option<Timestamp>,
    last_frame: Option<Timestamp>,
    next_renotify: Option<Timestamp>,
    renotify_count: u32,
    history: VecDeque<ScoreSample>,
    last_hold: Option<HoldReason>,
    held_frames: u64,
    cleared_at: Option<Timestamp>,
    run_frames: u32,
}

impl Debouncer {
    /// A debouncer for `bin`, validating the config.
    pub fn new(bin: &str, classes: Classes, cfg: DebounceConfig) -> Result<Self, DebounceError> {
        cfg.validate(bin)?;
        Ok(Debouncer {
            bin: bin.to_string(),
            classes,
            cfg,
            state: BinState::Clear {
                pending_since: None,
            },
            last_usable: None,
            last_frame: None,
            next_renotify: None,
            renotify_count: 0,
            history: VecDeque::new(),
            last_hold: None,
            held_frames: 0,
            cleared_at: None,
            run_frames: 0,
        })
    }

    /// The bin id.
    pub fn bin(&self) -> &str {
        &self.bin
    }

    /// Current state.
    pub fn state(&self) -> &BinState {
        &self.state
    }

    /// Why the last held frame was held, if any frame was.
    pub fn last_hold(&self) -> Option<HoldReason> {
        self.last_hold
    }

    /// Number of held frames so far.
    pub fn held_frames(&self) -> u64 {
        self.held_frames
    }

    /// p(alert class) of the latest frame (held or not), for metrics.
    pub fn last_p_full(&self) -> Option<f32> {
        self.history.back().map(|s| s.p_full)
    }

    /// When the current state began: confirmation time while overflowing, otherwise the time of
    /// the last resolution (or `None` if the bin has never overflowed). For "time in state".
    pub fn state_since(&self) -> Option<Timestamp> {
        match &self.state {
            BinState::Overflowing { since, .. } => Some(*since),
            BinState::Clear { .. } => self.cleared_at,
        }
    }

    /// The score history currently kept, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &ScoreSample> {
        self.history.iter()
    }

    /// The config in force.
    pub fn config(&self) -> &DebounceConfig {
        &self.cfg
    }

    /// What must survive a restart or a change of settings: the open episode and the last resolution.
    pub fn saved(&self) -> SavedState {
        SavedState {
            episode: match &self.state {
                BinState::Overflowing { episode, since, .. } => Some(SavedEpisode {
                    id: episode.clone(),
                    since: *since,
                    renotify_count: self.renotify_count,
                }),
                BinState::Clear { .. } => None,
            },
            cleared_at: self.cleared_at,
        }
    }

    /// Puts a saved state back. Runs in progress start over at the next frame; an open episode's next
    /// renotify is due at `since + (renotify_count + 1) * renotify_every` of this debouncer's config
    /// (at the first frame, if that is already past).
    pub fn restore(&mut self, saved: &SavedState) {
        self.cleared_at = saved.cleared_at;
        self.run_frames = 0;
        self.last_usable = None;
        match &saved.episode {
            Some(e) => {
                self.state = BinState::Overflowing {
                    episode: e.id.clone(),
                    since: e.since,
                    clearing_since: None,
                };
                self.renotify_count = e.renotify_count;
                self.next_renotify = self
                    .cfg
                    .renotify_every
                    .map(|every| e.since.plus(every * e.renotify_count.saturating_add(1)));
            }
            None => {
                self.state = BinState::Clear {
                    pending_since: None,
                };
                self.renotify_count = 0;
                self.next_renotify = None;
            }
        }
    }

    /// Feeds one frame. `probabilities` are in the order of [`Classes::names`]; `region_ok` is
    /// false when the bin's region is blocked or unreadable.
    pub fn observe(
        &mut self,
        time: Timestamp,
        probabilities: &[f32],
        region_ok: bool,
    ) -> Option<Transition> {
        if self.last_frame.is_some_and(|last| time < last) {
            self.hold(HoldReason::TimeWentBackwards);
            return None;
        }
        self.last_frame = Some(time);

        let malformed = probabilities.len() != self.classes.names.len()
            || probabilities.iter().any(|p| !p.is_finite() || *p < 0.0);
        let p_full = if malformed {
            0.0
        } else {
            probabilities[self.classes.alert]
        };
        let top = if malformed {
            0.0
        } else {
            probabilities.iter().copied().fold(0.0f32, f32::max)
        };
        let hold = if malformed {
            Some(HoldReason::Malformed)
        } else if !region_ok {
            Some(HoldReason::RegionUnreadable)
        } else if top < self.cfg.min_confidence {
            Some(HoldReason::LowConfidence)
        } else {
            None
        };
        self.push_history(ScoreSample {
            time,
            p_full,
            held: hold.is_some(),
        });

        if let Some(reason) = hold {
            self.hold(reason);
            return self.maybe_renotify(time, probabilities, p_full);
        }

        // A usable frame. A gap since the previous usable frame breaks any running evidence.
        let gap = self
            .last_usable
            .is_some_and(|prev| time.since(prev) > self.cfg.max_gap);
        self.last_usable = Some(time);

        match &mut self.state {
            BinState::Clear { pending_since } => {
                if p_full >= self.cfg.enter_threshold {
                    let since = match *pending_since {
                        Some(s) if !gap => {
                            self.run_frames += 1;
                            s
                        }
                        _ => {
                            self.run_frames = 1;
                            time
                        }
                    };
                    *pending_since = Some(since);
                    if time.since(since) >= self.cfg.confirm_for
                        && self.run_frames >= self.cfg.min_frames
                    {
                        let episode = EpisodeId(format!("{}-{}", self.bin, since.as_unix_ms()));
                        self.state = BinState::Overflowing {
                            episode: episode.clone(),
                            since: time,
                            clearing_since: None,
                        };
                        self.renotify_count = 0;
                        self.next_renotify = self.cfg.renotify_every.map(|d| time.plus(d));
                        return Some(self.transition(
                            TransitionKind::Overflowing,
                            episode,
                            time,
                            since,
                            time,
                            probabilities,
                            p_full,
                        ));
                    }
                } else {
                    *pending_since = None;
                }
                None
            }
            BinState::Overflowing {
                episode,
                since,
                clearing_since,
            } => {
                if p_full <= self.cfg.exit_threshold {
                    let start = match *clearing_since {
                        Some(s) if !gap => {
                            self.run_frames += 1;
                            s
                        }
                        _ => {
                            self.run_frames = 1;
                            time
                        }
                    };
                    *clearing_since = Some(start);
                    if time.since(start) >= self.cfg.clear_for
                        && self.run_frames >= self.cfg.min_frames
                    {
                        let (episode, confirmed) = (episode.clone(), *since);
                        self.state = BinState::Clear {
                            pending_since: None,
                        };
                        self.next_renotify = None;
                        self.cleared_at = Some(time);
                        return Some(self.transition(
                            TransitionKind::Resolved,
                            episode,
                            time,
                            start,
                            confirmed,
                            probabilities,
                            p_full,
                        ));
                    }
                    None
                } else {
                    *clearing_since = None;
                    self.maybe_renotify(time, probabilities, p_full)
                }
            }
        }
    }

    fn hold(&mut self, reason: HoldReason) {
        self.last_hold = Some(reason);
        self.held_frames += 1;
    }

    fn maybe_renotify(
        &mut self,
        time: Timestamp,
        probabilities: &[f32],
        p_full: f32,
    ) -> Option<Transition> {
        let BinState::Overflowing {
            episode,
            since,
            clearing_since: None,
        } = &self.state
        else {
            return None;
        };
        let (every, due) = (self.cfg.renotify_every?, self.next_renotify?);
        if time < due {
            return None;
        }
        let (episode, since) = (episode.clone(), *since);
        let mut next = due;
        while next <= time {
            next = next.plus(every);
        }
        self.next_renotify = Some(next);
        self.renotify_count += 1;
        Some(self.transition(
            TransitionKind::Renotify,
            episode,
            time,
            since,
            since,
            probabilities,
            p_full,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        kind: TransitionKind,
        episode: EpisodeId,
        at: Timestamp,
        evidence_since: Timestamp,
        overflowing_since: Timestamp,
        probabilities: &[f32],
        p_full: f32,
    ) -> Transition {
        let level = probabilities
            .iter()
            .enumerate()
            .fold(None::<(usize, f32)>, |best, (i, &p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((i, p)),
            })
            .and_then(|(i, _)| self.classes.names.get(i).cloned())
            .unwrap_or_default();
        Transition {
            kind,
            bin: self.bin.clone(),
            episode,
            at,
            evidence_since,
            overflowing_since,
            probabilities: probabilities.to_vec(),
            p_full,
            level,
            renotify_count: self.renotify_count,
            history: self.history.iter().copied().collect(),
        }
    }

    fn push_history(&mut self, s: ScoreSample) {
        self.history.push_back(s);
        while let Some(front) = self.history.front() {
            let too_old = s.time.since(front.time) > self.cfg.history_window;
            if too_old || self.history.len() > self.cfg.history_max_samples {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_796_327_100_000;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix_ms(T0 + secs * 1000)
    }

    fn classes() -> Classes {
        Classes::new(
            "bin-7",
            vec!["empty".into(), "partial".into(), "full".into()],
            "full",
        )
        .expect("full is a class")
    }

    fn deb(cfg: DebounceConfig) -> Debouncer {
        Debouncer::new("bin-7", classes(), cfg).expect("valid config")
    }

    /// Confident probabilities with the given p(full).
    fn probs(p_full: f32) -> [f32; 3] {
        let rest = 1.0 - p_full;
        if p_full >= 0.5 {
            [rest / 2.0, rest / 2.0, p_full]
        } else {
            [rest, 0.0, p_full]
        }
    }

    /// Feeds `p(secs)` every `step` seconds over `[from, to)`, collecting transitions.
    fn run(
        d: &mut Debouncer,
        from: u64,
        to: u64,
        step: u64,
        mut p: impl FnMut(u64) -> f32,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut s = from;
        while s < to {
            if let Some(t) = d.observe(at(s), &probs(p(s)), true) {
                out.push(t);
            }
            s += step;
        }
        out
    }

    fn kinds(ts: &[Transition]) -> Vec<(TransitionKind, u64)> {
        ts.iter()
            .map(|t| (t.kind, (t.at.as_unix_ms() - T0) / 1000))
            .collect()
    }

    #[test]
    fn config_validation() {
        assert!(DebounceConfig::default().validate("b").is_ok());
        let cases: Vec<(DebounceConfig, &str)> = vec![
            (
                DebounceConfig {
                    exit_threshold: 0.7,
                    ..Default::default()
                },
                "exit_threshold",
            ),
            (
                DebounceConfig {
                    enter_threshold: 1.5,
                    ..Default::default()
                },
                "0..=1",
            ),
            (
                DebounceConfig {
                    confirm_for: Duration::ZERO,
                    ..Default::default()
                },
                "confirm_for",
            ),
            (
                DebounceConfig {
                    clear_for: Duration::ZERO,
                    ..Default::default()
                },
                "clear_for",
            ),
            (
                DebounceConfig {
                    max_gap: Duration::ZERO,
                    ..Default::default()
                },
                "max_gap",
            ),
            (
                DebounceConfig {
                    renotify_every: Some(Duration::ZERO),
                    ..Default::default()
                },
                "renotify_every",
            ),
            (
                DebounceConfig {
                    min_confidence: f32::NAN,
                    ..Default::default()
                },
                "min_confidence",
            ),
            (
                DebounceConfig {
                    history_max_samples: 0,
                    ..Default::default()
                },
                "history_max_samples",
            ),
        ];
        for (cfg, needle) in cases {
            let err = Debouncer::new("bin-9", classes(), cfg).expect_err(needle);
            let msg = err.to_string();
            assert!(msg.contains("bin-9") && msg.contains(needle), "{msg}");
        }
        let err = Classes::new("bin-3", vec!["a".into()], "full").expect_err("no full");
        assert!(err.to_string().contains("bin-3"));
    }

    #[test]
    fn confirms_after_exact_duration_and_resolves_after_clear_for() {
        let mut d = deb(DebounceConfig::default());
        // empty for 10 min, full from 600 s to 1800 s, empty after, 1 fps.
        let ts = run(&mut d, 0, 3600, 1, |s| {
            if (600..1800).contains(&s) { 0.95 } else { 0.02 }
        });
        assert_eq!(
            kinds(&ts),
            vec![
                (TransitionKind::Overflowing, 660),
                (TransitionKind::Resolved, 1920)
            ]
        );
        let (o, r) = (&ts[0], &ts[1]);
        assert_eq!(o.episode, r.episode);
        assert_eq!(o.episode.0, format!("bin-7-{}", at(600).as_unix_ms()));
        assert_eq!(o.evidence_since, at(600));
        assert_eq!(o.level, "full");
        assert!((o.p_full - 0.95).abs() < 1e-6);
        assert_eq!(r.evidence_since, at(1800));
        assert_eq!(r.overflowing_since, at(660));
        assert_eq!(r.level, "empty");
        assert_eq!(
            d.state(),
            &BinState::Clear {
                pending_since: None
            }
        );
    }

    #[test]
    fn confirmation_is_by_time_not_frame_count() {
        // One frame every 20 s: confirmation still needs 60 s, i.e. the 4th full frame.
        let mut d = deb(DebounceConfig::default());
        let ts = run(&mut d, 0, 200, 20, |_| 0.9);
        assert_eq!(kinds(&ts), vec![(TransitionKind::Overflowing, 60)]);
        // At 10 fps it needs 600 frames, still 60 s.
        let mut d = deb(DebounceConfig::default());
        let mut first = None;
        for i in 0..2000u64 {
            let t = Timestamp::from_unix_ms(T0 + i * 100);
            if let Some(tr) = d.observe(t, &probs(0.9), true) {
                first.get_or_insert(tr.at);
            }
        }
        assert_eq!(first, Some(Timestamp::from_unix_ms(T0 + 60_000)));
    }

    #[test]
    fn flapping_around_thresholds_makes_no_extra_episodes() {
        let mut d = deb(DebounceConfig::default());
        // Six hours alternating every 5 s between 0.69 and 0.71: never 60 s continuously above.
        let ts = run(&mut d, 0, 6 * 3600, 5, |s| {
            if (s / 5) % 2 == 0 { 0.71 } else { 0.69 }
        });
        assert!(ts.is_empty(), "{:?}", kinds(&ts));

        // Confirm once, then flap across the exit threshold (0.29/0.31) for six hours:
        // clearing never completes, so one episode with renotifies only.
        let mut d = deb(DebounceConfig::default());
        let ts = run(&mut d, 0, 6 * 3600 + 60, 5, |s| {
            if s <= 60 {
                0.9
            } else if (s / 5) % 2 == 0 {
                0.29
            } else {
                0.31
            }
        });
        assert_eq!(ts[0].kind, TransitionKind::Overflowing);
        assert!(ts[1..].iter().all(|t| t.kind == TransitionKind::Renotify));
        assert!(ts.iter().all(|t| t.episode == ts[0].episode));

        // Oscillating in the hysteresis band (0.4..0.6) while overflowing neither clears nor
        // re-enters; the renotify count grows by one per 2 h.
        let mut d = deb(DebounceConfig {
            min_confidence: 0.0,
            ..Default::default()
        });
        let ts = run(&mut d, 0, 5 * 3600, 10, |s| {
            if s <= 60 {
                0.9
            } else if (s / 10) % 2 == 0 {
                0.4
            } else {
                0.6
            }
        });
        assert_eq!(
            kinds(&ts),
            vec![
                (TransitionKind::Overflowing, 60),
                (TransitionKind::Renotify, 60 + 7200),
                (TransitionKind::Renotify, 60 + 14400)
            ]
        );
        assert_eq!(ts[2].renotify_count, 2);
    }

    #[test]
    fn a_day_of_fill_and_empty_cycles() {
        // 24 h at 2 s per frame; the bin fills for 40 min and is emptied every 3 h.
        // Noise: a deterministic spike to 0.99 for 4 s every 17 min while empty,
        // and a dip to 0.1 for 6 s every 7 min while full.
        let mut d = deb(DebounceConfig::default());
        let ts = run(&mut d, 0, 24 * 3600, 2, |s| {
            let in_cycle = s % (3 * 3600);
            let full = (3600..3600 + 2400).contains(&in_cycle);
            if full {
                if s % 420 < 6 { 0.1 } else { 0.93 }
            } else if s % 1020 < 4 {
                0.99
            } else {
                0.05
            }
        });
        let overflowing: Vec<_> = ts
            .iter()
            .filter(|t| t.kind == TransitionKind::Overflowing)
            .collect();
        let resolved: Vec<_> = ts
            .iter()
            .filter(|t| t.kind == TransitionKind::Resolved)
            .collect();
        assert_eq!(overflowing.len(), 8, "{:?}", kinds(&ts));
        assert_eq!(resolved.len(), 8);
        assert!(ts.iter().all(|t| t.kind != TransitionKind::Renotify));
        for (o, r) in overflowing.iter().zip(&resolved) {
            assert_eq!(o.episode, r.episode);
            assert!(r.at > o.at);
        }
        let mut ids: Vec<_> = overflowing.iter().map(|t| t.episode.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 8);
    }

    #[test]
    fn renotify_cadence_is_fixed_from_confirmation() {
        let mut d = deb(DebounceConfig {
            renotify_every: Some(Duration::from_secs(1800)),
            ..Default::default()
        });
        // Full for 3 h at 7 s steps: due times fall between frames and must not drift.
        let ts = run(&mut d, 0, 3 * 3600, 7, |_| 0.9);
        let got = kinds(&ts);
        assert_eq!(got[0], (TransitionKind::Overflowing, 63));
        let renotifies: Vec<u64> = got[1..].iter().map(|(_, s)| *s).collect();
        // due at 63 + k*1800 -> first frame at or after (multiples of 7)
        let expected: Vec<u64> = (1..=5)
            .map(|k| {
                let due: u64 = 63 + k * 1800;
                due.div_ceil(7) * 7
            })
            .collect();
        assert_eq!(renotifies, expected);
        assert_eq!(
            ts.iter().map(|t| t.renotify_count).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn renotify_disabled_and_missed_due_times_collapse() {
        let mut d = deb(DebounceConfig {
            renotify_every: None,
            ..Default::default()
        });
        assert_eq!(run(&mut d, 0, 10 * 3600, 10, |_| 0.9).len(), 1);

        let mut d = deb(DebounceConfig {
            renotify_every: Some(Duration::from_secs(600)),
            ..Default::default()
        });
        run(&mut d, 0, 61, 1, |_| 0.9);
        // Camera silent for an hour (6 due times), then one frame: a single renotify.
        let t = d
            .observe(at(60 + 3600), &probs(0.9), true)
            .expect("renotify");
        assert_eq!(t.kind, TransitionKind::Renotify);
        assert_eq!(t.renotify_count, 1);
        // next due is 60 + 7*600 = 4260
        assert!(d.observe(at(4259), &probs(0.9), true).is_none());
        assert_eq!(
            d.observe(at(4260), &probs(0.9), true).map(|t| t.kind),
            Some(TransitionKind::Renotify)
        );
    }

    #[test]
    fn held_frames_neither_confirm_nor_clear() {
        let mut d = deb(DebounceConfig::default());
        // Full for 30 s, then 10 s of blocked region (short: bridged), full again until 60 s.
        for s in 0..30 {
            assert!(d.observe(at(s), &probs(0.9), true).is_none());
        }
        for s in 30..40 {
            // Blocked frames that look "empty" must not reset the run.
            assert!(d.observe(at(s), &probs(0.0), false).is_none());
        }
        assert_eq!(d.last_hold(), Some(HoldReason::RegionUnreadable));
        let mut got = None;
        for s in 40..70 {
            if let Some(t) = d.observe(at(s), &probs(0.9), true) {
                got = Some(t);
                break;
            }
        }
        let t = got.expect("confirmed");
        assert_eq!(t.at, at(60));
        assert_eq!(t.evidence_since, at(0));
        assert_eq!(
            t.history.iter().filter(|s| s.held).count(),
            10,
            "held frames are in the history"
        );

        // Low-confidence "full" frames never confirm, however long.
        let mut d = deb(DebounceConfig::default());
        let low = [0.3, 0.3, 0.4]; // top 0.4 < 0.5
        for s in 0..3600 {
            assert!(d.observe(at(s), &low, true).is_none());
        }
        assert_eq!(d.last_hold(), Some(HoldReason::LowConfidence));
        assert_eq!(d.held_frames(), 3600);

        // While overflowing, blocked frames looking empty never resolve.
        let mut d = deb(DebounceConfig::default());
        run(&mut d, 0, 61, 1, |_| 0.9);
        for s in 61..3600 {
            assert!(d.observe(at(s), &probs(0.0), false).is_none());
        }
        assert!(matches!(d.state(), BinState::Overflowing { .. }));
    }

    #[test]
    fn renotify_still_fires_while_the_region_is_blocked() {
        let mut d = deb(DebounceConfig {
            renotify_every: Some(Duration::from_secs(600)),
            ..Default::default()
        });
        run(&mut d, 0, 61, 1, |_| 0.9);
        let mut got = Vec::new();
        for s in (61..2000).step_by(5) {
            if let Some(t) = d.observe(at(s), &probs(0.0), false) {
                got.push((t.kind, s));
            }
        }
        // Blocked frames keep the episode open (no resolve) and the reminders on schedule.
        assert_eq!(
            got,
            vec![
                (TransitionKind::Renotify, 661),
                (TransitionKind::Renotify, 1261),
                (TransitionKind::Renotify, 1861)
            ]
        );
    }

    #[test]
    fn malformed_and_backwards_frames_are_held() {
        let mut d = deb(DebounceConfig::default());
        assert!(d.observe(at(0), &[0.9, 0.1], true).is_none());
        assert_eq!(d.last_hold(), Some(HoldReason::Malformed));
        assert!(d.observe(at(1), &[f32::NAN, 0.0, 0.9], true).is_none());
        assert_eq!(d.last_hold(), Some(HoldReason::Malformed));
        run(&mut d, 10, 50, 1, |_| 0.9);
        assert!(d.observe(at(5), &probs(0.9), true).is_none());
        assert_eq!(d.last_hold(), Some(HoldReason::TimeWentBackwards));
        // The run from 10 s still confirms at 70 s.
        let ts = run(&mut d, 50, 100, 1, |_| 0.9);
        assert_eq!(kinds(&ts), vec![(TransitionKind::Overflowing, 70)]);
    }

    #[test]
    fn gaps_reset_pending_confirmation_and_clearing() {
        let mut d = deb(DebounceConfig::default());
        // Full for 50 s, camera dead 40 s (> max_gap 30 s), full again: the gap is not evidence.
        run(&mut d, 0, 50, 1, |_| 0.9);
        assert!(d.observe(at(89), &probs(0.9), true).is_none());
        assert_eq!(
            d.state(),
            &BinState::Clear {
                pending_since: Some(at(89))
            }
        );
        let ts = run(&mut d, 90, 200, 1, |_| 0.9);
        assert_eq!(kinds(&ts), vec![(TransitionKind::Overflowing, 149)]);

        // A gap of exactly max_gap is still continuous.
        let mut d = deb(DebounceConfig::default());
        d.observe(at(0), &probs(0.9), true);
        d.observe(at(30), &probs(0.9), true);
        assert_eq!(
            d.observe(at(60), &probs(0.9), true).map(|t| t.kind),
            Some(TransitionKind::Overflowing)
        );

        // Clearing: 100 s empty, then 31 s of held frames, then empty: restarts the 120 s.
        let mut d = deb(DebounceConfig::default());
        run(&mut d, 0, 61, 1, |_| 0.9);
        run(&mut d, 100, 200, 1, |_| 0.0);
        for s in 200..231 {
            d.observe(at(s), &probs(0.0), false);
        }
        let ts = run(&mut d, 231, 600, 1, |_| 0.0);
        assert_eq!(kinds(&ts), vec![(TransitionKind::Resolved, 351)]);
        assert_eq!(ts[0].evidence_since, at(231));
    }

    #[test]
    fn seeded_random_streams_keep_the_invariants() {
        use crate::sink::{Jitter, SplitMix64};
        let (mut total_episodes, mut total_renotifies) = (0usize, 0usize);
        for seed in 0..20u64 {
            let mut rng = SplitMix64::new(seed);
            let cfg = DebounceConfig {
                renotify_every: Some(Duration::from_secs(1800)),
                ..Default::default()
            };
            let mut d = deb(cfg.clone());
            // A slowly wandering fill level with noise, dropouts and blocked regions,
            // over 12 h of irregular frames (0.5 to 20 s apart, sometimes a 1-5 min gap).
            let mut t_ms = T0;
            let mut level = 0.1f32;
            let mut open: Option<(EpisodeId, Timestamp)> = None;
            let mut episodes = std::collections::HashSet::new();
            let mut last_at = Timestamp::EPOCH;
            while t_ms < T0 + 12 * 3600 * 1000 {
                let u = rng.next_unit();
                t_ms += if u < 0.01 {
                    60_000 + (rng.next_unit() * 240_000.0) as u64
                } else {
                    500 + (rng.next_unit() * 19_500.0) as u64
                };
                let drift = (rng.next_unit() as f32 - 0.5) * 0.08;
                level = (level + drift).clamp(0.0, 1.0);
                let noise = (rng.next_unit() as f32 - 0.5) * 0.3;
                let p = (level + noise).clamp(0.0, 1.0);
                let region_ok = rng.next_unit() > 0.05;
                let now = Timestamp::from_unix_ms(t_ms);
                let Some(tr) = d.observe(now, &probs(p), region_ok) else {
                    continue;
                };
                assert!(tr.at >= last_at);
                last_at = tr.at;
                match tr.kind {
                    TransitionKind::Overflowing => {
                        assert!(open.is_none(), "seed {seed}: overflow while open");
                        assert!(region_ok && p >= cfg.enter_threshold);
                        assert!(tr.at.since(tr.evidence_since) >= cfg.confirm_for);
                        assert!(
                            episodes.insert(tr.episode.clone()),
                            "seed {seed}: reused id"
                        );
                        open = Some((tr.episode.clone(), tr.at));
                    }
                    TransitionKind::Renotify => {
                        total_renotifies += 1;
                        let (ep, since) = open.as_ref().expect("renotify while open");
                        assert_eq!(&tr.episode, ep);
                        assert!(tr.at.since(*since) >= Duration::from_secs(1800));
                    }
                    TransitionKind::Resolved => {
                        let (ep, _) = open.take().expect("resolve while open");
                        assert_eq!(tr.episode, ep);
                        assert!(region_ok && p <= cfg.exit_threshold);
                        assert!(tr.at.since(tr.evidence_since) >= cfg.clear_for);
                        assert_eq!(d.state_since(), Some(tr.at));
                    }
                }
                assert!(tr.history.len() <= cfg.history_max_samples);
                assert!(
                    tr.history
                        .first()
                        .is_some_and(|h| tr.at.since(h.time) <= cfg.history_window)
                );
            }
            assert!(d.last_p_full().is_some());
            total_episodes += episodes.len();
        }
        assert!(
            total_episodes >= 20 && total_renotifies >= 5,
            "the streams exercise the machine"
        );
    }

    #[test]
    fn history_is_bounded_by_window_and_count() {
        let mut d = deb(DebounceConfig {
            history_window: Duration::from_secs(60),
            history_max_samples: 1000,
            ..Default::default()
        });
        run(&mut d, 0, 3600, 1, |_| 0.1);
        let h: Vec<_> = d.history().copied().collect();
        assert_eq!(h.len(), 61);
        assert_eq!(h[0].time, at(3539));
        assert_eq!(h[60].time, at(3599));

        let mut d = deb(DebounceConfig {
            history_max_samples: 10,
            ..Default::default()
        });
        let ts = run(&mut d, 0, 100, 1, |_| 0.9);
        assert_eq!(ts[0].history.len(), 10);
        assert_eq!(ts[0].history.last().map(|s| s.time), Some(at(60)));
    }

    #[test]
    fn min_frames_also_required_for_confirm_and_clear() {
        let mut d = deb(DebounceConfig {
            confirm_for: Duration::from_secs(10),
            clear_for: Duration::from_secs(10),
            max_gap: Duration::from_secs(120),
            min_frames: 4,
            ..Default::default()
        });
        // frames every 60 s: 10 s is reached at the 2nd frame, 4 frames only at the 4th
        let ts = run(&mut d, 0, 600, 60, |s| if s < 300 { 0.9 } else { 0.1 });
        assert_eq!(ts.len(), 2, "{ts:?}");
        assert_eq!(ts[0].kind, TransitionKind::Overflowing);
        assert_eq!(ts[0].at, at(180));
        assert_eq!(ts[1].kind, TransitionKind::Resolved);
        assert_eq!(ts[1].at, at(480));
    }

    #[test]
    fn a_restored_episode_resolves_with_its_id_and_is_never_opened_twice() {
        let cfg = DebounceConfig {
            confirm_for: Duration::from_secs(60),
            clear_for: Duration::from_secs(120),
            renotify_every: None,
            ..Default::default()
        };
        let mut first = deb(cfg.clone());
        let opened = run(&mut first, 0, 200, 10, |_| 0.95);
        assert_eq!(kinds(&opened), vec![(TransitionKind::Overflowing, 60)]);
        let saved = first.saved();
        assert_eq!(
            saved.episode.as_ref().map(|e| &e.id),
            Some(&opened[0].episode)
        );
        // through JSON, as the daemon stores it
        let saved: SavedState =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();

        // "restart": a fresh debouncer, still full for a while, then empty
        let mut second = deb(cfg.clone());
        second.restore(&saved);
        assert!(matches!(second.state(), BinState::Overflowing { .. }));
        assert_eq!(second.state_since(), Some(at(60)));
        let after = run(&mut second, 1000, 1400, 10, |s| {
            if s < 1200 { 0.95 } else { 0.02 }
        });
        assert_eq!(kinds(&after), vec![(TransitionKind::Resolved, 1320)]);
        assert_eq!(after[0].episode, opened[0].episode);
        assert_eq!(after[0].overflowing_since, at(60));
        assert_eq!(second.saved().episode, None);
        assert_eq!(second.saved().cleared_at, Some(at(1320)));

        // without the restore, the same frames would have opened a second work order
        let mut forgetful = deb(cfg);
        let dup = run(&mut forgetful, 1000, 1400, 10, |s| {
            if s < 1200 { 0.95 } else { 0.02 }
        });
        assert_eq!(dup[0].kind, TransitionKind::Overflowing);
        assert_ne!(dup[0].episode, opened[0].episode);
    }

    #[test]
    fn restore_keeps_the_renotify_schedule_under_the_new_config() {
        let every = Duration::from_secs(600);
        let cfg = DebounceConfig {
            confirm_for: Duration::from_secs(60),
            renotify_every: Some(every),
            ..Default::default()
        };
        let mut first = deb(cfg.clone());
        let ts = run(&mut first, 0, 700, 10, |_| 0.95);
        assert_eq!(
            kinds(&ts),
            vec![
                (TransitionKind::Overflowing, 60),
                (TransitionKind::Renotify, 660)
            ]
        );
        let saved = first.saved();
        assert_eq!(saved.episode.as_ref().unwrap().renotify_count, 1);
        // a changed confirm_for (a reload): the episode and its schedule carry over
        let mut second = deb(DebounceConfig {
            confirm_for: Duration::from_secs(30),
            ..cfg
        });
        second.restore(&saved);
        let ts = run(&mut second, 700, 1300, 10, |_| 0.95);
        assert_eq!(kinds(&ts), vec![(TransitionKind::Renotify, 1260)]);
        assert_eq!(ts[0].renotify_count, 2);
        assert_eq!(ts[0].episode, first.saved().episode.unwrap().id);
        // restoring a clear state clears
        second.restore(&SavedState::default());
        assert!(matches!(
            second.state(),
            BinState::Clear {
                pending_since: None
            }
        ));
    }
}
