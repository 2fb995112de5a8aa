//! An open overflow episode outlives the daemon: after a restart (or a reload that changes the debounce
//! settings) the same overflow is not opened again as a second work order, and its resolution closes the
//! first one (`binstate`, `<state_dir>/bins.json`).

mod daemon_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use binwatch::event::EventType;
use daemon_support::*;

fn setup<'a>(
    replay: &'a Path,
    state: &'a Path,
    secret: &'a Path,
    port: u16,
    mport: Option<u16>,
    repeat: bool,
) -> Setup<'a> {
    Setup {
        replay,
        state,
        secret,
        webhook_port: port,
        metrics_port: mport,
        interval_s: 0.3,
        repeat,
    }
}

fn run_once(cfg: &Path, log: &Path) -> String {
    let mut child = spawn_daemon(cfg, log, true);
    let status = wait_exit(&mut child, Duration::from_secs(90), log);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "binwatch run failed: {status}\n{text}");
    text
}

#[test]
fn a_restart_resolves_the_open_episode_instead_of_opening_another() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (replay, state) = (tmp.path().join("replay"), tmp.path().join("state"));
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(
        &cfg,
        config(&setup(
            &replay,
            &state,
            &secret,
            rx.addr.port(),
            None,
            false,
        )),
    )
    .unwrap();

    // first run: the bin overflows; the daemon stops with the episode open
    let mut full = vec![EMPTY[0]];
    full.extend((0..6).map(|i| FULL[i % FULL.len()]));
    stage(&replay, &full);
    let log1 = run_once(&cfg, &tmp.path().join("run1.log"));
    let orders = rx.orders();
    assert_eq!(
        orders.iter().map(|o| o.event.ty).collect::<Vec<_>>(),
        [EventType::BinOverflowing],
        "{log1}"
    );
    let saved = std::fs::read_to_string(state.join("bins.json")).expect("bin states saved");
    let episode = orders[0].event.bin_data().unwrap().episode_id.clone();
    assert!(saved.contains(&episode.0), "{saved}");

    // second run, a new process: still full for a while, then emptied
    std::fs::remove_dir_all(&replay).unwrap();
    let mut later: Vec<&str> = (0..3).map(|i| FULL[i % FULL.len()]).collect();
    later.extend((0..6).map(|i| EMPTY[i % EMPTY.len()]));
    stage(&replay, &later);
    let log2 = run_once(&cfg, &tmp.path().join("run2.log"));
    assert!(
        log2.contains("open overflow episode carried over"),
        "{log2}"
    );
    let orders = rx.orders();
    assert_eq!(
        orders.iter().map(|o| o.event.ty).collect::<Vec<_>>(),
        [EventType::BinOverflowing, EventType::BinResolved],
        "one work order, opened once and closed once\n{log2}"
    );
    assert_eq!(orders[1].event.bin_data().unwrap().episode_id, episode);
    assert_eq!(rx.control.refused(), 0);
    let saved = std::fs::read_to_string(state.join("bins.json")).unwrap();
    assert!(
        !saved.contains(&episode.0),
        "the resolved episode is no longer open: {saved}"
    );
}

#[test]
fn a_reload_with_new_debounce_settings_keeps_the_open_episode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (replay, state) = (tmp.path().join("replay"), tmp.path().join("state"));
    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let mport = free_port();
    let cfg = tmp.path().join("binwatch.toml");
    let good = config(&setup(
        &replay,
        &state,
        &secret,
        rx.addr.port(),
        Some(mport),
        true,
    ));
    std::fs::write(&cfg, &good).unwrap();
    let full: Vec<&str> = (0..4).map(|i| FULL[i % FULL.len()]).collect();
    stage(&replay, &full);
    let log = tmp.path().join("daemon.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut child = spawn_daemon(&cfg, &log, false);
    assert!(
        wait_until(Duration::from_secs(60), || !rx.orders().is_empty()),
        "no overflow\n{}",
        log_text()
    );

    // the confirmation time changes: the debouncer is rebuilt, its open episode carried over
    assert!(good.contains("confirm_s = 0.75"), "{good}");
    std::fs::write(&cfg, good.replace("confirm_s = 0.75", "confirm_s = 0.5")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let frames = "binwatch_camera_frames_total{camera=\"yard\"}";
    assert!(
        wait_until(Duration::from_secs(30), || metric(
            &http_get(mport, "/metrics"),
            "binwatch_config_reloads_total{result=\"ok\"}"
        ) == Some(1.0)),
        "{}",
        log_text()
    );
    // many frames past the (new) confirmation time, all full
    let before = metric(&http_get(mport, "/metrics"), frames).unwrap_or(0.0);
    assert!(
        wait_until(Duration::from_secs(30), || {
            metric(&http_get(mport, "/metrics"), frames).unwrap_or(0.0) >= before + 8.0
        }),
        "{}",
        log_text()
    );
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30), &log);
    assert!(status.success(), "{status}\n{}", log_text());
    let types: Vec<EventType> = rx.orders().iter().map(|o| o.event.ty).collect();
    assert_eq!(types, [EventType::BinOverflowing], "{}", log_text());
    assert!(log_text().contains("open overflow episode carried over"));
}
