//! An IP camera's JPEG snapshot URL over HTTP(S): one GET per tick with a timeout, HTTP basic or
//! digest authentication (the password comes from an environment variable, never the config).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use super::{Captured, FrameSource, Grab, GrabFuture, Payload, SourceError};
use crate::config::HttpAuth;
use crate::timestamp::Timestamp;

/// Largest snapshot accepted (a JPEG of a 16k x 16k frame would be far smaller than this).
const MAX_BYTES: usize = 64 * 1024 * 1024;

pub struct HttpSource {
    camera: String,
    url: String,
    client: reqwest::Client,
    credentials: Option<(String, String)>,
    auth: HttpAuth,
}

impl HttpSource {
    pub fn new(
        camera: &str,
        url: &str,
        timeout_s: f64,
        username: Option<String>,
        password_env: Option<&str>,
        auth: HttpAuth,
    ) -> Result<Self, SourceError> {
        let err = |message: String| SourceError::Http {
            camera: camera.to_string(),
            url: url.to_string(),
            message,
        };
        let password = match password_env {
            Some(var) => Some(
                std::env::var(var).map_err(|_| SourceError::MissingPassword {
                    camera: camera.to_string(),
                    var: var.to_string(),
                })?,
            ),
            None => None,
        };
        let credentials = username.map(|u| (u, password.unwrap_or_default()));
        let timeout = Duration::from_secs_f64(timeout_s.max(0.001));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| err(crate::errtext::http(&e)))?;
        Ok(HttpSource {
            camera: camera.to_string(),
            url: url.to_string(),
            client,
            credentials,
            auth,
        })
    }

    fn err(&self, message: impl Into<String>) -> SourceError {
        SourceError::Http {
            camera: self.camera.clone(),
            url: self.url.clone(),
            message: message.into(),
        }
    }

    async fn fetch(&self) -> Result<Vec<u8>, SourceError> {
        let mut req = self.client.get(&self.url);
        if let (Some((user, pass)), HttpAuth::Basic) = (&self.credentials, self.auth) {
            req = req.basic_auth(user, Some(pass));
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.err(crate::errtext::http(&e)))?;
        if resp.status() == StatusCode::UNAUTHORIZED
            && let (Some((user, pass)), HttpAuth::Digest) = (&self.credentials, self.auth)
        {
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| self.err("401 without a WWW-Authenticate challenge"))?
                .to_string();
            let mut prompt = digest_auth::parse(&challenge)
                .map_err(|e| self.err(format!("digest challenge: {e}")))?;
            let parsed = reqwest::Url::parse(&self.url).map_err(|e| self.err(e.to_string()))?;
            let uri = match parsed.query() {
                Some(q) => format!("{}?{q}", parsed.path()),
                None => parsed.path().to_string(),
            };
            let ctx = digest_auth::AuthContext::new(user.as_str(), pass.as_str(), uri.as_str());
            let answer = prompt
                .respond(&ctx)
                .map_err(|e| self.err(format!("digest answer: {e}")))?;
            resp = self
                .client
                .get(&self.url)
                .header(AUTHORIZATION, answer.to_header_string())
                .send()
                .await
                .map_err(|e| self.err(crate::errtext::http(&e)))?;
        }
        let status = resp.status();
        if !status.is_success() {
            return Err(self.err(format!("HTTP {status}")));
        }
        if resp
            .content_length()
            .is_some_and(|n| n as usize > MAX_BYTES)
        {
            return Err(self.err(format!("snapshot larger than {MAX_BYTES} bytes")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.err(crate::errtext::http(&e)))?;
        if bytes.len() > MAX_BYTES {
            return Err(self.err(format!("snapshot larger than {MAX_BYTES} bytes")));
        }
        Ok(bytes.to_vec())
    }
}

impl FrameSource for HttpSource {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn grab(&mut self) -> GrabFuture<'_> {
        Box::pin(async move {
            let bytes = self.fetch().await?;
            Ok(Grab::Frame(Captured {
                payload: Payload::Encoded(bytes),
                time: Timestamp::now(),
                origin: self.url.clone(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A camera that wants digest (or basic) auth and answers "JPEG" bytes; records Authorization headers.
    async fn camera(digest: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            log.lock()
                                .expect("lock")
                                .push(auth.clone().unwrap_or_default());
                            let ok = match (&auth, digest) {
                                (Some(a), true) => {
                                    a.starts_with("Digest ") && a.contains("username=\"ops\"")
                                }
                                (Some(a), false) => a.starts_with("Basic "),
                                (None, _) => false,
                            };
                            let resp = if ok {
                                Response::new(Full::new(Bytes::from_static(b"\xff\xd8JPEG")))
                            } else {
                                let mut r = Response::new(Full::new(Bytes::new()));
                                *r.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                                r.headers_mut().insert(
                                    "www-authenticate",
                                    "Digest realm=\"cam\", qop=\"auth\", nonce=\"abc123\", opaque=\"xyz\""
                                        .parse()
                                        .expect("header"),
                                );
                                r
                            };
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (format!("http://{addr}/snap.jpg?ch=1"), seen)
    }

    #[tokio::test]
    async fn digest_and_basic_auth_fetch_the_snapshot() {
        // SAFETY: a variable name only this test uses
        unsafe { std::env::set_var("BINWATCH_TEST_CAM_PASSWORD", "s3cret") };
        let (url, seen) = camera(true).await;
        let mut src = HttpSource::new(
            "gate",
            &url,
            5.0,
            Some("ops".into()),
            Some("BINWATCH_TEST_CAM_PASSWORD"),
            HttpAuth::Digest,
        )
        .expect("source");
        let Grab::Frame(c) = src.grab().await.expect("grab") else {
            panic!("end")
        };
        assert!(matches!(c.payload, Payload::Encoded(b) if b == b"\xff\xd8JPEG"));
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].contains("uri=\"/snap.jpg?ch=1\""), "{}", seen[1]);

        let (url, _) = camera(false).await;
        let mut src = HttpSource::new(
            "gate",
            &url,
            5.0,
            Some("ops".into()),
            Some("BINWATCH_TEST_CAM_PASSWORD"),
            HttpAuth::Basic,
        )
        .expect("source");
        assert!(matches!(src.grab().await.expect("grab"), Grab::Frame(_)));
    }

    #[tokio::test]
    async fn refused_connection_and_401_are_errors_naming_the_camera() {
        let mut src = HttpSource::new(
            "gate",
            "http://127.0.0.1:9/x.jpg",
            1.0,
            None,
            None,
            HttpAuth::Basic,
        )
        .expect("source");
        let err = src.grab().await.expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("camera gate: http://127.0.0.1:9/x.jpg"),
            "{err}"
        );
        // reqwest's cause, from its source chain
        assert!(err.to_string().contains("Connection refused"), "{err}");
        // a server that accepts and never answers: the timeout is said as such
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/x.jpg", silent.local_addr().expect("addr"));
        let mut src =
            HttpSource::new("gate", &url, 0.2, None, None, HttpAuth::Basic).expect("source");
        let err = src.grab().await.expect_err("timeout");
        assert!(err.to_string().contains("timed out"), "{err}");
        drop(silent);
        let (url, _) = camera(true).await;
        let mut src =
            HttpSource::new("gate", &url, 5.0, None, None, HttpAuth::Basic).expect("source");
        let err = src.grab().await.expect_err("401");
        assert!(err.to_string().contains("401"), "{err}");
    }
}
