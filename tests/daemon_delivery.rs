//! Issue 4, done-when 2: with the receiver down for a while, then up, every event is delivered once it is
//! back, none lost, none duplicated under the same `webhook-id`; the same after `kill -9` of the daemon
//! during delivery, then a restart.

mod daemon_support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use binwatch::event::EventType;
use binwatch::outbox::Outbox;
use binwatch::timestamp::Timestamp;
use daemon_support::*;

fn pending(state: &Path) -> Vec<binwatch::outbox::ListEntry> {
    Outbox::inspect(&state.join("outbox/webhook"), Timestamp::now()).unwrap_or_default()
}

fn assert_once_each(orders: &[binwatch::receive::StoredOrder], log: &str) {
    let types: Vec<EventType> = orders.iter().map(|o| o.event.ty).collect();
    assert_eq!(
        types,
        [EventType::BinOverflowing, EventType::BinResolved],
        "log:\n{log}"
    );
    let ids: HashSet<&str> = orders.iter().map(|o| o.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), orders.len(), "no webhook-id stored twice");
}

#[test]
fn receiver_down_then_up_gets_every_event_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &episode_sequence());
    let secret = write_secret(tmp.path());
    let state = tmp.path().join("state");
    let port = free_port();
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(
        &cfg,
        config(&Setup {
            replay: &replay,
            state: &state,
            secret: &secret,
            webhook_port: port,
            metrics_port: None,
            interval_s: 0.3,
            repeat: false,
        }),
    )
    .expect("config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, true);

    // nobody listens: both events pile up in the outbox; the first is being retried, the second
    // waits behind it (per-bin order)
    let piled = wait_until(Duration::from_secs(60), || {
        let p = pending(&state);
        p.len() == 2 && p[0].attempts >= 2 && p[0].ty == EventType::BinOverflowing
    });
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        piled,
        "events not queued: {:?}\n{}",
        pending(&state),
        log_text()
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "daemon waits for the receiver"
    );

    // `binwatch outbox list` shows what waits and why, while the daemon runs
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(["outbox", "list", "--config"])
        .arg(&cfg)
        .output()
        .expect("outbox list");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    assert!(listing.contains("sink webhook: 2 waiting"), "{listing}");
    assert!(
        listing.contains("org.binwatch.bin.overflowing bin:bin-7"),
        "{listing}"
    );
    assert!(
        listing.contains("connection failed"),
        "the reason: {listing}"
    );
    assert!(listing.contains("behind #1 (same bin:bin-7)"), "{listing}");

    let rx = Receiver::start(port, &tmp.path().join("orders.jsonl"));
    let status = wait_exit(&mut child, Duration::from_secs(60), &log);
    assert!(status.success(), "{status}\n{}", log_text());
    assert_once_each(&rx.orders(), &log_text());
    assert_eq!(rx.control.duplicates(), 0);
    assert!(pending(&state).is_empty());
}

#[test]
fn kill_9_during_delivery_then_restart_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    stage(&replay, &episode_sequence());
    let secret = write_secret(tmp.path());
    let state = tmp.path().join("state");
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    rx.control.force_status(Some(503));
    let setup = Setup {
        replay: &replay,
        state: &state,
        secret: &secret,
        webhook_port: rx.addr.port(),
        metrics_port: None,
        interval_s: 0.3,
        repeat: false,
    };
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(&cfg, config(&setup)).expect("config");
    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, false);
    let log_text = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();

    // the receiver answers 503 until both events wait in the outbox
    let piled = wait_until(Duration::from_secs(60), || pending(&state).len() == 2);
    assert!(
        piled,
        "events not queued: {:?}\n{}",
        pending(&state),
        log_text(&log)
    );
    let ids_before: HashSet<String> = pending(&state).into_iter().map(|e| e.id).collect();

    // let deliveries through and kill -9 the daemon as soon as the first one lands
    rx.control.force_status(None);
    assert!(wait_until(Duration::from_secs(30), || rx
        .control
        .accepted()
        >= 1));
    child.kill().expect("kill -9");
    let _ = child.wait();

    // restart on a replay of empty frames only: no new episode, just the outbox to drain
    let quiet = tmp.path().join("quiet");
    stage(&quiet, &EMPTY[..2]);
    let cfg2 = tmp.path().join("binwatch2.toml");
    std::fs::write(
        &cfg2,
        config(&Setup {
            replay: &quiet,
            ..setup
        }),
    )
    .expect("config");
    let log2 = tmp.path().join("daemon2.log");
    let mut child = spawn_daemon(&cfg2, &log2, true);
    let status = wait_exit(&mut child, Duration::from_secs(60), &log2);
    assert!(status.success(), "{status}\n{}", log_text(&log2));

    let orders = rx.orders();
    assert_once_each(
        &orders,
        &format!("{}\n---\n{}", log_text(&log), log_text(&log2)),
    );
    let ids_after: HashSet<String> = orders.iter().map(|o| o.event.id.clone()).collect();
    assert_eq!(
        ids_before, ids_after,
        "the very events queued before the kill were delivered"
    );
    assert!(pending(&state).is_empty());
}
