//! Rust against the Python reference pipeline (models/binwatch_preprocess.py) on real pool photos:
//! - preprocess-parity.json: tensor values of the `stretch-triangle` resampling (no model involved);
//! - parity.json (written by models/make_parity_fixture.py): probabilities of models/bin-fill.onnx,
//!   which must agree within 1e-3.

use std::path::{Path, PathBuf};

use binwatch::classify::{Classifier, Options, sha256_hex};
use binwatch::region::{PixelMap, Rect, Region, RegionPlan, Scratch};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn datasets() -> PathBuf {
    match std::env::var_os("BINWATCH_DATASETS") {
        Some(p) => PathBuf::from(p),
        None => repo().join("../shared/datasets"),
    }
}

fn region(v: &Value) -> Rect {
    let a: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    Rect::new(a[0], a[1], a[2], a[3]).unwrap()
}

#[test]
fn resampling_matches_python_reference() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/preprocess-parity.json")).unwrap(),
    )
    .unwrap();
    for item in fixture["items"].as_array().unwrap() {
        let path = datasets().join(item["path"].as_str().unwrap());
        let frame = binwatch::frame::load(&path).unwrap();
        let margin = item["margin"].as_f64().unwrap();
        let r = Region::Rect(region(&item["region"]).with_margin(margin).unwrap());
        let (w, h) = (
            item["width"].as_u64().unwrap() as usize,
            item["height"].as_u64().unwrap() as usize,
        );
        let plan = RegionPlan::new(&r, frame.width(), frame.height(), w, h);
        let mut out = vec![0.0f32; 3 * w * h];
        plan.write(&frame, &PixelMap::UNIT, &mut out, &mut Scratch::default());
        let mut worst = 0.0f32;
        for s in item["samples"].as_array().unwrap() {
            let s: Vec<f64> = s
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let (c, y, x) = (s[0] as usize, s[1] as usize, s[2] as usize);
            worst = worst.max((out[c * w * h + y * w + x] - s[3] as f32).abs());
        }
        for c in 0..3 {
            let plane = &out[c * w * h..(c + 1) * w * h];
            let mean = (plane.iter().map(|v| *v as f64).sum::<f64>() / (w * h) as f64) as f32;
            let want = item["mean"][c].as_f64().unwrap() as f32;
            assert!(
                (mean - want).abs() < 1e-5,
                "{}: channel {c} mean {mean} vs {want}",
                path.display()
            );
        }
        assert!(
            worst < 1e-5,
            "{}: largest difference {worst}",
            path.display()
        );
    }
}

#[test]
fn probabilities_match_python_within_1e_3() {
    let fixture_path = repo().join("tests/fixtures/parity.json");
    let model = repo().join("models/bin-fill.onnx");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; generate it with models/make_parity_fixture.py",
                fixture_path.display()
            )
        }))
        .unwrap();
    let bytes = std::fs::read(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let sha = sha256_hex(&bytes);
    assert_eq!(
        fixture["model_sha256"].as_str().unwrap(),
        sha,
        "tests/fixtures/parity.json was made for another models/bin-fill.onnx: regenerate it with \
         `python models/make_parity_fixture.py ../shared/datasets`"
    );
    let mut classifier = Classifier::load(
        &model,
        &Options {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut worst = 0.0f32;
    let items = fixture["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        let path = datasets().join(item["path"].as_str().unwrap());
        let frame = binwatch::frame::load(&path).unwrap();
        let margin = item["margin"].as_f64().unwrap();
        let r = Region::Rect(region(&item["region"]).with_margin(margin).unwrap());
        let p = classifier.classify(&frame, &[r]).unwrap().remove(0);
        let want: Vec<f32> = item["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(p.probabilities.len(), want.len());
        for (a, b) in p.probabilities.iter().zip(&want) {
            let d = (a - b).abs();
            worst = worst.max(d);
            assert!(
                d <= 1e-3,
                "{} {:?}: Rust {:?} vs Python {want:?}",
                path.display(),
                item["region"],
                p.probabilities
            );
        }
    }
    eprintln!(
        "parity: {} items, largest difference {worst:.2e}",
        items.len()
    );
}
