//! Shared helpers of the `tests/daemon_*.rs` end-to-end tests: real photos from the pool copied into a
//! temp folder, a config around them, the built `binwatch` binary as a child process, and an in-process
//! `receive` server on 127.0.0.1.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use binwatch::receive::{ReceiverControl, ReceiverOptions};
use binwatch::sink::webhook::WebhookSecret;

/// The photo pool: env BINWATCH_DATASETS, else ../shared/datasets beside the checkout.
pub fn datasets() -> PathBuf {
    let dir = std::env::var_os("BINWATCH_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    assert!(
        dir.join("cctv-topdown").is_dir(),
        "photo pool not found at {} (set BINWATCH_DATASETS)",
        dir.display()
    );
    dir
}

pub fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/bin-fill.onnx")
}

/// cctv-topdown photos the shipped model classifies confidently as a whole image (checked with the
/// model's reference preprocessing: p(full) >= 0.95 for FULL, <= 0.02 for EMPTY, p(partial) >= 0.8 and
/// p(full) <= 0.1 for PARTIAL). A retrained model that moves them across 0.3 / 0.7 fails these tests loudly.
pub const EMPTY: [&str; 4] = [
    "cctv-topdown/empty/ScuolaDante_IP360-2022_10_16-X10_5801_jpg.rf.c06b852c21954077d32da11491f60e56.jpg",
    "cctv-topdown/empty/ScuolaDante_IP360-2022_10_16-X10_2611---Copia_jpg.rf.5622963a4ab6916697d61571c5fb84f6.jpg",
    "cctv-topdown/empty/ScuolaDante_IP360-2022_10_16-X10_3481_jpg.rf.553c14ef94d52e7a2d9d235c57e8ca53.jpg",
    "cctv-topdown/empty/ScuolaDante_IP360-2022_10_16-X10_5511_jpg.rf.b107cbad642802f1c0e163be664022a6.jpg",
];
pub const PARTIAL: &str = "cctv-topdown/partial/ScuolaDante_IP360-2022_10_18-10X_1740_jpg.rf.eea3e236de617d15567049cd53c32f59.jpg";
pub const FULL: [&str; 4] = [
    "cctv-topdown/full/Scuola-Dante-2022_10_12-vel--8X_30741_jpg.rf.a0c64e3cd3938455525d8c4b51e17dac.jpg",
    "cctv-topdown/full/Scuola-Dante-2022_10_12-vel--8X_27552_jpg.rf.2f15ce738f1d01a6ca469a2f11e5c7c7.jpg",
    "cctv-topdown/full/Scuola-Dante-2022_10_12-vel--8X_23781_jpg.rf.2fc383086742f6b345727c68bce8cd6d.jpg",
    "cctv-topdown/full/Scuola-Dante-2022_10_12-vel--8X_17981_jpg.rf.b711dc24b1d03423c58329c8ff43a8e3.jpg",
];

/// Copies `photos` (pool-relative) into `dir` as `000.jpg`, `001.jpg`, ... in the given order.
pub fn stage(dir: &Path, photos: &[&str]) {
    let pool = datasets();
    std::fs::create_dir_all(dir).expect("create replay folder");
    for (i, p) in photos.iter().enumerate() {
        std::fs::copy(pool.join(p), dir.join(format!("{i:03}.jpg")))
            .unwrap_or_else(|e| panic!("copy {p}: {e}"));
    }
}

/// empty, partial, full x6, empty x6: one overflow episode and its resolution.
pub fn episode_sequence() -> Vec<&'static str> {
    let mut v = vec![EMPTY[0], PARTIAL];
    for i in 0..6 {
        v.push(FULL[i % FULL.len()]);
    }
    for i in 0..6 {
        v.push(EMPTY[i % EMPTY.len()]);
    }
    v
}

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn write_secret(dir: &Path) -> PathBuf {
    let p = dir.join("webhook.secret");
    std::fs::write(&p, SECRET).expect("write secret");
    p
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub struct Setup<'a> {
    pub replay: &'a Path,
    pub state: &'a Path,
    pub secret: &'a Path,
    pub webhook_port: u16,
    pub metrics_port: Option<u16>,
    pub interval_s: f64,
    pub repeat: bool,
}

/// A config with one camera replaying `replay`, one whole-image bin, a webhook to 127.0.0.1, and
/// debounce durations short enough for a test.
pub fn config(s: &Setup<'_>) -> String {
    let metrics = match s.metrics_port {
        Some(p) => format!("127.0.0.1:{p}"),
        None => String::new(),
    };
    format!(
        r#"state_dir = "{state}"

[model]
path = "{model}"

[daemon]
host = "test-box"
metrics_listen = "{metrics}"
shutdown_grace_s = 3

[debounce]
alert_threshold = 0.7
clear_threshold = 0.3
confirm_s = {confirm}
clear_s = {confirm}
min_frames = 2
min_confidence = 0.4
max_gap_s = 30
renotify_s = 0

[[cameras]]
name = "yard"
interval_s = {interval}
source = {{ kind = "folder", path = "{replay}", loop = {repeat} }}

[[bins]]
id = "bin-7"
camera = "yard"
region = [0.0, 0.0, 1.0, 1.0]
margin = 0.0
lat = 45.4642
lon = 9.19
address = "Via Dante 7, Milano"

[[sinks]]
kind = "webhook"
url = "http://127.0.0.1:{port}/orders"
secret_file = "{secret}"
timeout_s = 5
retry_initial_s = 0.3
retry_max_s = 1
"#,
        state = s.state.display(),
        model = model().display(),
        replay = s.replay.display(),
        secret = s.secret.display(),
        port = s.webhook_port,
        interval = s.interval_s,
        confirm = s.interval_s * 2.5,
        repeat = s.repeat,
    )
}

/// The built binary, with logs at debug level on a file.
pub fn spawn_daemon(config: &Path, log: &Path, exit_when_done: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binwatch"));
    cmd.arg("run").arg("--config").arg(config);
    if exit_when_done {
        cmd.arg("--exit-when-done");
    }
    let out = std::fs::File::create(log).expect("log file");
    cmd.env("BINWATCH_LOG", "info,binwatch=debug")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("spawn binwatch")
}

/// Waits for the child to exit, killing it (and failing) after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration, log: &Path) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "binwatch did not exit within {limit:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
}

/// `GET http://127.0.0.1:<port><path>` with a plain TCP socket; returns the body ("" on failure).
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The value of one metric line (`name{labels}`), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

/// An in-process `binwatch receive` on a tokio runtime of its own.
pub struct Receiver {
    pub addr: SocketAddr,
    pub control: Arc<ReceiverControl>,
    pub store: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts on `port` (0 = any), storing work orders in `store`.
    pub fn start(port: u16, store: &Path) -> Receiver {
        let control = Arc::new(ReceiverControl::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let ctl = control.clone();
        let store_path = store.to_path_buf();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("bind receiver");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let mut opts = ReceiverOptions::new(
                    WebhookSecret::parse(SECRET, "test").expect("secret"),
                    Some(store_path),
                );
                opts.control = ctl;
                opts.printer = Arc::new(|line| eprintln!("receiver: {line}"));
                binwatch::receive::serve_with(listener, opts, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver address");
        Receiver {
            addr,
            control,
            store: store.to_path_buf(),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn orders(&self) -> Vec<binwatch::receive::StoredOrder> {
        binwatch::receive::read_store(&self.store).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `f` every 50 ms until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
