//! Webhook sink: POSTs each event as CloudEvents JSON, signed per Standard Webhooks.
//!
//! Headers: `webhook-id` = the event id (the same on every retry: the receiver's idempotency
//! key), `webhook-timestamp` = Unix seconds of this attempt, `webhook-signature` =
//! `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. The secret is `whsec_<base64>` or,
//! without that prefix, the raw bytes; the caller reads it from a file or an environment
//! variable, never from the config file, and its `Debug` output is redacted.
//!
//! Status policy (one attempt -> one [`DeliveryOutcome`]; the outbox does the retrying):
//! * `2xx` -> **Delivered**.
//! * `410 Gone` -> **Reject**: the endpoint asked us to stop; the event goes to the dead letters.
//! * `408`, `425`, `429` and every `5xx` -> **Retry**, honouring `Retry-After` (seconds or an HTTP
//!   date). Timeouts, connection failures and other transport errors -> **Retry**.
//! * Any other `4xx` (400, 401, 403, 404, 413, 422, ...) -> **Reject** (permanent): the request
//!   itself is wrong or unauthorised, and resending the same bytes cannot fix it. The reason and
//!   the first 300 bytes of the answer's body are logged and kept with the dead letter, so an
//!   operator can fix the URL or secret and requeue.
//! * `1xx`/`3xx` -> **Reject**: redirects are not followed (a POST must not be silently
//!   re-routed); the configured URL has to point at the receiver itself.
//!
//! The pure parts ([`sign`], [`verify`], [`classify_status`], [`parse_retry_after`]) are shared
//! with the receiver and tested without a network.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::{CLOUDEVENTS_JSON, Event};
use crate::sink::{DeliverFuture, DeliveryOutcome, Sink};
use crate::timestamp::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the Unix-seconds timestamp.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Default tolerance between a signature's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// How many bytes of an error answer are kept for logs and the dead letter.
const BODY_EXCERPT: usize = 300;

/// Errors loading a secret or building the sink; each names the file, variable or URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The secret file could not be read.
    #[error("webhook secret file {path}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The environment variable is not set or not UTF-8.
    #[error("webhook secret variable {var} is not set (or not UTF-8)")]
    SecretEnv {
        /// The variable.
        var: String,
    },
    /// The secret is empty or its `whsec_` part is not base64.
    #[error("webhook secret from {origin}: {reason}")]
    SecretFormat {
        /// Where it came from (file or variable).
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL is not an http(s) URL.
    #[error("webhook sink {sink}: bad URL {url:?}: {reason}")]
    Url {
        /// Sink name.
        sink: String,
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("webhook sink {sink}: HTTP client: {source}")]
    Client {
        /// Sink name.
        sink: String,
        /// The error.
        #[source]
        source: reqwest::Error,
    },
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is not an integer.
    #[error("webhook {id}: bad timestamp header {value:?}")]
    BadTimestamp {
        /// Message id.
        id: String,
        /// The header value.
        value: String,
    },
    /// The timestamp is outside the tolerance (replay or clock skew).
    #[error(
        "webhook {id}: timestamp {timestamp} is {skew_secs} s away from now (tolerance {tolerance_secs} s)"
    )]
    OutsideTolerance {
        /// Message id.
        id: String,
        /// The header's timestamp.
        timestamp: u64,
        /// Absolute difference from now.
        skew_secs: u64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// No `v1` signature matched.
    #[error("webhook {id}: no valid v1 signature")]
    NoMatch {
        /// Message id.
        id: String,
    },
}

/// An HMAC secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret(<redacted, {} bytes>)", self.0.len())
    }
}

impl WebhookSecret {
    /// `whsec_<base64>` (decoded), or any other text used as raw bytes. Surrounding whitespace
    /// (a trailing newline in a file) is trimmed. `origin` only labels errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, WebhookError> {
        let t = text.trim();
        let bad = |reason: &str| WebhookError::SecretFormat {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        let bytes = match t.strip_prefix("whsec_") {
            Some(b64) => B64
                .decode(b64)
                .map_err(|_| bad("the part after whsec_ is not valid base64"))?,
            None => t.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(bad("the secret is empty"));
        }
        Ok(WebhookSecret(bytes))
    }

