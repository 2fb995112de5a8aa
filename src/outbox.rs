//! Durable outbox: every event is on disk, fsync'd, before any delivery is attempted, and leaves
//! only when its sink says Delivered (or goes to `dead/` on a permanent Reject).
//!
//! Layout under the outbox folder (one outbox per sink, e.g. `$STATE_DIRECTORY/outbox/webhook`):
//! * `pending/<seq>.json`: one [`StoredEntry`] per waiting event (event + attempts, next attempt,
//!   last error). `seq` is a 20-digit, ever-increasing number giving the queue order.
//! * `dead/<seq>.json`: dead letters, with the reason; never deleted by binwatch.
//! * `pending/.<seq>.json.tmp`: a write in progress. Every write is *temp file, fsync, rename,
//!   fsync folder*, so after `kill -9` or a power cut a file is either whole or a leftover temp
//!   file; [`Outbox::open`] deletes the leftovers (a torn temp file is ignored), moves unreadable
//!   entries to `dead/<name>.corrupt`, and drops a pending copy of an entry already in `dead/`
//!   (crash between the two steps of dead-lettering).
//!
//! Order: events with the same ordering key (`bin:<id>` or `camera:<id>`) go out one at a time
//! in queue order: a later event for bin B is not sent while an earlier one for B waits (for its
//! retry time or in flight). Different bins do not hold each other up.
//!
//! Size bound ([`OutboxLimits`], default 10 000 entries or 256 MiB of files), applied after each
//! push: first the evidence images (crop and frame) are stripped from the *oldest* entries that
//! still carry them, the event itself kept and marked `evidence.stripped`; if still over, the
//! oldest `renotify` and `camera.*` events are deleted (logged and reported); `overflowing` and
//! `resolved` events are **never** dropped, so the bound may be exceeded by them alone (reported by
//! [`Outbox::over_limit`]). Entries in flight are left alone.
//!
//! One process owns an outbox: [`Outbox::open`] takes an exclusive lock on `<dir>/lock` (released
//! when the value is dropped, or by the kernel on `kill -9`). [`Outbox::inspect`] reads the
//! pending entries without the lock and without repairing anything, for `binwatch outbox list`
//! while the daemon runs.
//!
//! The decision logic ([`Schedule`]: what is due at `now`, per-key order, retry times, the bound
//! plan) is pure and tested without files; [`Outbox`] adds the file I/O. The outbox is
//! synchronous (blocking `std::fs`): the daemon calls it from `spawn_blocking` or a dedicated
//! thread.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventType};
use crate::sink::{DeliveryOutcome, Jitter, RetryPolicy};
use crate::timestamp::Timestamp;

/// Errors of the outbox; each names the file or event concerned.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// A file operation failed.
    #[error("outbox {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An event could not be serialized.
    #[error("outbox event {id}: cannot encode: {source}")]
    Encode {
        /// Event id.
        id: String,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// A pending entry could not be read back.
    #[error("outbox entry {path}: cannot decode: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// Another process (or another `Outbox` value) has this outbox open.
    #[error("outbox {path} is locked by another binwatch process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// No such pending entry.
    #[error("outbox has no pending entry #{seq}")]
    UnknownEntry {
        /// Queue number.
        seq: u64,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.to_path_buf();
    move |source| OutboxError::Io {
        action,
        path,
        source,
    }
}

/// Size bound of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most pending entries before dropping non-essential events (default 10 000).
    pub max_entries: usize,
    /// Most bytes of pending files before stripping evidence, then dropping (default 256 MiB).
    pub max_bytes: u64,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        OutboxLimits {
            max_entries: 10_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What is on disk for one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Queue number.
    pub seq: u64,
    /// When it was queued.
    pub created: Timestamp,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be sent before this.
    pub next_attempt: Timestamp,
    /// Reason of the last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was dead-lettered (dead entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<Timestamp>,
    /// The event, exactly as it will be sent.
    pub event: Event,
}

/// What the scheduler knows about an entry (no event body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// Queue number.
    pub seq: u64,
    /// Event id.
    pub id: String,
    /// Event type.
    pub ty: EventType,
    /// Ordering key (`bin:<id>` / `camera:<id>`).
    pub key: String,
    /// When it was queued.
    pub created: Timestamp,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be sent before this.
    pub next_attempt: Timestamp,
    /// Reason of the last failure.
    pub last_error: Option<String>,
    /// File size.
    pub bytes: u64,
    /// Bytes of evidence images in the file (0 once stripped).
    pub evidence_bytes: u64,
}

impl EntryMeta {
    fn of(e: &StoredEntry, bytes: u64) -> Self {
        let evidence_bytes = e
            .event
            .bin_data()
            .map(|b| {
                let ev = &b.evidence;
                (ev.crop_jpeg_base64.as_ref().map_or(0, String::len)
                    + ev.frame_jpeg_base64.as_ref().map_or(0, String::len)) as u64
            })
            .unwrap_or(0);
        EntryMeta {
            seq: e.seq,
            id: e.event.id.clone(),
            ty: e.event.ty,
            key: e.event.ordering_key(),
            created: e.created,
            attempts: e.attempts,
            next_attempt: e.next_attempt,
            last_error: e.last_error.clone(),
            bytes,
            evidence_bytes,
        }
    }
}

/// One step of bringing the outbox back within its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundAction {
    /// Remove the evidence images of this entry.
    StripEvidence(u64),
    /// Delete this (non-essential) entry.
    Drop(u64),
}

/// Why an entry is (not) being sent now, for `binwatch outbox list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Due: will go out at the next chance.
    Due,
    /// Being delivered right now.
    InFlight,
    /// Waiting for its retry time.
    RetryAt(Timestamp),
    /// Waiting behind an earlier entry with the same key.
    Behind(u64),
}

/// The pure scheduling state: entries by queue number, and which are in flight.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    entries: BTreeMap<u64, EntryMeta>,
    in_flight: BTreeSet<u64>,
}

impl Schedule {
    /// Adds (or replaces) an entry.
    pub fn insert(&mut self, meta: EntryMeta) {
        self.entries.insert(meta.seq, meta);
    }

