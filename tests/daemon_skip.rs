//! Issue 6: a camera whose frames do not change skips inference, and the skipped frames still drive the
//! debouncer: the same full bin photographed again and again raises its overflow, with the skips counted
//! in /metrics.

mod daemon_support;

use std::time::Duration;

use binwatch::event::EventType;
use daemon_support::*;

#[test]
fn repeated_frames_skip_inference_and_still_raise_the_overflow() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    // the same full bin, ten frames: one inference, then nine reused predictions
    stage(&replay, &[FULL[0]; 10]);
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let mport = free_port();
    let cfg = tmp.path().join("binwatch.toml");
    let text = config(&Setup {
        replay: &replay,
        state: &tmp.path().join("state"),
        secret: &secret,
        webhook_port: rx.addr.port(),
        metrics_port: Some(mport),
        interval_s: 0.3,
        repeat: false,
    });
    // confirm_s is 2.5 intervals: only frames after the first one can confirm the overflow
    let text = text.replace(
        "shutdown_grace_s = 3\n",
        "shutdown_grace_s = 3\nskip_unchanged = true\nskip_max_age_s = 3600\n",
    );
    std::fs::write(&cfg, &text).expect("config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, false);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let skipped = "binwatch_inference_skipped_total{bin=\"bin-7\"}";
    let runs = "binwatch_bin_inferences_total{bin=\"bin-7\"}";
    let done = wait_until(Duration::from_secs(60), || {
        metric(&http_get(mport, "/metrics"), skipped).unwrap_or(0.0) >= 9.0
            && !rx.orders().is_empty()
    });
    let m = http_get(mport, "/metrics");
    sigterm(&child);
    let _ = wait_exit(&mut child, Duration::from_secs(30), &log);
    assert!(done, "metrics:\n{m}\nlog:\n{}", log_text());
    assert_eq!(metric(&m, runs), Some(1.0), "one model run: {m}");
    assert_eq!(metric(&m, skipped), Some(9.0), "{m}");
    assert_eq!(
        metric(&m, "binwatch_inference_seconds_count"),
        Some(1.0),
        "{m}"
    );
    assert!(
        metric(
            &m,
            "binwatch_frame_stage_seconds_total{stage=\"thumbnail\"}"
        )
        .unwrap_or(0.0)
            > 0.0,
        "{m}"
    );
    assert!(m.contains("binwatch_model_info{"), "{m}");
    let orders = rx.orders();
    assert_eq!(
        orders[0].event.ty,
        EventType::BinOverflowing,
        "{}",
        log_text()
    );
    let over = orders[0].event.bin_data().expect("bin event");
    assert!(over.p_full >= 0.7, "{}", over.p_full);
    assert!(
        over.score_history.len() >= 3,
        "reused predictions are in the history: {:?}",
        over.score_history
    );
    assert!(
        over.evidence.crop_jpeg_base64.is_some(),
        "evidence is decoded for the event even though the frame skipped inference"
    );
}
