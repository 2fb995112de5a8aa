//! A small work-order receiver: the server behind `binwatch receive --listen ADDR --secret-file F
//! [--store FILE.jsonl]`, for trying binwatch out and for end-to-end tests.
//!
//! For each `POST` it checks the Standard Webhooks signature and timestamp (401 if either is
//! wrong or missing), parses the CloudEvent (400 if it is not one), and deduplicates by
//! `webhook-id`: a repeat is answered 200 but neither stored nor printed again. A new work order
//! is printed as one human-readable line and appended as one JSON line
//! `{"received_at", "webhook_id", "event"}` to the store (written and flushed before the 200, so
//! an answered delivery is on disk). Ids already in the store when the server starts count as
//! seen. [`ReceiverControl`] lets a test (or an operator) make it answer a fixed status such as
//! 503, to exercise the sender's retry path.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::event::Event;
use crate::sink::webhook::{
    Clock, DEFAULT_TOLERANCE, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret, verify,
};
use crate::timestamp::Timestamp;

/// Errors of the receiver; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The store could not be opened or read.
    #[error("receiver store {path}: {action}: {source}")]
    Store {
        /// What was being done.
        action: &'static str,
        /// The store file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One line of the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOrder {
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// The `webhook-id` header.
    pub webhook_id: String,
    /// The event.
    pub event: Event,
}

/// Live controls and counters of a running receiver.
#[derive(Debug, Default)]
pub struct ReceiverControl {
    forced: AtomicU16,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
}

impl ReceiverControl {
    /// Answer every request with `status` (e.g. 503) until cleared with `None`.
    pub fn force_status(&self, status: Option<u16>) {
        self.forced.store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// New work orders stored.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Repeats answered 200 without storing.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::SeqCst)
    }

    /// Requests refused (bad signature, bad body, forced status).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

/// Where printed lines go.
pub type Printer = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything [`serve_with`] needs.
pub struct ReceiverOptions {
    /// The shared secret.
    pub secret: WebhookSecret,
    /// JSON-lines store, if any.
    pub store: Option<PathBuf>,
    /// Accepted clock skew of `webhook-timestamp` (default 5 min).
    pub tolerance: Duration,
    /// Largest accepted body (default 32 MiB: evidence images).
    pub max_body: usize,
    /// Controls and counters.
    pub control: Arc<ReceiverControl>,
    /// Line printer (default: stdout).
    pub printer: Printer,
    /// Clock for the timestamp check (default: system clock).
    pub clock: Clock,
}

impl ReceiverOptions {
    /// Defaults around a secret and an optional store.
    pub fn new(secret: WebhookSecret, store: Option<PathBuf>) -> Self {
        ReceiverOptions {
            secret,
            store,
            tolerance: DEFAULT_TOLERANCE,
            max_body: 32 * 1024 * 1024,
            control: Arc::new(ReceiverControl::default()),
            printer: Arc::new(|line| println!("{line}")),
            clock: Arc::new(Timestamp::now),
        }
    }
}

struct Shared {
    opts: ReceiverOptions,
    state: Mutex<State>,
}

struct State {
    seen: HashSet<String>,
    store: Option<(PathBuf, File)>,
}

/// Serves until `shutdown` completes, printing to stdout: the `binwatch receive` command.
pub async fn serve(
    listener: TcpListener,
    secret: WebhookSecret,
    store_path: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ReceiveError> {
    serve_with(listener, ReceiverOptions::new(secret, store_path), shutdown).await
}

fn load_seen(path: &Path) -> Result<HashSet<String>, ReceiveError> {
    let mut seen = HashSet::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
        Err(source) => {
            return Err(ReceiveError::Store {
                action: "open",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ReceiveError::Store {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        match serde_json::from_str::<StoredOrder>(&line) {
            Ok(o) => {
                seen.insert(o.webhook_id);
            }
            Err(e) => {
                tracing::warn!(store = %path.display(), line = n + 1, error = %e, "unreadable store line skipped")
            }
        }
    }
    Ok(seen)
}

/// Serves with explicit options until `shutdown` completes; then stops accepting and lets
/// requests in progress finish (up to 5 s).
pub async fn serve_with(
    listener: TcpListener,
    opts: ReceiverOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ReceiveError> {
    let (seen, store) = match &opts.store {
        Some(path) => {
            let seen = load_seen(path)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| ReceiveError::Store {
                    action: "open for append",
                    path: path.clone(),
                    source,
                })?;
            (seen, Some((path.clone(), file)))
        }
        None => (HashSet::new(), None),
    };
    let shared = Arc::new(Shared {
        opts,
        state: Mutex::new(State { seen, store }),
    });
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "receiver accept failed");
                        continue;
                    }
                };
                let shared = shared.clone();
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&shared, req).await) }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "receiver connection ended with an error");
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let ctl = &shared.opts.control;
    let refuse = |status: StatusCode, text: &str| {
        ctl.refused.fetch_add(1, Ordering::SeqCst);
        answer(status, text)
    };
    let forced = ctl.forced.load(Ordering::SeqCst);
    if forced != 0 {
        let status = StatusCode::from_u16(forced).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return refuse(status, "forced answer");
    }
    if req.method() != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "POST work orders here");
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(id), Some(ts), Some(sig)) = (
        header(HEADER_ID),
        header(HEADER_TIMESTAMP),
        header(HEADER_SIGNATURE),
    ) else {
        return refuse(StatusCode::UNAUTHORIZED, "missing webhook-* headers");
    };
    let body = match Limited::new(req.into_body(), shared.opts.max_body)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body too large or broken"),
    };
    let now = (shared.opts.clock)();
    if let Err(e) = verify(
        &shared.opts.secret,
        &id,
        &ts,
        &sig,
        &body,
        now,
        shared.opts.tolerance,
    ) {
        tracing::warn!(error = %e, "receiver refused a delivery");
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let event = match Event::from_json(&body) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Ok(mut state) = shared.state.lock() else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "receiver state poisoned");
    };
    if state.seen.contains(&id) {
        ctl.duplicates.fetch_add(1, Ordering::SeqCst);
        return answer(StatusCode::OK, "duplicate: already received");
    }
    let line = format!("{} [signature verified]", event.summary_line());
    if let Some((path, file)) = state.store.as_mut() {
        let order = StoredOrder {
            received_at: now.to_rfc3339(),
            webhook_id: id.clone(),
            event,
        };
        let written = serde_json::to_vec(&order)
            .map_err(std::io::Error::other)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                file.write_all(&bytes)?;
                file.sync_data()
            });
        if let Err(e) = written {
            tracing::error!(store = %path.display(), error = %e, "receiver cannot store a work order");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "cannot store");
        }
    }
    state.seen.insert(id);
    drop(state);
    ctl.accepted.fetch_add(1, Ordering::SeqCst);
    (shared.opts.printer)(&line);
    answer(StatusCode::OK, "stored")
}