    /// Removes an entry.
    pub fn remove(&mut self, seq: u64) -> Option<EntryMeta> {
        self.in_flight.remove(&seq);
        self.entries.remove(&seq)
    }

    /// An entry.
    pub fn get(&self, seq: u64) -> Option<&EntryMeta> {
        self.entries.get(&seq)
    }

    /// All entries in queue order.
    pub fn entries(&self) -> impl Iterator<Item = &EntryMeta> {
        self.entries.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of the entries.
    pub fn total_bytes(&self) -> u64 {
        self.entries.values().map(|e| e.bytes).sum()
    }

    /// The first entry of each key, in queue order.
    fn heads(&self) -> impl Iterator<Item = &EntryMeta> {
        let mut seen = HashSet::new();
        self.entries
            .values()
            .filter(move |e| seen.insert(e.key.as_str()))
    }

    /// Entries that may be sent at `now`: the head of each key, not in flight, whose retry time
    /// has come; in queue order.
    pub fn due(&self, now: Timestamp) -> Vec<u64> {
        self.heads()
            .filter(|e| !self.in_flight.contains(&e.seq) && e.next_attempt <= now)
            .map(|e| e.seq)
            .collect()
    }

    /// Marks entries as in flight (they are not due again until [`Self::release`] or removal).
    pub fn mark_in_flight(&mut self, seqs: &[u64]) {
        self.in_flight.extend(seqs.iter().copied());
    }

    /// Clears the in-flight mark.
    pub fn release(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }

    /// Earliest retry time among heads not in flight: when to wake up next.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.heads()
            .filter(|e| !self.in_flight.contains(&e.seq))
            .map(|e| e.next_attempt)
            .min()
    }

    /// Records a failed attempt: attempts + 1, next attempt after the policy's delay (honouring
    /// `retry_after`), last error. Returns the new next-attempt time.
    pub fn record_retry(
        &mut self,
        seq: u64,
        now: Timestamp,
        retry_after: Option<Duration>,
        reason: &str,
        policy: &RetryPolicy,
        rng: &mut dyn Jitter,
    ) -> Option<Timestamp> {
        self.in_flight.remove(&seq);
        let e = self.entries.get_mut(&seq)?;
        e.attempts = e.attempts.saturating_add(1);
        e.next_attempt = now.plus(policy.next_delay(e.attempts, retry_after, rng));
        e.last_error = Some(reason.to_string());
        Some(e.next_attempt)
    }

    /// Why each entry waits.
    pub fn wait_reason(&self, seq: u64, now: Timestamp) -> Option<WaitReason> {
        let e = self.entries.get(&seq)?;
        if self.in_flight.contains(&seq) {
            return Some(WaitReason::InFlight);
        }
        if let Some(first) = self
            .entries
            .range(..seq)
            .find(|(_, o)| o.key == e.key)
            .map(|(s, _)| *s)
        {
            return Some(WaitReason::Behind(first));
        }
        Some(if e.next_attempt <= now {
            WaitReason::Due
        } else {
            WaitReason::RetryAt(e.next_attempt)
        })
    }

    /// The steps that bring the outbox within `limits` (see the module docs for the policy).
    pub fn plan_bound(&self, limits: &OutboxLimits) -> Vec<BoundAction> {
        let mut actions = Vec::new();
        let mut bytes = self.total_bytes();
        let mut count = self.entries.len();
        if bytes > limits.max_bytes {
            for e in self.entries.values() {
                if bytes <= limits.max_bytes {
                    break;
                }
                if e.evidence_bytes > 0 && !self.in_flight.contains(&e.seq) {
                    actions.push(BoundAction::StripEvidence(e.seq));
                    bytes -= e.evidence_bytes.min(bytes);
                }
            }
        }
        for e in self.entries.values() {
            if bytes <= limits.max_bytes && count <= limits.max_entries {
                break;
            }
            if !e.ty.is_essential() && !self.in_flight.contains(&e.seq) {
                actions.push(BoundAction::Drop(e.seq));
                let stripped = actions.contains(&BoundAction::StripEvidence(e.seq));
                let size = if stripped {
                    e.bytes - e.evidence_bytes.min(e.bytes)
                } else {
                    e.bytes
                };
                bytes -= size.min(bytes);
                count -= 1;
            }
        }
        actions
    }
}

/// What [`Outbox::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Pending entries loaded.
    pub loaded: usize,
    /// Leftover temp files deleted (interrupted writes).
    pub temp_files_removed: Vec<PathBuf>,
    /// Unreadable entries moved to `dead/` with a `.corrupt` suffix.
    pub corrupt_moved: Vec<PathBuf>,
    /// Pending copies of entries already dead-lettered, deleted.
    pub duplicates_removed: Vec<PathBuf>,
}

/// What a push did besides storing the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Queue number of the new entry.
    pub seq: u64,
    /// Event ids whose evidence images were stripped to respect the bound.
    pub stripped: Vec<String>,
    /// Event ids deleted to respect the bound (renotify / camera events only).
    pub dropped: Vec<String>,
}

/// What happened to an entry after an outcome was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Delivered and deleted.
    Removed,
    /// Will be retried at this time.
    RetryAt(Timestamp),
    /// Moved to `dead/` with this reason.
    DeadLettered(String),
}

/// One line of `binwatch outbox list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Queue number.
    pub seq: u64,
    /// Event id (= `webhook-id`).
    pub id: String,
    /// Event type.
    pub ty: EventType,
    /// Ordering key (`bin:<id>` or `camera:<id>`).
    pub key: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Next attempt time.
    pub next_attempt: Timestamp,
    /// Last failure.
    pub last_error: Option<String>,
    /// Why it is not sent right now.
    pub waiting: WaitReason,
    /// File size.
    pub bytes: u64,
}