    /// Raw key bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        WebhookSecret(bytes)
    }

    /// Reads and parses a secret file.
    pub fn from_file(path: &Path) -> Result<Self, WebhookError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebhookError::SecretFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &format!("file {}", path.display()))
    }

    /// Reads and parses an environment variable.
    pub fn from_env(var: &str) -> Result<Self, WebhookError> {
        let text = std::env::var(var).map_err(|_| WebhookError::SecretEnv {
            var: var.to_string(),
        })?;
        Self::parse(&text, &format!("variable {var}"))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value for one message: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp_secs: u64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp_secs.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", B64.encode(tag))
}

/// Checks a message: the timestamp within `tolerance` of `now`, and at least one of the
/// space-separated `v1,<base64>` signatures valid (constant-time comparison; other versions
/// are ignored).
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp {
            id: id.to_string(),
            value: timestamp.to_string(),
        })?;
    let now_s = now.as_unix_secs();
    let skew = now_s.abs_diff(ts);
    if skew > tolerance.as_secs() {
        return Err(VerifyError::OutsideTolerance {
            id: id.to_string(),
            timestamp: ts,
            skew_secs: skew,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    let ok = signatures.split_whitespace().any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(tag) = B64.decode(b64) else {
            return false;
        };
        secret
            .mac(id, timestamp.trim(), body)
            .verify_slice(&tag)
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::NoMatch { id: id.to_string() })
    }
}

/// `Retry-After` as a delay from `now`: delta-seconds or an HTTP date (a past date gives zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The status policy in the module docs, as a pure function.
pub fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    body_excerpt: &str,
) -> DeliveryOutcome {
    let reason = if body_excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body_excerpt}")
    };
    match status {
        200..=299 => DeliveryOutcome::Delivered,
        410 => DeliveryOutcome::Reject {
            reason: format!("{reason} (410 Gone: the endpoint asked to stop)"),
        },
        408 | 425 | 429 | 500..=599 => DeliveryOutcome::Retry {
            after: retry_after,
            reason,
        },
        400..=499 => DeliveryOutcome::Reject { reason },
        _ => DeliveryOutcome::Reject {
            reason: format!("{reason} (redirects and informational answers are not followed)"),
        },
    }
}

/// Makes a short, single-line, printable excerpt of an answer body.
pub fn body_excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT)];
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Settings of one webhook sink.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Sink name (logs, metrics, outbox folder).
    pub name: String,
    /// `http://` or `https://` URL to POST to.
    pub url: String,
    /// Whole-request timeout (default 10 s).
    pub timeout: Duration,
    /// Connect timeout (default 5 s).
    pub connect_timeout: Duration,
}