/// Reads a store file (for tests and tools).
pub fn read_store(path: &Path) -> Result<Vec<StoredOrder>, ReceiveError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReceiveError::Store {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debounce::{Classes, DebounceConfig, Debouncer};
    use crate::event::{BinContext, Evidence, Location, ModelInfo, new_event_id};
    use crate::outbox::{Outbox, OutboxLimits, Recorded};
    use crate::sink::webhook::{WebhookConfig, WebhookSink};
    use crate::sink::{DeliveryOutcome, RetryPolicy, Sink, SplitMix64};
    use tokio::sync::oneshot;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_c2VjcmV0LWZvci10ZXN0cy1vbmx5", "test").expect("secret")
    }

    struct Running {
        url: String,
        control: Arc<ReceiverControl>,
        lines: Arc<Mutex<Vec<String>>>,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<Result<(), ReceiveError>>,
    }

    impl Running {
        async fn stop(mut self) {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(());
            }
            let r = self.task.await.expect("join");
            assert!(r.is_ok(), "{r:?}");
        }

        fn lines(&self) -> Vec<String> {
            self.lines.lock().expect("lock").clone()
        }
    }

    async fn start(store: Option<PathBuf>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/orders", listener.local_addr().expect("addr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut opts = ReceiverOptions::new(secret(), store);
        let l2 = lines.clone();
        opts.printer = Arc::new(move |l| l2.lock().expect("lock").push(l.to_string()));
        let control = opts.control.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, opts, async move {
            let _ = rx.await;
        }));
        Running {
            url,
            control,
            lines,
            stop: Some(tx),
            task,
        }
    }

    /// Real bin events from a debouncer run: empty, partial, full..., empty.
    fn scenario_events(bin: &str) -> Vec<Event> {
        let classes = Classes::new(
            bin,
            vec!["empty".into(), "partial".into(), "full".into()],
            "full",
        )
        .expect("classes");
        let mut d = Debouncer::new(bin, classes.clone(), DebounceConfig::default()).expect("deb");
        let loc = Location {
            lat: Some(-34.9),
            lon: Some(-56.16),
            address: Some("Plaza Independencia".into()),
        };
        let model = ModelInfo {
            name: "binfill".into(),
            version: "1".into(),
            quantization: None,
        };
        let ctx = BinContext {
            host: "edge",
            camera: "cam-1",
            location: &loc,
            class_names: classes.names(),
            model: &model,
        };
        let mut out = Vec::new();
        for s in 0..600u64 {
            let p: [f32; 3] = match s {
                0..100 => [0.9, 0.08, 0.02],
                100..200 => [0.1, 0.8, 0.1],
                200..400 => [0.02, 0.08, 0.9],
                _ => [0.95, 0.04, 0.01],
            };
            let t = Timestamp::from_unix_secs(1_796_327_100 + s);
            if let Some(tr) = d.observe(t, &p, true) {
                out.push(
                    Event::from_transition(
                        new_event_id(),
                        &tr,
                        &ctx,
                        Evidence::from_jpeg(Some(&[0xFF, 0xD8, 0xFF, 0xD9]), None),
                    )
                    .expect("event"),
                );
            }
        }
        out
    }

    #[tokio::test]
    async fn round_trip_stores_once_and_prints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("orders.jsonl");
        let rx = start(Some(store.clone())).await;
        let sink = WebhookSink::new(WebhookConfig::new(&rx.url), secret()).expect("sink");
        let events = scenario_events("bin-7");
        assert_eq!(events.len(), 2, "one overflowing, one resolved");
        for ev in &events {
            assert_eq!(sink.deliver(ev).await, DeliveryOutcome::Delivered);
        }
        // The same deliveries again (e.g. a retry after a lost answer): 200, not stored again.
        for ev in &events {
            assert_eq!(sink.deliver(ev).await, DeliveryOutcome::Delivered);
        }
        assert_eq!(rx.control.accepted(), 2);
        assert_eq!(rx.control.duplicates(), 2);
        let lines = rx.lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("OVERFLOWING bin=bin-7"), "{}", lines[0]);
        assert!(lines[1].contains("RESOLVED bin=bin-7"), "{}", lines[1]);
        rx.stop().await;
        let stored = read_store(&store).expect("store");
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].event, events[0]);
        assert_eq!(stored[0].webhook_id, events[0].id);

        // A restarted receiver remembers what it stored.
        let rx = start(Some(store.clone())).await;
        let sink = WebhookSink::new(WebhookConfig::new(&rx.url), secret()).expect("sink");
        assert_eq!(sink.deliver(&events[1]).await, DeliveryOutcome::Delivered);
        assert_eq!(rx.control.duplicates(), 1);
        assert!(rx.lines().is_empty());
        rx.stop().await;
        assert_eq!(read_store(&store).expect("store").len(), 2);
    }

    #[tokio::test]
    async fn bad_signature_or_stale_timestamp_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("orders.jsonl");
        let rx = start(Some(store.clone())).await;
        let ev = &scenario_events("bin-1")[0];
        let wrong = WebhookSink::new(
            WebhookConfig::new(&rx.url),
            WebhookSecret::from_bytes(b"wrong".to_vec()),
        )
        .expect("sink");
        let out = wrong.deliver(ev).await;
        assert!(
            matches!(&out, DeliveryOutcome::Reject { reason } if reason.starts_with("HTTP 401") && reason.contains("no valid v1 signature")),
            "{out:?}"
        );
        let stale_clock = Timestamp::from_unix_ms(Timestamp::now().as_unix_ms() - 600_000);
        let stale = WebhookSink::new(WebhookConfig::new(&rx.url), secret())
            .expect("sink")
            .with_clock(Arc::new(move || stale_clock));
        let out = stale.deliver(ev).await;
        assert!(
            matches!(&out, DeliveryOutcome::Reject { reason } if reason.contains("tolerance")),
            "{out:?}"
        );
        // Unsigned request.
        let resp = reqwest::Client::new()
            .post(&rx.url)
            .body("{}")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 401);
        let resp = reqwest::Client::new()
            .get(&rx.url)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 405);
        // Correctly signed, but not a CloudEvent: 400.
        let ts = Timestamp::now().as_unix_secs();
        let body = br#"{"hello":"world"}"#;
        let resp = reqwest::Client::new()
            .post(&rx.url)
            .header(HEADER_ID, "msg-1")
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(
                HEADER_SIGNATURE,
                crate::sink::webhook::sign(&secret(), "msg-1", ts, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(rx.control.refused(), 5);
        assert_eq!(rx.control.accepted(), 0);
        assert!(rx.lines().is_empty());
        rx.stop().await;
        assert!(read_store(&store).expect("store").is_empty());
    }

    #[tokio::test]
    async fn receiver_down_then_up_delivers_everything_once_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("orders.jsonl");
        let rx = start(Some(store.clone())).await;
        rx.control.force_status(Some(503));
        let sink = WebhookSink::new(WebhookConfig::new(&rx.url), secret()).expect("sink");
        let policy = RetryPolicy::default();
        let (mut ob, _) = Outbox::open(&dir.path().join("outbox"), OutboxLimits::default(), policy)
            .expect("outbox");
        let mut all = scenario_events("bin-1");
        all.extend(scenario_events("bin-2"));
        all.extend(scenario_events("bin-1")); // a second episode for bin-1
        let mut now = Timestamp::from_unix_secs(1_796_327_800);
        for ev in &all {
            ob.push(ev.clone(), now).expect("push");
        }
        let mut rng = SplitMix64::new(3);
        let mut rounds = 0;
        let mut retries = 0;
        while !ob.is_empty() {
            rounds += 1;
            assert!(rounds < 50, "did not drain");
            if rounds == 4 {
                rx.control.force_status(None); // receiver back
            }
            for (seq, ev) in ob.take_due(now).expect("due") {
                let outcome = sink.deliver(&ev).await;
                if let Recorded::RetryAt(_) =
                    ob.record(seq, &outcome, now, &mut rng).expect("record")
                {
                    retries += 1;
                }
            }
            // Simulated time: jump to the next retry time instead of sleeping.
            if let Some(t) = ob.next_wakeup() {
                now = now.max(t);
            }
        }
        assert!(retries >= 3, "{retries}");
        assert_eq!(
            rx.control.refused(),
            retries,
            "every 503 led to a scheduled retry"
        );
        rx.stop().await;
        let stored = read_store(&store).expect("store");
        let got: Vec<&str> = stored.iter().map(|o| o.webhook_id.as_str()).collect();
        assert_eq!(got.len(), all.len(), "none lost, none duplicated");
        let unique: HashSet<_> = got.iter().collect();
        assert_eq!(unique.len(), all.len());
        // Per-bin order is the queue order.
        for bin in ["bin-1", "bin-2"] {
            let sent: Vec<&str> = all
                .iter()
                .filter(|e| e.subject == bin)
                .map(|e| e.id.as_str())
                .collect();
            let recv: Vec<&str> = stored
                .iter()
                .filter(|o| o.event.subject == bin)
                .map(|o| o.webhook_id.as_str())
                .collect();
            assert_eq!(sent, recv, "{bin}");
        }
    }

    #[tokio::test]
    async fn crash_after_send_before_ack_resends_same_id_and_is_deduplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("orders.jsonl");
        let obdir = dir.path().join("outbox");
        let rx = start(Some(store.clone())).await;
        let sink = WebhookSink::new(WebhookConfig::new(&rx.url), secret()).expect("sink");
        let now = Timestamp::from_unix_secs(1_796_327_800);
        let ev = scenario_events("bin-9").remove(0);
        {
            let (mut ob, _) = Outbox::open(&obdir, OutboxLimits::default(), RetryPolicy::default())
                .expect("open");
            ob.push(ev.clone(), now).expect("push");
            let due = ob.take_due(now).expect("due");
            assert_eq!(sink.deliver(&due[0].1).await, DeliveryOutcome::Delivered);
            // kill -9 here: the outcome is never recorded.
        }
        let (mut ob, report) =
            Outbox::open(&obdir, OutboxLimits::default(), RetryPolicy::default()).expect("reopen");
        assert_eq!(report.loaded, 1);
        let due = ob.take_due(now).expect("due");
        assert_eq!(due[0].1.id, ev.id, "same id on resend");
        let outcome = sink.deliver(&due[0].1).await;
        assert_eq!(outcome, DeliveryOutcome::Delivered);
        let mut rng = SplitMix64::new(1);
        assert_eq!(
            ob.record(due[0].0, &outcome, now, &mut rng)
                .expect("record"),
            Recorded::Removed
        );
        assert!(ob.is_empty());
        assert_eq!(rx.control.duplicates(), 1);
        rx.stop().await;
        assert_eq!(read_store(&store).expect("store").len(), 1);
    }
}
