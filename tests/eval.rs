//! `binwatch eval` end to end: on real photos from the shared pool (env BINWATCH_DATASETS, default
//! ../shared/datasets beside the repository), with the tiny stand-in model so the figures are exact and
//! independent of training; plus corrupt images and unknown labels on folders made here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod damaged_support;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn datasets() -> PathBuf {
    match std::env::var_os("BINWATCH_DATASETS") {
        Some(p) => PathBuf::from(p),
        None => repo().join("../shared/datasets"),
    }
}

fn tiny() -> PathBuf {
    repo().join("tests/fixtures/tiny.onnx")
}

fn binwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_binwatch"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A labelled folder of real pool photos: the first `n` of each label of `set`.
fn pool_subset(set: &str, n: usize, dest: &Path) {
    let src = datasets().join(set);
    assert!(
        src.is_dir(),
        "photo pool not found at {} (set BINWATCH_DATASETS)",
        src.display()
    );
    for label in std::fs::read_dir(&src).unwrap() {
        let label = label.unwrap().path();
        if !label.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&label)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let out = dest.join(label.file_name().unwrap());
        std::fs::create_dir_all(&out).unwrap();
        for f in files.iter().take(n) {
            std::fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn eval_on_real_photos_writes_the_json_shape_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("street-cn");
    pool_subset("street-cn", 6, &data);
    let json = dir.path().join("out.json");
    let report = dir.path().join("report");
    let out = binwatch(&[
        "eval",
        "--model",
        s(&tiny()),
        "--data",
        s(&data),
        "--alias",
        "not_full=empty,partial",
        "--json",
        s(&json),
        "--report",
        s(&report),
        "--batch",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["samples"], 12);
    assert_eq!(
        v["model"]["classes"],
        serde_json::json!(["empty", "partial", "full"])
    );
    assert_eq!(v["model"]["sha256"].as_str().unwrap().len(), 64);
    let a = &v["alert"];
    let counts: Vec<u64> = ["tp", "fp", "tn", "fn"]
        .iter()
        .map(|k| a[k].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 12);
    // 6 full photos are the positives
    assert_eq!(counts[0] + counts[3], 6);
    for k in ["precision", "recall", "f1", "balanced_accuracy"] {
        let x = a[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    assert_eq!(
        v["confusion"]["labels"],
        serde_json::json!(["full", "not_full"])
    );
    let m = v["confusion"]["matrix"].as_array().unwrap();
    assert_eq!(
        m.iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|x| x.as_u64().unwrap())
            .sum::<u64>(),
        12
    );
    assert!(v["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(v["latency_ms"]["p95"].as_f64().unwrap() >= v["latency_ms"]["p50"].as_f64().unwrap());
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    let item = &items[0];
    assert_eq!(item["region"], serde_json::json!([0.0, 0.0, 1.0, 1.0]));
    let p = item["probabilities"].as_object().unwrap();
    let sum: f64 = p.values().map(|x| x.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    let pred = item["predicted"].as_str().unwrap();
    assert!(
        p.iter()
            .all(|(_, x)| x.as_f64().unwrap() <= p[pred].as_f64().unwrap())
    );
    assert_eq!(v["skipped"]["count"], 0);
    // the report: page, confusion picture, contact sheet
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(
        md.contains("confusion.png")
            && md.contains("mistakes.png")
            && md.contains("balanced accuracy")
    );
    for png in ["confusion.png", "mistakes.png"] {
        let img = image::open(report.join(png)).unwrap();
        assert!(img.width() > 100 && img.height() > 100, "{png}");
    }
}

#[test]
fn eval_with_regions_file_makes_one_sample_per_region() {
    let pool = datasets();
    let regions = pool.join("montevideo-regions.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(&regions).unwrap()).unwrap();
    // the first 5 entries, as a smaller regions file with the same relative paths
    let subset: Vec<Value> = all.as_array().unwrap().iter().take(5).cloned().collect();
    let n_regions: usize = subset
        .iter()
        .map(|e| e["regions"].as_array().unwrap().len())
        .sum();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regions.json");
    std::fs::write(&file, serde_json::to_string(&subset).unwrap()).unwrap();
    let json = dir.path().join("out.json");
    let out = binwatch(&[
        "eval",
        "--model",
        s(&tiny()),
        "--data",
        s(&pool),
        "--regions",
        s(&file),
        "--margin",
        "0.5",
        "--alias",
        "clean=empty,partial",
        "--alias",
        "dirty=full",
        "--json",
        s(&json),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["samples"].as_u64().unwrap() as usize, n_regions);
    assert_eq!(v["margin"], 0.5);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items[0]["path"], subset[0]["path"]);
    assert_eq!(items[0]["region"], subset[0]["regions"][0]);
    assert_eq!(items[0]["label"], subset[0]["label"]);
}

#[test]
fn corrupt_images_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pool_subset("cctv-topdown", 2, &data);
    std::fs::write(
        data.join("full/broken.jpg"),
        b"\xff\xd8\xff\xe0 this is not really a jpeg",
    )
    .unwrap();
    std::fs::write(data.join("empty/empty-file.jpg"), b"").unwrap();
    let json = dir.path().join("out.json");
    let out = binwatch(&[
        "eval",
        "--model",
        s(&tiny()),
        "--data",
        s(&data),
        "--json",
        s(&json),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("full/broken.jpg") && stderr.contains("empty/empty-file.jpg"),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["samples"], 6);
    assert_eq!(v["skipped"]["count"], 2);
    let paths: Vec<&str> = v["skipped"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["empty/empty-file.jpg", "full/broken.jpg"]);
}

/// A truncated and a garbled copy of a real photo are skipped and counted, not scored, in both decode
/// modes (libjpeg reports these as warnings and would fill the missing data with grey).
#[test]
fn truncated_and_garbled_real_photos_are_skipped_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pool_subset("street-cn", 2, &data);
    let photo = std::fs::read(datasets().join(damaged_support::PHOTO)).unwrap();
    std::fs::write(
        data.join("full/truncated.jpg"),
        damaged_support::truncated(&photo),
    )
    .unwrap();
    std::fs::write(
        data.join("not_full/garbled.jpg"),
        damaged_support::garbled(&photo),
    )
    .unwrap();
    for mode in ["full", "scaled"] {
        let json = dir.path().join(format!("out-{mode}.json"));
        let out = binwatch(&[
            "eval",
            "--model",
            s(&tiny()),
            "--data",
            s(&data),
            "--alias",
            "not_full=empty,partial",
            "--decode",
            mode,
            "--json",
            s(&json),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("full/truncated.jpg") && stderr.contains("Premature end of JPEG file"),
            "{mode}: {stderr}"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let labels = std::fs::read_dir(&data).unwrap().count();
        assert_eq!(
            v["samples"].as_u64().unwrap() as usize,
            2 * labels,
            "{mode}"
        );
        assert_eq!(v["skipped"]["count"], 2, "{mode}");
        let scored: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert!(
            !scored
                .iter()
                .any(|p| p.contains("truncated") || p.contains("garbled")),
            "{mode}: {scored:?}"
        );
        let skipped: Vec<&str> = v["skipped"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            skipped,
            ["full/truncated.jpg", "not_full/garbled.jpg"],
            "{mode}"
        );
    }
}

#[test]
fn classify_of_a_truncated_photo_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let photo = std::fs::read(datasets().join(damaged_support::PHOTO)).unwrap();
    let file = dir.path().join("truncated.jpg");
    std::fs::write(&file, damaged_support::truncated(&photo)).unwrap();
    let out = binwatch(&["classify", s(&file), "--model", s(&tiny())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("truncated.jpg") && stderr.contains("Premature end of JPEG file"),
        "{stderr}"
    );
}

#[test]
fn unknown_label_is_an_error_listing_known_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pool_subset("montevideo", 1, &data);
    let out = binwatch(&[
        "eval",
        "--model",
        s(&tiny()),
        "--data",
        s(&data),
        "--alias",
        "clean=empty,partial",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`dirty`") && stderr.contains("empty, partial, full, clean"),
        "{stderr}"
    );
}

#[test]
fn classify_one_photo_with_a_region() {
    let pool = datasets();
    let photo = pool.join("street-cn/full/0.jpg");
    let out = binwatch(&[
        "classify",
        s(&photo),
        "--model",
        s(&tiny()),
        "--rect",
        "0.1,0.1,0.9,0.9",
        "--margin",
        "0",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(["empty", "partial", "full"].contains(&v["level"].as_str().unwrap()));
    assert_eq!(v["region"], serde_json::json!([0.1, 0.1, 0.9, 0.9]));
    let bad = binwatch(&[
        "classify",
        s(&photo),
        "--model",
        s(&tiny()),
        "--rect",
        "0.9,0.1,0.1,0.9",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("x0 (0.9) must be less than x1 (0.1)"));
}

#[test]
fn eval_with_no_usable_sample_is_an_error_listing_the_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let photo = std::fs::read(datasets().join(damaged_support::PHOTO)).unwrap();
    std::fs::create_dir_all(data.join("full")).unwrap();
    std::fs::create_dir_all(data.join("empty")).unwrap();
    std::fs::write(
        data.join("full/truncated.jpg"),
        damaged_support::truncated(&photo),
    )
    .unwrap();
    std::fs::write(
        data.join("full/garbled.jpg"),
        damaged_support::garbled(&photo),
    )
    .unwrap();
    for i in 0..4 {
        std::fs::write(data.join(format!("empty/text-{i}.jpg")), b"not an image").unwrap();
    }
    let json = dir.path().join("out.json");
    let out = binwatch(&[
        "eval",
        "--model",
        s(&tiny()),
        "--data",
        s(&data),
        "--json",
        s(&json),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no usable samples in {}: 6 skipped",
            data.display()
        )),
        "{stderr}"
    );
    // the first few skipped, by path and reason, and how many more
    assert!(
        stderr.contains("empty/text-0.jpg: ") && stderr.contains("... and 3 more"),
        "{stderr}"
    );
    assert!(
        !json.exists(),
        "no results written for a run that scored nothing"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn regions_file_without_entries_or_with_an_empty_entry_is_an_error() {
    let pool = datasets();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regions.json");
    let eval = |file: &Path| {
        binwatch(&[
            "eval",
            "--model",
            s(&tiny()),
            "--data",
            s(&pool),
            "--regions",
            s(file),
            "--alias",
            "clean=empty,partial",
            "--alias",
            "dirty=full",
        ])
    };
    std::fs::write(&file, "[]").unwrap();
    let out = eval(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("regions file {} lists no entries", file.display())),
        "{stderr}"
    );

    let all: Value = serde_json::from_str(
        &std::fs::read_to_string(pool.join("montevideo-regions.json")).unwrap(),
    )
    .unwrap();
    let mut two: Vec<Value> = all.as_array().unwrap().iter().take(2).cloned().collect();
    two[1]["regions"] = serde_json::json!([]);
    std::fs::write(&file, serde_json::to_string(&two).unwrap()).unwrap();
    let out = eval(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let entry = two[1]["path"].as_str().unwrap();
    assert!(
        stderr.contains(&format!("entry 1 ({entry}) has no regions")),
        "{stderr}"
    );
}

/// An error whose message already names its cause is printed with the cause once, not twice.
#[test]
fn cli_errors_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let photo = datasets().join(damaged_support::PHOTO);
    let nope = dir.path().join("nope.onnx");
    for (args, want) in [
        (
            vec!["classify", s(&photo), "--model", s(&nope)],
            "No such file or directory".to_string(),
        ),
        (
            vec!["classify", "/etc/passwd", "--model", s(&tiny())],
            "The image format could not be determined".to_string(),
        ),
        (
            vec![
                "classify",
                s(&photo),
                "--model",
                s(&tiny()),
                "--rect",
                "0.5,0,0.1,1",
            ],
            "x0 (0.5) must be less than x1 (0.1)".to_string(),
        ),
    ] {
        let out = binwatch(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches(want.as_str()).count(),
            1,
            "{args:?}: {stderr}"
        );
    }
}

/// The command-line margins and thread counts have the config's bounds and messages.
#[test]
fn cli_margin_and_threads_have_the_config_bounds() {
    let photo = datasets().join(damaged_support::PHOTO);
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (
            vec![
                "classify",
                s(&photo),
                "--model",
                s(&tiny()),
                "--margin",
                "10",
            ],
            "margin must be in 0..=5",
        ),
        (
            vec![
                "classify",
                s(&photo),
                "--model",
                s(&tiny()),
                "--margin",
                "-1",
            ],
            "margin must be in 0..=5",
        ),
        (
            vec![
                "eval",
                "--model",
                s(&tiny()),
                "--data",
                s(dir.path()),
                "--margin",
                "5.5",
            ],
            "margin must be in 0..=5",
        ),
        (
            vec![
                "eval",
                "--model",
                s(&tiny()),
                "--data",
                s(dir.path()),
                "--threads",
                "0",
            ],
            "threads must be in 1..=64",
        ),
        (
            vec![
                "classify",
                s(&photo),
                "--model",
                s(&tiny()),
                "--threads",
                "65",
            ],
            "threads must be in 1..=64",
        ),
    ] {
        let out = binwatch(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // the bounds themselves are accepted
    let out = binwatch(&[
        "classify",
        s(&photo),
        "--model",
        s(&tiny()),
        "--rect",
        "0.2,0.2,0.4,0.4",
        "--margin",
        "5",
        "--threads",
        "64",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