impl WebhookConfig {
    /// Defaults for a URL.
    pub fn new(url: &str) -> Self {
        WebhookConfig {
            name: "webhook".into(),
            url: url.to_string(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A clock returning "now"; the default reads the system clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The webhook sink.
pub struct WebhookSink {
    cfg: WebhookConfig,
    url: reqwest::Url,
    secret: WebhookSecret,
    client: reqwest::Client,
    clock: Clock,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("cfg", &self.cfg)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Builds the sink; checks the URL.
    pub fn new(cfg: WebhookConfig, secret: WebhookSecret) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| WebhookError::Url {
            sink: cfg.name.clone(),
            url: cfg.url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Url {
                sink: cfg.name.clone(),
                url: cfg.url.clone(),
                reason: "scheme must be http or https".into(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("binwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| WebhookError::Client {
                sink: cfg.name.clone(),
                source,
            })?;
        Ok(WebhookSink {
            cfg,
            url,
            secret,
            client,
            clock: Arc::new(Timestamp::now),
        })
    }

    /// Replaces the clock used for `webhook-timestamp` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// One signed POST of `event`.
    pub async fn attempt(&self, event: &Event) -> DeliveryOutcome {
        let body = match event.to_json() {
            Ok(b) => b,
            Err(e) => {
                return DeliveryOutcome::Reject {
                    reason: e.to_string(),
                };
            }
        };
        let now = (self.clock)();
        let ts = now.as_unix_secs();
        let signature = sign(&self.secret, &event.id, ts, &body);
        let sent = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CLOUDEVENTS_JSON)
            .header(HEADER_ID, &event.id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "transport error"
                };
                let reason = format!("{kind}: {}", crate::errtext::http(&e));
                tracing::warn!(sink = %self.cfg.name, event = %event.id, %reason, "webhook attempt failed");
                return DeliveryOutcome::Retry {
                    after: None,
                    reason,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now.to_system_time()));
        let excerpt = if (200..300).contains(&status) {
            String::new()
        } else {
            let mut buf = Vec::new();
            while buf.len() < BODY_EXCERPT {
                match resp.chunk().await {
                    Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body_excerpt(&buf)
        };
        let outcome = classify_status(status, retry_after, &excerpt);
        match &outcome {
            DeliveryOutcome::Delivered => {
                tracing::debug!(sink = %self.cfg.name, event = %event.id, status, "delivered")
            }
            DeliveryOutcome::Retry { reason, after } => {
                tracing::warn!(sink = %self.cfg.name, event = %event.id, %reason, retry_after = ?after, "webhook will retry")
            }
            DeliveryOutcome::Reject { reason } => {
                tracing::error!(sink = %self.cfg.name, event = %event.id, %reason, "webhook rejected the event permanently")
            }
        }
        outcome
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn deliver<'a>(&'a self, event: &'a Event) -> DeliverFuture<'a> {
        Box::pin(self.attempt(event))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::CameraData;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::sync::Mutex;
    use tokio::net::TcpListener;

    /// What the scripted server saw.
    #[derive(Debug, Clone)]
    pub(crate) struct Seen {
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Scripted answers: status, headers, body.
    pub(crate) type Script = Vec<(u16, Vec<(&'static str, String)>, &'static str)>;

    /// A server on 127.0.0.1 answering requests from a script, then 200 forever.
    pub(crate) async fn scripted_server(script: Script) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen2.clone(), script.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (seen, script) = (seen.clone(), script.clone());
                        async move {
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            let body = req.into_body().collect().await?.to_bytes().to_vec();
                            seen.lock().expect("lock").push(Seen { headers, body });
                            let next = script.lock().expect("lock").pop_front();
                            let (status, hdrs, text) = next.unwrap_or((200, vec![], ""));
                            let mut resp = hyper::Response::builder().status(status);
                            for (k, v) in hdrs {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, hyper::Error>(
                                resp.body(Full::new(Bytes::from(text))).expect("response"),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (format!("http://{addr}/hook"), seen)
    }

    pub(crate) fn test_event(id: &str) -> Event {
        Event::camera(
            id.into(),
            "edge-01",
            false,
            Timestamp::from_unix_secs(1_796_327_100),
            CameraData {
                camera: "cam-1".into(),
                reason: Some("timeout".into()),
                last_frame_time: None,
                bins: vec!["bin-1".into()],
                check: None,
            },
        )
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "test").expect("secret")
    }

    #[test]
    fn signature_matches_the_standard_webhooks_vector() {
        let s = secret();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let now = Timestamp::from_unix_secs(1_614_265_330 + 10);
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        assert_eq!(
            verify(&s, id, "1614265330", &sig, body, now, DEFAULT_TOLERANCE),
            Ok(())
        );
        // several signatures (key rotation): any valid one is enough; unknown versions ignored
        let multi = format!("v1a,xyz v1,AAAA {sig}");
        assert_eq!(
            verify(&s, id, "1614265330", &multi, body, now, DEFAULT_TOLERANCE),
            Ok(())
        );
        // tampered body, other id, other secret
        assert!(matches!(
            verify(&s, id, "1614265330", &sig, b"{}", now, DEFAULT_TOLERANCE),
            Err(VerifyError::NoMatch { .. })
        ));
        assert!(
            verify(
                &s,
                "msg_other",
                "1614265330",
                &sig,
                body,
                now,
                DEFAULT_TOLERANCE
            )
            .is_err()
        );
        let other = WebhookSecret::from_bytes(b"another".to_vec());
        assert!(verify(&other, id, "1614265330", &sig, body, now, DEFAULT_TOLERANCE).is_err());
        // timestamps: too old, too new, garbage
        let late = Timestamp::from_unix_secs(1_614_265_330 + 301);
        assert!(matches!(
            verify(&s, id, "1614265330", &sig, body, late, DEFAULT_TOLERANCE),
            Err(VerifyError::OutsideTolerance { skew_secs: 301, .. })
        ));
        let early = Timestamp::from_unix_secs(1_614_265_330 - 301);
        assert!(verify(&s, id, "1614265330", &sig, body, early, DEFAULT_TOLERANCE).is_err());
        assert!(matches!(
            verify(&s, id, "soon", &sig, body, now, DEFAULT_TOLERANCE),
            Err(VerifyError::BadTimestamp { .. })
        ));
    }

    #[test]
    fn secrets_parse_and_never_print() {
        let s = secret();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("MfKQ") && dbg.contains("redacted"), "{dbg}");
        assert_eq!(
            WebhookSecret::parse("  raw-key\n", "x").expect("raw"),
            WebhookSecret::from_bytes(b"raw-key".to_vec())
        );
        assert!(WebhookSecret::parse("whsec_!!!", "file f").is_err());
        let err = WebhookSecret::parse("\n", "file /etc/x").expect_err("empty");
        assert!(err.to_string().contains("/etc/x"));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("secret");
        std::fs::write(&p, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").expect("write");
        assert_eq!(WebhookSecret::from_file(&p).expect("file"), s);
        let err = WebhookSecret::from_file(&dir.path().join("missing")).expect_err("missing");
        assert!(err.to_string().contains("missing"));
        let err = WebhookSecret::from_env("BINWATCH_TEST_SURELY_UNSET_VAR").expect_err("unset");
        assert!(err.to_string().contains("BINWATCH_TEST_SURELY_UNSET_VAR"));
        let sink = WebhookSink::new(WebhookConfig::new("http://127.0.0.1:9/"), s).expect("sink");
        assert!(!format!("{sink:?}").contains("MfKQ"));
    }

    #[test]
    fn status_policy() {
        use DeliveryOutcome::*;
        assert_eq!(classify_status(200, None, ""), Delivered);
        assert_eq!(classify_status(204, None, ""), Delivered);
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(matches!(classify_status(s, None, ""), Retry { .. }), "{s}");
        }
        assert_eq!(
            classify_status(503, Some(Duration::from_secs(7)), "busy"),
            Retry {
                after: Some(Duration::from_secs(7)),
                reason: "HTTP 503: busy".into()
            }
        );
        for s in [400, 401, 403, 404, 413, 422, 410, 301, 302, 100] {
            assert!(matches!(classify_status(s, None, ""), Reject { .. }), "{s}");
        }
        let Reject { reason } = classify_status(422, None, "missing field bin") else {
            panic!("422 must reject");
        };
        assert_eq!(reason, "HTTP 422: missing field bin");
        let Reject { reason } = classify_status(410, None, "") else {
            panic!("410 must reject");
        };
        assert!(reason.contains("Gone"));
        assert_eq!(body_excerpt(b"line1\nline2\r\n"), "line1 line2");
        assert_eq!(body_excerpt(&[b'x'; 1000]).len(), 300);
    }

    #[test]
    fn retry_after_forms() {
        let now = Timestamp::from_unix_secs(1_796_327_100).to_system_time();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 19:46:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 19:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[tokio::test]
    async fn posts_signed_event_and_maps_answers() {
        let (url, seen) = scripted_server(vec![
            (503, vec![("retry-after", "30".into())], "overloaded"),
            (
                429,
                vec![("retry-after", "Thu, 03 Dec 2026 19:47:00 GMT".into())],
                "",
            ),
            (404, vec![], "no such hook"),
            (410, vec![], ""),
            (302, vec![("location", "http://127.0.0.1:1/".into())], ""),
        ])
        .await;
        let now = Timestamp::from_unix_secs(1_796_327_100);
        let sink = WebhookSink::new(WebhookConfig::new(&url), secret())
            .expect("sink")
            .with_clock(Arc::new(move || now));
        let ev = test_event("evt-1");
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            outcomes.push(sink.deliver(&ev).await);
        }
        assert_eq!(
            outcomes[0],
            DeliveryOutcome::Retry {
                after: Some(Duration::from_secs(30)),
                reason: "HTTP 503: overloaded".into()
            }
        );
        assert_eq!(
            outcomes[1],
            DeliveryOutcome::Retry {
                after: Some(Duration::from_secs(120)),
                reason: "HTTP 429".into()
            }
        );
        assert_eq!(
            outcomes[2],
            DeliveryOutcome::Reject {
                reason: "HTTP 404: no such hook".into()
            }
        );
        assert!(
            matches!(&outcomes[3], DeliveryOutcome::Reject { reason } if reason.contains("410"))
        );
        assert!(
            matches!(&outcomes[4], DeliveryOutcome::Reject { reason } if reason.contains("302"))
        );
        assert_eq!(outcomes[5], DeliveryOutcome::Delivered);

        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 6, "redirect not followed");
        let body = ev.to_json().expect("json");
        for s in &seen {
            assert_eq!(
                s.header("webhook-id"),
                Some("evt-1"),
                "stable id across retries"
            );
            assert_eq!(s.header("webhook-timestamp"), Some("1796327100"));
            assert_eq!(
                s.header("content-type"),
                Some("application/cloudevents+json; charset=utf-8")
            );
            assert_eq!(s.body, body);
            let sig = s.header("webhook-signature").expect("signature");
            assert_eq!(
                verify(
                    &secret(),
                    "evt-1",
                    "1796327100",
                    sig,
                    &s.body,
                    now,
                    DEFAULT_TOLERANCE
                ),
                Ok(())
            );
        }
    }

    #[tokio::test]
    async fn transport_failures_retry() {
        // Connection refused: bind, note the port, close.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let sink = WebhookSink::new(WebhookConfig::new(&format!("http://{addr}/")), secret())
            .expect("sink");
        let out = sink.deliver(&test_event("e")).await;
        assert!(
            matches!(&out, DeliveryOutcome::Retry { after: None, reason } if reason.starts_with("connection failed")),
            "{out:?}"
        );
        // the cause reqwest keeps in its source chain is said, once
        let DeliveryOutcome::Retry { reason, .. } = &out else {
            unreachable!()
        };
        assert!(reason.contains("Connection refused"), "{reason}");
        assert_eq!(reason.matches("Connection refused").count(), 1, "{reason}");

        // A server that accepts and never answers: the request timeout fires.
        let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("addr");
        let hold = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                conns.push(s);
            }
        });
        let mut cfg = WebhookConfig::new(&format!("http://{addr}/"));
        cfg.timeout = Duration::from_millis(200);
        let sink = WebhookSink::new(cfg, secret()).expect("sink");
        let out = sink.deliver(&test_event("e")).await;
        assert!(
            matches!(&out, DeliveryOutcome::Retry { reason, .. } if reason.starts_with("timeout")),
            "{out:?}"
        );
        assert!(
            matches!(&out, DeliveryOutcome::Retry { reason, .. } if reason.contains("timed out")),
            "{out:?}"
        );
        hold.abort();

        assert!(WebhookSink::new(WebhookConfig::new("ftp://x/"), secret()).is_err());
        let err = WebhookSink::new(WebhookConfig::new("not a url"), secret()).expect_err("bad");
        assert!(err.to_string().contains("not a url"));
    }
}
