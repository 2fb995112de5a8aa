//! Issue 4, done-when 3-5: a corrupt JPEG is skipped and counted in /metrics while the daemon goes on (and a
//! bad config on SIGHUP keeps the old one running); a config with an error refuses to start and names the
//! line and key; `systemd-analyze verify` accepts the unit.

mod daemon_support;

use std::process::Command;
use std::time::Duration;

use daemon_support::*;

mod damaged_support;

#[test]
fn corrupt_jpeg_is_skipped_and_counted_and_the_daemon_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &[EMPTY[0]]);
    std::fs::write(replay.join("001.jpg"), b"this is not a JPEG at all").expect("write");
    std::fs::write(replay.join("002.jpg"), b"\xff\xd8\xff\xe0 broken header").expect("write");
    std::fs::copy(datasets().join(EMPTY[2]), replay.join("003.jpg")).expect("copy");
    // a truncated real photo: libjpeg warns (premature end) and would fill the rest with grey
    let photo = std::fs::read(datasets().join(EMPTY[1])).expect("read");
    std::fs::write(replay.join("004.jpg"), damaged_support::truncated(&photo)).expect("write");
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let mport = free_port();
    let cfg = tmp.path().join("binwatch.toml");
    let good = config(&Setup {
        replay: &replay,
        state: &tmp.path().join("state"),
        secret: &secret,
        webhook_port: rx.addr.port(),
        metrics_port: Some(mport),
        interval_s: 0.2,
        repeat: true,
    });
    std::fs::write(&cfg, &good).expect("config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, false);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // two passes over the folder: 6 corrupt frames counted, good frames after them classified
    let frames = "binwatch_camera_frames_total{camera=\"yard\"}";
    let decode = "binwatch_camera_errors_total{camera=\"yard\",kind=\"decode\"}";
    let ok = wait_until(Duration::from_secs(60), || {
        let m = http_get(mport, "/metrics");
        metric(&m, decode).unwrap_or(0.0) >= 6.0
            && metric(&m, frames).unwrap_or(0.0) >= 4.0
            && metric(&m, "binwatch_inference_seconds_count").unwrap_or(0.0) >= 4.0
    });
    let m = http_get(mport, "/metrics");
    assert!(ok, "metrics:\n{m}\nlog:\n{}", log_text());
    assert!(
        metric(&m, "binwatch_inference_seconds_count").unwrap_or(0.0) >= 4.0,
        "{m}"
    );
    assert!(
        metric(&m, "binwatch_bin_p_full{bin=\"bin-7\",camera=\"yard\"}").is_some(),
        "{m}"
    );
    assert_eq!(
        metric(&m, "binwatch_outbox_depth{sink=\"webhook\"}"),
        Some(0.0),
        "{m}"
    );
    let health = http_get(mport, "/healthz");
    assert!(health.starts_with("ok"), "{health}");
    assert!(log_text().contains("corrupt frame skipped"));
    assert!(
        log_text().contains("004.jpg") && log_text().contains("Premature end of JPEG file"),
        "{}",
        log_text()
    );

    // SIGHUP with a broken config: refused, the daemon keeps running on the old one
    std::fs::write(&cfg, "[debounce]\nalert_threshold = \"high\"\n").expect("break config");
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let refused = wait_until(Duration::from_secs(20), || {
        metric(
            &http_get(mport, "/metrics"),
            "binwatch_config_reloads_total{result=\"error\"}",
        ) == Some(1.0)
    });
    assert!(refused, "{}", log_text());
    let before = metric(&http_get(mport, "/metrics"), frames).unwrap_or(0.0);
    assert!(wait_until(Duration::from_secs(20), || {
        metric(&http_get(mport, "/metrics"), frames).unwrap_or(0.0) > before
    }));
    assert!(child.try_wait().expect("wait").is_none());

    // SIGHUP with a good config (a second bin): reloaded, the new bin is classified
    std::fs::write(
        &cfg,
        format!(
            "{good}\n[[bins]]\nid = \"bin-8\"\ncamera = \"yard\"\nregion = [0.0, 0.0, 0.5, 0.5]\n"
        ),
    )
    .expect("new config");
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let reloaded = wait_until(Duration::from_secs(30), || {
        let m = http_get(mport, "/metrics");
        metric(&m, "binwatch_config_reloads_total{result=\"ok\"}") == Some(1.0)
            && metric(&m, "binwatch_bin_p_full{bin=\"bin-8\",camera=\"yard\"}").is_some()
    });
    assert!(reloaded, "{}", log_text());

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30), &log);
    assert!(status.success(), "{status}\n{}", log_text());
    assert!(rx.orders().is_empty(), "empty bins raise nothing");
}

#[test]
fn config_with_an_error_refuses_to_start_and_names_line_and_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &[EMPTY[0]]);
    let secret = write_secret(tmp.path());
    let good = config(&Setup {
        replay: &replay,
        state: &tmp.path().join("state"),
        secret: &secret,
        webhook_port: 9,
        metrics_port: None,
        interval_s: 1.0,
        repeat: false,
    });
    let bad = good.replace("clear_threshold = 0.3", "clear_treshold = 0.3");
    assert_ne!(good, bad);
    let line = bad
        .lines()
        .position(|l| l.starts_with("clear_treshold"))
        .expect("line")
        + 1;
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, &bad).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(78),
        "EX_CONFIG expected; stderr:\n{err}"
    );
    assert!(
        err.contains(&format!("line {line}")),
        "names the line {line}:\n{err}"
    );
    assert!(
        err.contains("debounce.clear_treshold"),
        "names the key:\n{err}"
    );
    assert!(
        err.contains("clear_threshold"),
        "suggests the right key:\n{err}"
    );
    assert!(!tmp.path().join("state").exists(), "nothing started");

    let bad = good.replace(
        "region = [0.0, 0.0, 1.0, 1.0]",
        "region = [0.0, 0.0, 1.5, 1.0]",
    );
    std::fs::write(&cfg, &bad).expect("write");
    let line = bad
        .lines()
        .position(|l| l.starts_with("region"))
        .expect("line")
        + 1;
    let out = Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains(&format!("line {line}")) && err.contains("bins[0].region"),
        "{err}"
    );
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/binwatch.service"
    ))
    .expect("unit");
    assert!(unit.contains("ExecStart=/usr/bin/binwatch run --config /etc/binwatch/binwatch.toml"));
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    // verify checks that ExecStart exists: point it at the binary under test
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("binwatch.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/binwatch", env!("CARGO_BIN_EXE_binwatch")),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    assert!(
        !err.contains("binwatch.service:"),
        "warnings about the unit:\n{err}"
    );
}
