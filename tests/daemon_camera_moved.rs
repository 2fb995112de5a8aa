//! Issue 5: the daemon compares live frames with the camera's calibration reference now and then
//! and raises `camera.moved` when the view no longer matches (then `camera.restored`). Real
//! montevideo scene; the "knocked" frames are the same scene shifted sideways.

mod calibrate_support;
mod daemon_support;

use std::process::Command;
use std::time::Duration;

use binwatch::event::EventType;
use calibrate_support::{save_jpeg, scenes, translate};
use daemon_support::*;

#[test]
fn a_knocked_camera_raises_camera_moved_then_restored() {
    let scene = scenes()
        .into_iter()
        .find(|s| s.regions.len() == 1 && s.label == "clean")
        .expect("a clean one-container scene in montevideo-regions.json");
    let frame = scene.load();
    let tmp = tempfile::tempdir().expect("tempdir");
    let replay = tmp.path().join("replay");
    std::fs::create_dir_all(&replay).expect("mkdir");
    save_jpeg(&frame, &replay.join("000.jpg"));

    let secret = write_secret(tmp.path());
    let rx = Receiver::start(0, &tmp.path().join("orders.jsonl"));
    let [x0, y0, x1, y1] = scene.regions[0];
    let text = config(&Setup {
        replay: &replay,
        state: &tmp.path().join("state"),
        secret: &secret,
        webhook_port: rx.addr.port(),
        metrics_port: None,
        interval_s: 0.3,
        repeat: false,
    })
    .replace(
        "region = [0.0, 0.0, 1.0, 1.0]\nmargin = 0.0",
        &format!("region = [{x0}, {y0}, {x1}, {y1}]\nmargin = 0.5"),
    )
    .replace("interval_s = 0.3\n", "interval_s = 0.3\ncheck_s = 0.01\n");
    assert!(text.contains("check_s = 0.01"), "{text}");
    let cfg = tmp.path().join("binwatch.toml");
    std::fs::write(&cfg, text).expect("write config");

    // the installer's reference frame
    let out = Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(["calibrate", "snapshot", "--config"])
        .arg(&cfg)
        .args(["--camera", "yard"])
        .output()
        .expect("run calibrate snapshot");
    assert!(
        out.status.success(),
        "snapshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // then the replay: same view, knocked 8% sideways for three frames, put back
    let knocked = translate(&frame, (frame.width() as f64 * 0.08) as i64, 0);
    for (i, img) in [&frame, &knocked, &knocked, &knocked, &frame, &frame]
        .into_iter()
        .enumerate()
    {
        save_jpeg(img, &replay.join(format!("{:03}.jpg", i + 1)));
    }

    let log = tmp.path().join("daemon.log");
    let mut child = spawn_daemon(&cfg, &log, true);
    let status = wait_exit(&mut child, Duration::from_secs(90), &log);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "binwatch run failed: {status}\n{log_text}"
    );

    let camera_events: Vec<_> = rx
        .orders()
        .into_iter()
        .filter(|o| {
            matches!(
                o.event.ty,
                EventType::CameraMoved | EventType::CameraRestored
            )
        })
        .collect();
    let types: Vec<EventType> = camera_events.iter().map(|o| o.event.ty).collect();
    assert_eq!(
        types,
        [EventType::CameraMoved, EventType::CameraRestored],
        "one episode: moved once, restored once\n{log_text}"
    );
    assert_eq!(rx.control.refused(), 0, "every signature verified");
    let moved = serde_json::to_value(&camera_events[0].event).expect("json");
    assert_eq!(moved["type"], "org.binwatch.camera.moved");
    assert_eq!(moved["subject"], "yard");
    assert_eq!(moved["data"]["check"]["verdict"], "moved", "{moved}");
    let dx = moved["data"]["check"]["shift_pct"][0]
        .as_f64()
        .expect("shift");
    assert!((dx - 8.0).abs() < 1.5, "estimated shift {dx}% of width");
    assert_eq!(moved["data"]["bins"][0], "bin-7");
    let restored = serde_json::to_value(&camera_events[1].event).expect("json");
    assert_eq!(restored["data"]["check"]["verdict"], "ok");
}