impl ListEntry {
    /// One human-readable line.
    pub fn line(&self, now: Timestamp) -> String {
        let why = match &self.waiting {
            WaitReason::Due => "due now".to_string(),
            WaitReason::InFlight => "sending".to_string(),
            WaitReason::RetryAt(t) => format!("retry in {}s at {t}", t.since(now).as_secs()),
            WaitReason::Behind(s) => format!("behind #{s} (same {})", self.key),
        };
        format!(
            "#{} {} {} {} attempts={} {} last_error={}",
            self.seq,
            self.ty.as_str(),
            self.key,
            self.id,
            self.attempts,
            why,
            self.last_error.as_deref().unwrap_or("-")
        )
    }
}

/// A file in the outbox that `binwatch outbox list` cannot read as an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why it is not an entry.
    pub reason: String,
}

/// One dead letter, as stored in `dead/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Queue number.
    pub seq: u64,
    /// Event id (= `webhook-id`).
    pub id: String,
    /// Event type.
    pub ty: EventType,
    /// Ordering key (`bin:<id>` or `camera:<id>`).
    pub key: String,
    /// Failed attempts before it was given up.
    pub attempts: u32,
    /// When it was dead-lettered.
    pub dead_at: Option<Timestamp>,
    /// The receiver's answer or the reason it was given up, as stored.
    pub reason: Option<String>,
}

impl DeadLetter {
    /// One human-readable line.
    pub fn line(&self) -> String {
        format!(
            "#{} {} {} {} attempts={} dead_at={} reason={}",
            self.seq,
            self.ty.as_str(),
            self.key,
            self.id,
            self.attempts,
            self.dead_at.map_or_else(|| "-".into(), |t| t.to_string()),
            self.reason.as_deref().unwrap_or("-")
        )
    }
}

/// Everything `binwatch outbox list` shows of one outbox (see [`Outbox::inspect_all`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The pending entries, in queue order, with why each waits.
    pub waiting: Vec<ListEntry>,
    /// Files in `pending/` that are not readable entries (the daemon moves those with an entry's
    /// name to `dead/<name>.corrupt` when it opens the outbox, and ignores the others).
    pub unreadable: Vec<Unreadable>,
    /// The dead letters, in queue order.
    pub dead: Vec<DeadLetter>,
    /// Files in `dead/` that are not readable dead letters (`*.corrupt`: unreadable pending entries
    /// moved aside by the daemon).
    pub dead_unreadable: Vec<Unreadable>,
}

/// The entry in the bytes of a file named for entry `seq`, or why they are not one.
fn unreadable_reason(bytes: &[u8], seq: u64) -> Result<StoredEntry, String> {
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    match serde_json::from_slice::<StoredEntry>(bytes) {
        Ok(e) if e.seq == seq => Ok(e),
        Ok(e) => Err(format!("holds entry #{}, its file name says #{seq}", e.seq)),
        Err(e) => Err(format!("not an outbox entry: {e}")),
    }
}

/// Readable entries of a folder with their file sizes, and the files that are not entries.
type ReadEntries = (Vec<(StoredEntry, u64)>, Vec<Unreadable>);

/// Reads the entries of `dir` (pending/ or dead/) without changing anything: the readable ones, and
/// the files that are not (temp files of writes in progress are left out).
fn read_entries(dir: &Path) -> Result<ReadEntries, OutboxError> {
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    if !dir.exists() {
        return Ok((entries, unreadable));
    }
    for name in list_names(dir)? {
        if name.starts_with('.') && name.ends_with(".tmp") {
            continue; // a write in progress
        }
        let path = dir.join(&name);
        let Some(seq) = seq_of(&name) else {
            let reason = if name.ends_with(".corrupt") {
                "an unreadable entry the daemon moved aside".to_string()
            } else {
                "not an outbox entry name (<20-digit number>.json); the daemon ignores it"
                    .to_string()
            };
            unreadable.push(Unreadable { path, reason });
            continue;
        };
        // The daemon may delete an entry between listing and reading: skip it.
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        match unreadable_reason(&bytes, seq) {
            Ok(e) => entries.push((e, bytes.len() as u64)),
            Err(reason) => unreadable.push(Unreadable { path, reason }),
        }
    }
    Ok((entries, unreadable))
}

/// The on-disk outbox of one sink.
#[derive(Debug)]
pub struct Outbox {
    _lock: File,
    pending: PathBuf,
    dead: PathBuf,
    schedule: Schedule,
    next_seq: u64,
    limits: OutboxLimits,
    policy: RetryPolicy,
}

fn entry_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

fn seq_of(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".json")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn fsync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync folder", dir))
}

/// Writes `bytes` to `dir/name` atomically and durably: temp file, fsync, rename, fsync folder.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutboxError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    let dest = dir.join(name);
    fs::rename(&tmp, &dest).map_err(io_err("rename into place", &dest))?;
    fsync_dir(dir)
}

fn list_names(dir: &Path) -> Result<Vec<String>, OutboxError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read folder", dir))? {
        let entry = entry.map_err(io_err("read folder", dir))?;
        if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn list_of(schedule: &Schedule, now: Timestamp) -> Vec<ListEntry> {
    schedule
        .entries()
        .map(|m| ListEntry {
            seq: m.seq,
            id: m.id.clone(),
            ty: m.ty,
            key: m.key.clone(),
            attempts: m.attempts,
            next_attempt: m.next_attempt,
            last_error: m.last_error.clone(),
            waiting: schedule.wait_reason(m.seq, now).unwrap_or(WaitReason::Due),
            bytes: m.bytes,
        })
        .collect()
}

