//! Issue 4, done-when 1: a replay folder of real photos going empty, partial, full..., empty raises exactly
//! one `bin.overflowing` and one `bin.resolved`, delivered with a valid signature to a local receiver.

mod daemon_support;

use std::time::Duration;

use base64::Engine as _;
use binwatch::event::EventType;
use daemon_support::*;

#[test]
fn replay_raises_one_overflow_and_one_resolution_delivered_signed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &episode_sequence());
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(
        &cfg,
        config(&Setup {
            replay: &replay,
            state: &tmp.path().join("state"),
            secret: &secret,
            webhook_port: rx.addr.port(),
            metrics_port: None,
            interval_s: 0.3,
            repeat: false,
        }),
    )
    .expect("write config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, true);
    let status = wait_exit(&mut child, Duration::from_secs(90), &log);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "binwatch run failed: {status}\n{log_text}"
    );

    let orders = rx.orders();
    let types: Vec<EventType> = orders.iter().map(|o| o.event.ty).collect();
    assert_eq!(
        types,
        [EventType::BinOverflowing, EventType::BinResolved],
        "log:\n{log_text}"
    );
    assert_eq!(rx.control.refused(), 0, "every signature verified");
    assert_eq!(rx.control.duplicates(), 0);
    assert_eq!(rx.control.accepted(), 2);

    let over = orders[0].event.bin_data().expect("bin event");
    let resolved = orders[1].event.bin_data().expect("bin event");
    assert_eq!(orders[0].event.subject, "bin-7");
    assert_eq!(orders[0].event.source, "binwatch://test-box/yard");
    assert_eq!(
        over.episode_id, resolved.episode_id,
        "one episode = one work order"
    );
    assert_eq!(over.level, "full");
    assert!(over.p_full >= 0.7, "{}", over.p_full);
    assert!(resolved.p_full <= 0.3, "{}", resolved.p_full);
    assert_eq!(over.location.lat, Some(45.4642));
    assert_eq!(
        over.location.address.as_deref(),
        Some("Via Dante 7, Milano")
    );
    assert!(!over.model.version.is_empty());
    assert!(
        over.score_history.len() >= 3,
        "history travels with the event"
    );
    let crop = base64::engine::general_purpose::STANDARD
        .decode(
            over.evidence
                .crop_jpeg_base64
                .as_deref()
                .expect("crop evidence"),
        )
        .expect("base64");
    assert_eq!(&crop[..2], b"\xff\xd8", "evidence is a JPEG");
    image::load_from_memory(&crop).expect("evidence decodes");
    assert_ne!(orders[0].webhook_id, orders[1].webhook_id);
}
