//! Cameras: a lost HTTP camera raises `camera.offline`, its return `camera.online` (both delivered); a
//! camera that hangs never stalls another camera; and the service side: sd_notify READY / WATCHDOG /
//! STOPPING on $NOTIFY_SOCKET.

mod daemon_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use binwatch::event::EventType;
use daemon_support::*;

const UP: u8 = 0;
const DOWN: u8 = 1;
const HANG: u8 = 2;

/// A snapshot camera on 127.0.0.1 serving one real photo; `mode` switches it up, down (connection
/// closed without an answer) or hung (never answers).
fn camera(photo: Vec<u8>, mode: Arc<AtomicU8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let photo = photo.clone();
            let mode = mode.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                match mode.load(Ordering::SeqCst) {
                    UP => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            photo.len()
                        );
                        let _ = s.write_all(&photo);
                    }
                    HANG => std::thread::sleep(Duration::from_secs(60)),
                    _ => {}
                }
            });
        }
    });
    port
}

fn camera_config(base: &str, cameras: &str) -> String {
    // reuse the folder config and swap its camera section
    let start = base.find("[[cameras]]").expect("cameras");
    let end = base.find("[[bins]]").expect("bins");
    format!("{}{}\n{}", &base[..start], cameras, &base[end..])
}

#[test]
fn lost_camera_goes_offline_then_online_and_a_hung_one_stalls_nobody() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &EMPTY);
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let mport = free_port();
    let base = config(&Setup {
        replay: &replay,
        state: &tmp.path().join("state"),
        secret: &secret,
        webhook_port: rx.addr.port(),
        metrics_port: Some(mport),
        interval_s: 0.2,
        repeat: true,
    });
    let photo = std::fs::read(datasets().join(EMPTY[0])).expect("photo");
    let gate_mode = Arc::new(AtomicU8::new(UP));
    let gate = camera(photo.clone(), gate_mode.clone());
    let hung = camera(photo, Arc::new(AtomicU8::new(HANG)));
    let cameras = format!(
        r#"[[cameras]]
name = "yard"
interval_s = 0.2
source = {{ kind = "folder", path = "{replay}", loop = true }}

[[cameras]]
name = "gate"
interval_s = 0.2
source = {{ kind = "http", url = "http://127.0.0.1:{gate}/snapshot.jpg", timeout_s = 1 }}

[[cameras]]
name = "hung"
interval_s = 0.2
source = {{ kind = "http", url = "http://127.0.0.1:{hung}/snapshot.jpg", timeout_s = 1 }}
"#,
        replay = replay.display()
    );
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(&cfg, camera_config(&base, &cameras)).expect("config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, false);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let m = || http_get(mport, "/metrics");
    let frames = |cam: &str| {
        metric(
            &m(),
            &format!("binwatch_camera_frames_total{{camera=\"{cam}\"}}"),
        )
        .unwrap_or(0.0)
    };

    // the gate camera delivers; the hung one is reported offline while the folder camera keeps its pace
    assert!(
        wait_until(Duration::from_secs(30), || frames("gate") >= 3.0),
        "{}",
        log_text()
    );
    assert!(
        wait_until(Duration::from_secs(30), || rx.orders().iter().any(|o| o
            .event
            .ty
            == EventType::CameraOffline
            && o.event.subject == "hung")),
        "hung camera not reported offline\n{}",
        log_text()
    );
    let before = frames("yard");
    std::thread::sleep(Duration::from_secs(2));
    let gained = frames("yard") - before;
    assert!(
        gained >= 6.0,
        "folder camera slowed by the hung one: {gained} frames in 2 s at 5/s"
    );

    // the gate camera goes down: offline after 3 failures, online when it answers again
    gate_mode.store(DOWN, Ordering::SeqCst);
    let offline = |rx: &Receiver, ty: EventType| {
        rx.orders()
            .iter()
            .any(|o| o.event.ty == ty && o.event.subject == "gate")
    };
    assert!(
        wait_until(Duration::from_secs(30), || offline(
            &rx,
            EventType::CameraOffline
        )),
        "{}",
        log_text()
    );
    assert_eq!(
        metric(&m(), "binwatch_camera_online{camera=\"gate\"}"),
        Some(0.0)
    );
    gate_mode.store(UP, Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(30), || offline(
            &rx,
            EventType::CameraOnline
        )),
        "{}",
        log_text()
    );
    assert_eq!(
        metric(&m(), "binwatch_camera_online{camera=\"gate\"}"),
        Some(1.0)
    );
    let gate_events: Vec<EventType> = rx
        .orders()
        .iter()
        .filter(|o| o.event.subject == "gate")
        .map(|o| o.event.ty)
        .collect();
    assert_eq!(
        gate_events,
        [EventType::CameraOffline, EventType::CameraOnline]
    );
    let errors = metric(
        &m(),
        "binwatch_camera_errors_total{camera=\"gate\",kind=\"fetch\"}",
    )
    .unwrap_or(0.0);
    assert!(errors >= 3.0, "{errors}");

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30), &log);
    assert!(status.success(), "{status}\n{}", log_text());
}

#[test]
fn sd_notify_ready_watchdog_stopping() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &EMPTY[..1]);
    let secret = write_secret(tmp.path());
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(
        &cfg,
        config(&Setup {
            replay: &replay,
            state: &tmp.path().join("state"),
            secret: &secret,
            webhook_port: 9,
            metrics_port: None,
            interval_s: 0.5,
            repeat: true,
        }),
    )
    .expect("config");
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let log = tmp.path().join("daemon.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("spawn");
    let recv = || {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "no notification: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut got = Vec::new();
    while !got.iter().any(|m: &String| m.contains("WATCHDOG=1")) {
        got.push(recv());
    }
    assert!(got[0].starts_with("READY=1"), "{got:?}");
    sigterm(&child);
    let mut last = recv();
    while last == "WATCHDOG=1" {
        last = recv();
    }
    assert_eq!(last, "STOPPING=1");
    let status = wait_exit(&mut child, Duration::from_secs(30), &log);
    assert!(status.success(), "{status}");
}