impl Outbox {
    /// Opens (creating if needed) the outbox in `dir` and recovers from any crash.
    pub fn open(
        dir: &Path,
        limits: OutboxLimits,
        policy: RetryPolicy,
    ) -> Result<(Outbox, RecoveryReport), OutboxError> {
        let pending = dir.join("pending");
        let dead = dir.join("dead");
        for d in [&pending, &dead] {
            fs::create_dir_all(d).map_err(io_err("create folder", d))?;
        }
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open lock file", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OutboxError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
        }
        let mut report = RecoveryReport::default();
        let dead_names = list_names(&dead)?;
        let dead_set: HashSet<&str> = dead_names.iter().map(String::as_str).collect();
        let mut max_seq = dead_names
            .iter()
            .filter_map(|n| seq_of(n.trim_end_matches(".corrupt")))
            .max()
            .unwrap_or(0);
        let mut schedule = Schedule::default();
        let mut changed = false;
        for name in list_names(&pending)? {
            let path = pending.join(&name);
            if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(io_err("remove leftover temp file", &path))?;
                report.temp_files_removed.push(path);
                changed = true;
                continue;
            }
            let Some(seq) = seq_of(&name) else {
                continue; // not ours
            };
            max_seq = max_seq.max(seq);
            if dead_set.contains(name.as_str()) {
                fs::remove_file(&path).map_err(io_err("remove dead duplicate", &path))?;
                report.duplicates_removed.push(path);
                changed = true;
                continue;
            }
            let bytes = fs::read(&path).map_err(io_err("read", &path))?;
            match serde_json::from_slice::<StoredEntry>(&bytes) {
                Ok(e) if e.seq == seq => {
                    schedule.insert(EntryMeta::of(&e, bytes.len() as u64));
                    report.loaded += 1;
                }
                _ => {
                    let to = dead.join(format!("{name}.corrupt"));
                    fs::rename(&path, &to).map_err(io_err("move corrupt entry", &path))?;
                    tracing::error!(file = %path.display(), moved_to = %to.display(), "outbox entry unreadable, moved to dead letters");
                    report.corrupt_moved.push(to);
                    changed = true;
                }
            }
        }
        if changed {
            fsync_dir(&pending)?;
            fsync_dir(&dead)?;
        }
        Ok((
            Outbox {
                _lock: lock,
                pending,
                dead,
                schedule,
                next_seq: max_seq + 1,
                limits,
                policy,
            },
            report,
        ))
    }

    /// What waits and why, read without locking or repairing anything: for
    /// `binwatch outbox list` while the daemon runs. Temp files and unreadable entries are
    /// skipped (the daemon's own [`Outbox::open`] deals with them; [`Outbox::inspect_all`] lists them).
    pub fn inspect(dir: &Path, now: Timestamp) -> Result<Vec<ListEntry>, OutboxError> {
        Ok(Self::inspect_all(dir, now)?.waiting)
    }

    /// Everything `binwatch outbox list` shows, read without locking or repairing anything: what
    /// waits and why, the files in `pending/` that are not readable entries (with the reason), and the
    /// dead letters with the reason each was given up (the receiver's answer for a refusal).
    pub fn inspect_all(dir: &Path, now: Timestamp) -> Result<Listing, OutboxError> {
        let (pending, unreadable) = read_entries(&dir.join("pending"))?;
        let mut schedule = Schedule::default();
        for (e, bytes) in &pending {
            schedule.insert(EntryMeta::of(e, *bytes));
        }
        let (dead, dead_unreadable) = read_entries(&dir.join("dead"))?;
        Ok(Listing {
            waiting: list_of(&schedule, now),
            unreadable,
            dead: dead
                .into_iter()
                .map(|(e, _)| DeadLetter {
                    seq: e.seq,
                    key: e.event.ordering_key(),
                    id: e.event.id,
                    ty: e.event.ty,
                    attempts: e.attempts,
                    dead_at: e.dead_at,
                    reason: e.last_error,
                })
                .collect(),
            dead_unreadable,
        })
    }

    /// The pure schedule (read-only).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Pending entries.
    pub fn len(&self) -> usize {
        self.schedule.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.schedule.is_empty()
    }

    /// Bytes of pending files.
    pub fn total_bytes(&self) -> u64 {
        self.schedule.total_bytes()
    }

    /// True when essential events alone keep the outbox over its bound.
    pub fn over_limit(&self) -> bool {
        self.len() > self.limits.max_entries || self.total_bytes() > self.limits.max_bytes
    }

    /// When the next entry becomes due (for the delivery loop's sleep).
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.schedule.next_wakeup()
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.pending.join(entry_name(seq))
    }

    fn read(&self, seq: u64) -> Result<StoredEntry, OutboxError> {
        let path = self.path(seq);
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| OutboxError::Decode { path, source })
    }

    fn write(&self, dir: &Path, e: &StoredEntry) -> Result<u64, OutboxError> {
        let bytes = serde_json::to_vec(e).map_err(|source| OutboxError::Encode {
            id: e.event.id.clone(),
            source,
        })?;
        write_atomic(dir, &entry_name(e.seq), &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Stores `event` durably (returns only once it is fsync'd), then applies the size bound.
    pub fn push(&mut self, event: Event, now: Timestamp) -> Result<PushReport, OutboxError> {
        let seq = self.next_seq;
        let entry = StoredEntry {
            seq,
            created: now,
            attempts: 0,
            next_attempt: now,
            last_error: None,
            dead_at: None,
            event,
        };
        let bytes = self.write(&self.pending, &entry)?;
        self.next_seq += 1;
        self.schedule.insert(EntryMeta::of(&entry, bytes));
        let mut report = PushReport {
            seq,
            ..Default::default()
        };
        for action in self.schedule.plan_bound(&self.limits) {
            match action {
                BoundAction::StripEvidence(s) => {
                    let mut e = self.read(s)?;
                    if e.event.strip_evidence() {
                        let size = self.write(&self.pending, &e)?;
                        self.schedule.insert(EntryMeta::of(&e, size));
                        tracing::warn!(event = %e.event.id, seq = s, "outbox over its size bound: evidence images stripped");
                        report.stripped.push(e.event.id);
                    }
                }
                BoundAction::Drop(s) => {
                    let path = self.path(s);
                    fs::remove_file(&path).map_err(io_err("remove", &path))?;
                    fsync_dir(&self.pending)?;
                    if let Some(m) = self.schedule.remove(s) {
                        tracing::warn!(event = %m.id, r#type = %m.ty, seq = s, "outbox over its size bound: event dropped");
                        report.dropped.push(m.id);
                    }
                }
            }
        }
        if self.over_limit() {
            tracing::warn!(
                entries = self.len(),
                bytes = self.total_bytes(),
                "outbox over its bound with overflow/resolved events only: keeping them"
            );
        }
        Ok(report)
    }

    /// Entries due at `now` with their events, marked in flight; record each one's outcome
    /// with [`Self::record`] (or [`Self::release`] it unsent).
    pub fn take_due(&mut self, now: Timestamp) -> Result<Vec<(u64, Event)>, OutboxError> {
        let seqs = self.schedule.due(now);
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            out.push((seq, self.read(seq)?.event));
            self.schedule.mark_in_flight(&[seq]);
        }
        Ok(out)
    }

    /// Returns an in-flight entry unsent (e.g. at shutdown); it is due again at once.
    pub fn release(&mut self, seq: u64) {
        self.schedule.release(seq);
    }

    /// Records the outcome of one delivery attempt.
    pub fn record(
        &mut self,
        seq: u64,
        outcome: &DeliveryOutcome,
        now: Timestamp,
        rng: &mut dyn Jitter,
    ) -> Result<Recorded, OutboxError> {
        let meta = self
            .schedule
            .get(seq)
            .cloned()
            .ok_or(OutboxError::UnknownEntry { seq })?;
        match outcome {
            DeliveryOutcome::Delivered => {
                let path = self.path(seq);
                fs::remove_file(&path).map_err(io_err("remove delivered", &path))?;
                fsync_dir(&self.pending)?;
                self.schedule.remove(seq);
                Ok(Recorded::Removed)
            }
            DeliveryOutcome::Reject { reason } => {
                self.dead_letter(seq, now, reason.clone())?;
                Ok(Recorded::DeadLettered(reason.clone()))
            }
            DeliveryOutcome::Retry { after, reason } => {
                if let Some(limit) = self.policy.give_up_after
                    && now.since(meta.created) >= limit
                {
                    let why = format!(
                        "gave up after {} attempts over {} s; last error: {reason}",
                        meta.attempts + 1,
                        now.since(meta.created).as_secs()
                    );
                    self.dead_letter(seq, now, why.clone())?;
                    return Ok(Recorded::DeadLettered(why));
                }
                let next = self
                    .schedule
                    .record_retry(seq, now, *after, reason, &self.policy, rng)
                    .ok_or(OutboxError::UnknownEntry { seq })?;
                let mut e = self.read(seq)?;
                e.attempts = meta.attempts.saturating_add(1);
                e.next_attempt = next;
                e.last_error = Some(reason.clone());
                let size = self.write(&self.pending, &e)?;
                self.schedule.insert(EntryMeta::of(&e, size));
                Ok(Recorded::RetryAt(next))
            }
        }
    }

    fn dead_letter(&mut self, seq: u64, now: Timestamp, reason: String) -> Result<(), OutboxError> {
        let mut e = self.read(seq)?;
        // the attempt that ended it counts too
        e.attempts = e.attempts.saturating_add(1);
        e.last_error = Some(reason);
        e.dead_at = Some(now);
        self.write(&self.dead, &e)?;
        let path = self.path(seq);
        fs::remove_file(&path).map_err(io_err("remove dead-lettered", &path))?;
        fsync_dir(&self.pending)?;
        self.schedule.remove(seq);
        tracing::error!(event = %e.event.id, seq, reason = e.last_error.as_deref().unwrap_or(""), "event moved to dead letters");
        Ok(())
    }

    /// What waits and why, in queue order.
    pub fn list(&self, now: Timestamp) -> Vec<ListEntry> {
        list_of(&self.schedule, now)
    }

    /// Dead letters (readable ones), in queue order.
    pub fn list_dead(&self) -> Result<Vec<StoredEntry>, OutboxError> {
        let mut out = Vec::new();
        for name in list_names(&self.dead)? {
            if seq_of(&name).is_none() {
                continue;
            }
            let path = self.dead.join(&name);
            let bytes = fs::read(&path).map_err(io_err("read", &path))?;
            let e = serde_json::from_slice(&bytes)
                .map_err(|source| OutboxError::Decode { path, source })?;
            out.push(e);
        }
        Ok(out)
    }

    /// Moves every readable dead letter back to pending with a fresh attempt count (after the
    /// operator fixed the URL or secret). Returns how many were requeued.
    pub fn requeue_dead(&mut self, now: Timestamp) -> Result<usize, OutboxError> {
        let dead = self.list_dead()?;
        let n = dead.len();
        for mut e in dead {
            let old_seq = e.seq;
            e.seq = self.next_seq;
            e.attempts = 0;
            e.next_attempt = now;
            e.dead_at = None;
            let size = self.write(&self.pending, &e)?;
            self.next_seq += 1;
            self.schedule.insert(EntryMeta::of(&e, size));
            let path = self.dead.join(entry_name(old_seq));
            fs::remove_file(&path).map_err(io_err("remove requeued", &path))?;
            fsync_dir(&self.dead)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debounce::EpisodeId;
    use crate::event::{BinData, CameraData, EventData, Evidence, Location, ModelInfo};
    use crate::sink::SplitMix64;

    const T0: u64 = 1_796_327_100_000;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix_ms(T0 + secs * 1000)
    }

    fn bin_event(id: &str, bin: &str, ty: EventType, image_bytes: usize) -> Event {
        Event {
            specversion: "1.0".into(),
            id: id.into(),
            source: "binwatch://h/cam-1".into(),
            ty,
            time: at(0).to_rfc3339(),
            subject: bin.into(),
            datacontenttype: "application/json".into(),
            data: EventData::Bin(Box::new(BinData {
                bin: bin.into(),
                camera: "cam-1".into(),
                location: Location {
                    lat: Some(1.0),
                    lon: Some(2.0),
                    address: None,
                },
                episode_id: EpisodeId(format!("{bin}-1")),
                level: "full".into(),
                p_full: 0.9,
                probabilities: Default::default(),
                overflowing_since: at(0).to_rfc3339(),
                evidence_since: at(0).to_rfc3339(),
                renotify_count: 0,
                score_history: vec![],
                model: ModelInfo {
                    name: "m".into(),
                    version: "1".into(),
                    quantization: None,
                },
                evidence: if image_bytes > 0 {
                    Evidence::from_jpeg(Some(&vec![0xAB; image_bytes]), None)
                } else {
                    Evidence::default()
                },
            })),
        }
    }

    fn cam_event(id: &str) -> Event {
        Event::camera(
            id.into(),
            "h",
            false,
            at(0),
            CameraData {
                camera: "cam-1".into(),
                reason: None,
                last_frame_time: None,
                bins: vec![],
                check: None,
            },
        )
    }

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: 0.0,
            ..Default::default()
        }
    }

    fn open(dir: &Path) -> Outbox {
        Outbox::open(dir, OutboxLimits::default(), no_jitter())
            .expect("open")
            .0
    }

    fn ids(v: &[(u64, Event)]) -> Vec<String> {
        v.iter().map(|(_, e)| e.id.clone()).collect()
    }

    fn retry(reason: &str) -> DeliveryOutcome {
        DeliveryOutcome::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn written_before_send_survives_reopen_and_keeps_per_bin_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        for (id, bin) in [
            ("a1", "A"),
            ("b1", "B"),
            ("a2", "A"),
            ("a3", "A"),
            ("b2", "B"),
        ] {
            ob.push(bin_event(id, bin, EventType::BinOverflowing, 100), at(0))
                .expect("push");
        }
        ob.push(cam_event("c1"), at(0)).expect("push");
        // On disk before any send: a fresh open sees everything, as after kill -9.
        drop(ob);
        let (mut ob, report) =
            Outbox::open(dir.path(), OutboxLimits::default(), no_jitter()).expect("reopen");
        assert_eq!(report.loaded, 6);
        let mut rng = SplitMix64::new(1);
        let first = ob.take_due(at(0)).expect("due");
        assert_eq!(ids(&first), vec!["a1", "b1", "c1"], "one head per key");
        assert!(ob.take_due(at(0)).expect("due").is_empty(), "in flight");
        let lines: Vec<_> = ob.list(at(0)).iter().map(|l| l.waiting.clone()).collect();
        assert_eq!(
            lines,
            vec![
                WaitReason::InFlight,
                WaitReason::InFlight,
                WaitReason::Behind(1),
                WaitReason::Behind(1),
                WaitReason::Behind(2),
                WaitReason::InFlight
            ]
        );
        // b1 fails: b2 must wait behind it even though it is "due".
        ob.record(first[1].0, &retry("HTTP 503"), at(1), &mut rng)
            .expect("record");
        ob.record(first[0].0, &DeliveryOutcome::Delivered, at(1), &mut rng)
            .expect("record");
        ob.record(first[2].0, &DeliveryOutcome::Delivered, at(1), &mut rng)
            .expect("record");
        assert_eq!(ids(&ob.take_due(at(2)).expect("due")), vec!["a2"]);
        assert_eq!(ob.next_wakeup(), Some(at(6)), "b1 retries at 1 + 5 s");
        assert_eq!(ids(&ob.take_due(at(6)).expect("due")), vec!["b1"]);
        assert_eq!(
            fs::read_dir(dir.path().join("pending"))
                .expect("ls")
                .count(),
            4
        );
    }

    #[test]
    fn retry_times_attempts_and_errors_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        let mut rng = SplitMix64::new(1);
        ob.push(bin_event("e1", "A", EventType::BinOverflowing, 0), at(0))
            .expect("push");
        let mut now = at(0);
        let mut delays = Vec::new();
        for i in 0..6 {
            let due = ob.take_due(now).expect("due");
            assert_eq!(ids(&due), vec!["e1"], "attempt {i}");
            let r = ob
                .record(due[0].0, &retry(&format!("HTTP 502 #{i}")), now, &mut rng)
                .expect("record");
            let Recorded::RetryAt(next) = r else {
                panic!("{r:?}")
            };
            delays.push(next.since(now).as_secs());
            let just_before = Timestamp::from_unix_ms(next.as_unix_ms() - 1);
            assert!(ob.take_due(just_before).expect("due").is_empty());
            now = next;
        }
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160]);
        // Retry-After beats a shorter backoff.
        let due = ob.take_due(now).expect("due");
        let r = ob
            .record(
                due[0].0,
                &DeliveryOutcome::Retry {
                    after: Some(Duration::from_secs(1000)),
                    reason: "HTTP 429".into(),
                },
                now,
                &mut rng,
            )
            .expect("record");
        assert_eq!(r, Recorded::RetryAt(now.plus(Duration::from_secs(1000))));
        // Reopen: attempts, next attempt and last error are kept.
        drop(ob);
        let ob = open(dir.path());
        let l = &ob.list(now)[0];
        assert_eq!(l.attempts, 7);
        assert_eq!(l.next_attempt, now.plus(Duration::from_secs(1000)));
        assert_eq!(l.last_error.as_deref(), Some("HTTP 429"));
        assert_eq!(
            l.waiting,
            WaitReason::RetryAt(now.plus(Duration::from_secs(1000)))
        );
        assert!(l.line(now).contains("retry in 1000s"), "{}", l.line(now));
        assert!(l.line(now).contains("last_error=HTTP 429"));
    }

    #[test]
    fn not_due_before_its_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        let mut rng = SplitMix64::new(1);
        ob.push(cam_event("c"), at(0)).expect("push");
        let due = ob.take_due(at(0)).expect("due");
        ob.record(due[0].0, &retry("timeout"), at(0), &mut rng)
            .expect("record");
        assert!(
            ob.take_due(Timestamp::from_unix_ms(T0 + 4999))
                .expect("due")
                .is_empty()
        );
        assert_eq!(ob.take_due(at(5)).expect("due").len(), 1);
        ob.release(due[0].0);
        assert_eq!(
            ob.take_due(at(5)).expect("due").len(),
            1,
            "released: due again"
        );
    }

    #[test]
    fn reject_goes_to_dead_letters_and_unblocks_the_bin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        let mut rng = SplitMix64::new(1);
        ob.push(bin_event("x1", "A", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        ob.push(bin_event("x2", "A", EventType::BinResolved, 10), at(0))
            .expect("push");
        let due = ob.take_due(at(0)).expect("due");
        let r = ob
            .record(
                due[0].0,
                &DeliveryOutcome::Reject {
                    reason: "HTTP 422: bad".into(),
                },
                at(1),
                &mut rng,
            )
            .expect("record");
        assert_eq!(r, Recorded::DeadLettered("HTTP 422: bad".into()));
        assert_eq!(ids(&ob.take_due(at(1)).expect("due")), vec!["x2"]);
        drop(ob);
        let ob = open(dir.path());
        assert_eq!(ob.len(), 1);
        let dead = ob.list_dead().expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].event.id, "x1");
        assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 422: bad"));
        assert_eq!(dead[0].dead_at, Some(at(1)));
        assert_eq!(dead[0].attempts, 1, "the refused attempt counts");
        // Requeue after the operator fixed things: new seq, after x2 (order kept by queue).
        let mut ob = ob;
        assert_eq!(ob.requeue_dead(at(9)).expect("requeue"), 1);
        assert!(ob.list_dead().expect("dead").is_empty());
        let l = ob.list(at(9));
        assert_eq!(
            l.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["x2", "x1"]
        );
        assert_eq!(l[1].attempts, 0);
        assert_eq!(l[1].seq, 3, "sequence numbers never reused");
    }

    #[test]
    fn gives_up_only_when_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = RetryPolicy {
            give_up_after: Some(Duration::from_secs(3600)),
            ..no_jitter()
        };
        let (mut ob, _) = Outbox::open(dir.path(), OutboxLimits::default(), policy).expect("open");
        let mut rng = SplitMix64::new(1);
        ob.push(cam_event("c"), at(0)).expect("push");
        let mut now = at(0);
        loop {
            let due = ob.take_due(now).expect("due");
            match ob
                .record(due[0].0, &retry("down"), now, &mut rng)
                .expect("record")
            {
                Recorded::RetryAt(t) => now = t,
                Recorded::DeadLettered(why) => {
                    assert!(why.contains("gave up") && why.contains("down"), "{why}");
                    assert!(now.since(at(0)) >= Duration::from_secs(3600));
                    break;
                }
                Recorded::Removed => panic!("not delivered"),
            }
        }
        assert!(ob.is_empty());
    }

    #[test]
    fn bound_strips_oldest_evidence_then_drops_only_non_essential() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = OutboxLimits {
            max_entries: 4,
            max_bytes: 30_000,
        };
        let (mut ob, _) = Outbox::open(dir.path(), limits, no_jitter()).expect("open");
        // Each image is 6000 raw bytes = 8000 base64; the rest of an entry is ~1 KB.
        let r = ob
            .push(bin_event("o1", "A", EventType::BinOverflowing, 6000), at(0))
            .expect("push");
        assert!(r.stripped.is_empty());
        ob.push(bin_event("n1", "B", EventType::BinRenotify, 6000), at(1))
            .expect("push");
        ob.push(bin_event("o2", "C", EventType::BinOverflowing, 6000), at(2))
            .expect("push");
        let r = ob
            .push(bin_event("o3", "D", EventType::BinOverflowing, 6000), at(3))
            .expect("push");
        assert_eq!(r.stripped, vec!["o1"], "oldest evidence goes first");
        assert!(r.dropped.is_empty());
        assert!(ob.total_bytes() <= 30_000);
        // Fifth entry: over the count; the renotify is dropped, overflowing ones kept.
        let r = ob.push(cam_event("c1"), at(4)).expect("push");
        assert_eq!(r.dropped, vec!["n1"]);
        // More essential events: nothing droppable left but the newest camera event.
        let r = ob
            .push(bin_event("r1", "A", EventType::BinResolved, 6000), at(5))
            .expect("push");
        assert_eq!(r.dropped, vec!["c1"]);
        let r = ob
            .push(bin_event("r2", "C", EventType::BinResolved, 0), at(6))
            .expect("push");
        assert!(r.dropped.is_empty());
        assert!(ob.over_limit(), "essential events alone exceed the bound");
        let left: Vec<_> = ob.list(at(7)).into_iter().map(|l| l.id).collect();
        assert_eq!(left, vec!["o1", "o2", "o3", "r1", "r2"]);
        // Stripped events are still whole events, marked as stripped.
        drop(ob);
        let mut ob2 = open(dir.path());
        let due = ob2.take_due(at(7)).expect("due");
        let o1 = &due.iter().find(|(_, e)| e.id == "o1").expect("o1").1;
        assert!(!o1.has_evidence());
        assert!(o1.bin_data().is_some_and(|b| b.evidence.stripped));
    }

    #[test]
    fn plan_bound_is_pure_and_skips_in_flight() {
        let mut s = Schedule::default();
        let meta = |seq: u64, ty: EventType, bytes: u64, ev: u64| EntryMeta {
            seq,
            id: format!("e{seq}"),
            ty,
            key: format!("bin:{seq}"),
            created: at(0),
            attempts: 0,
            next_attempt: at(0),
            last_error: None,
            bytes,
            evidence_bytes: ev,
        };
        s.insert(meta(1, EventType::BinRenotify, 1000, 900));
        s.insert(meta(2, EventType::BinOverflowing, 1000, 900));
        s.insert(meta(3, EventType::CameraOffline, 100, 0));
        s.mark_in_flight(&[1]);
        let limits = OutboxLimits {
            max_entries: 10,
            max_bytes: 1500,
        };
        assert_eq!(s.plan_bound(&limits), vec![BoundAction::StripEvidence(2)]);
        let limits = OutboxLimits {
            max_entries: 2,
            max_bytes: 10_000,
        };
        assert_eq!(s.plan_bound(&limits), vec![BoundAction::Drop(3)]);
        s.release(1);
        assert_eq!(s.plan_bound(&limits), vec![BoundAction::Drop(1)]);
        let limits = OutboxLimits {
            max_entries: 0,
            max_bytes: 0,
        };
        assert_eq!(
            s.plan_bound(&limits),
            vec![
                BoundAction::StripEvidence(1),
                BoundAction::StripEvidence(2),
                BoundAction::Drop(1),
                BoundAction::Drop(3)
            ]
        );
    }

    #[test]
    fn crash_leftovers_are_recovered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        let mut rng = SplitMix64::new(1);
        ob.push(bin_event("k1", "A", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        ob.push(bin_event("k2", "B", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        ob.push(bin_event("k3", "C", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        let due = ob.take_due(at(0)).expect("due");
        ob.record(
            due[2].0,
            &DeliveryOutcome::Reject {
                reason: "HTTP 400".into(),
            },
            at(0),
            &mut rng,
        )
        .expect("record");
        drop(ob); // "kill -9": no shutdown step at all
        let pending = dir.path().join("pending");
        // A torn write of a 4th event, a crash mid dead-lettering (k3 back in pending),
        // and a garbage entry file.
        fs::write(
            pending.join(".00000000000000000004.json.tmp"),
            b"{\"seq\":4,\"cre",
        )
        .expect("write");
        fs::copy(
            dir.path().join("dead").join(entry_name(3)),
            pending.join(entry_name(3)),
        )
        .expect("copy");
        fs::write(pending.join(entry_name(7)), b"not json").expect("write");
        fs::write(pending.join("README"), b"ignored").expect("write");
        let (mut ob, report) =
            Outbox::open(dir.path(), OutboxLimits::default(), no_jitter()).expect("reopen");
        assert_eq!(report.loaded, 2);
        assert_eq!(report.temp_files_removed.len(), 1);
        assert_eq!(report.duplicates_removed, vec![pending.join(entry_name(3))]);
        assert_eq!(
            report.corrupt_moved,
            vec![
                dir.path()
                    .join("dead")
                    .join(format!("{}.corrupt", entry_name(7)))
            ]
        );
        assert_eq!(ids(&ob.take_due(at(0)).expect("due")), vec!["k1", "k2"]);
        // New entries continue after the highest number seen anywhere.
        let r = ob.push(cam_event("k8"), at(0)).expect("push");
        assert_eq!(r.seq, 8);
        assert!(!pending.join(".00000000000000000004.json.tmp").exists());
    }

    #[test]
    fn second_open_is_refused_and_inspect_reads_without_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        ob.push(bin_event("i1", "A", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        ob.push(bin_event("i2", "A", EventType::BinResolved, 10), at(0))
            .expect("push");
        let err =
            Outbox::open(dir.path(), OutboxLimits::default(), no_jitter()).expect_err("locked");
        assert!(matches!(err, OutboxError::Locked { .. }), "{err}");
        // A torn temp file must not disturb the read-only view, nor be deleted by it.
        let tmp = dir
            .path()
            .join("pending")
            .join(".00000000000000000003.json.tmp");
        fs::write(&tmp, b"{").expect("write");
        let listed = Outbox::inspect(dir.path(), at(0)).expect("inspect");
        assert_eq!(listed, ob.list(at(0)));
        assert_eq!(listed[1].waiting, WaitReason::Behind(1));
        assert!(listed[1].line(at(0)).contains("behind #1 (same bin:A)"));
        assert!(tmp.exists());
        drop(ob);
        assert!(Outbox::open(dir.path(), OutboxLimits::default(), no_jitter()).is_ok());
    }

    #[test]
    fn inspect_all_lists_unreadable_entries_and_dead_letters_with_their_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ob = open(dir.path());
        let mut rng = SplitMix64::new(1);
        ob.push(bin_event("d1", "A", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        ob.push(bin_event("w2", "B", EventType::BinOverflowing, 10), at(0))
            .expect("push");
        let due = ob.take_due(at(0)).expect("due");
        assert_eq!(ids(&due), vec!["d1", "w2"]);
        ob.record(
            due[0].0,
            &DeliveryOutcome::Reject {
                reason: "HTTP 422: unknown bin A".into(),
            },
            at(5),
            &mut rng,
        )
        .expect("record");
        ob.release(due[1].0);
        let pending = dir.path().join("pending");
        fs::write(pending.join(entry_name(7)), b"{garbage").expect("write");
        fs::write(pending.join(entry_name(8)), b"").expect("write");
        fs::write(pending.join("notes.txt"), b"hello").expect("write");
        fs::write(pending.join(".00000000000000000009.json.tmp"), b"{").expect("write");

        let l = Outbox::inspect_all(dir.path(), at(10)).expect("inspect");
        assert_eq!(l.waiting.len(), 1);
        assert_eq!(l.waiting[0].id, "w2");
        let reasons: Vec<(String, &str)> = l
            .unreadable
            .iter()
            .map(|u| {
                (
                    u.path.file_name().unwrap().to_string_lossy().into_owned(),
                    u.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, entry_name(7));
        assert!(
            reasons[0].1.starts_with("not an outbox entry: "),
            "{reasons:?}"
        );
        assert_eq!(reasons[1], (entry_name(8), "empty file (0 bytes)"));
        assert_eq!(reasons[2].0, "notes.txt");
        assert_eq!(l.dead.len(), 1);
        let d = &l.dead[0];
        assert_eq!(
            (d.id.as_str(), d.key.as_str(), d.ty, d.reason.as_deref()),
            (
                "d1",
                "bin:A",
                EventType::BinOverflowing,
                Some("HTTP 422: unknown bin A")
            )
        );
        assert_eq!(d.dead_at, Some(at(5)));
        assert!(
            d.line().contains("reason=HTTP 422: unknown bin A"),
            "{}",
            d.line()
        );
        assert!(l.dead_unreadable.is_empty());
        // the waiting list is what `inspect` gives
        assert_eq!(
            Outbox::inspect(dir.path(), at(10)).expect("inspect"),
            l.waiting
        );
    }

    #[test]
    fn open_reports_unusable_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plainfile");
        fs::write(&file, b"x").expect("write");
        let err = Outbox::open(&file, OutboxLimits::default(), no_jitter()).expect_err("not a dir");
        assert!(err.to_string().contains("plainfile"), "{err}");
    }
}
