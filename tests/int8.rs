//! models/bin-fill-int8.onnx (made by models/quantize.py, see models/QUANTIZE.md), when it is in the
//! checkout: made from the float model that is there now, the same contract metadata plus what says it is
//! quantised, and the same alert decisions on the parity fixture's real photos.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use binwatch::classify::{Classifier, Options, sha256_hex};
use binwatch::region::{Rect, Region};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn datasets() -> PathBuf {
    std::env::var_os("BINWATCH_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/datasets"))
}

/// metadata_props of an ONNX file, through ONNX Runtime.
fn metadata(path: &Path) -> HashMap<String, String> {
    let env = binwatch::runtime::environment(None).unwrap();
    let s = ort::session::Session::builder(&env)
        .unwrap()
        .commit_from_file(path)
        .unwrap();
    let m = s.metadata().unwrap();
    m.custom_keys()
        .unwrap()
        .into_iter()
        .map(|k| {
            let v = m.custom(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}

#[test]
fn the_int8_model_matches_the_float_model_it_was_made_from() {
    let int8 = repo().join("models/bin-fill-int8.onnx");
    let fp32 = repo().join("models/bin-fill.onnx");
    if !int8.is_file() {
        eprintln!("no {} (not shipped): nothing to check", int8.display());
        return;
    }
    let q = metadata(&int8);
    let f = metadata(&fp32);
    let sha = sha256_hex(&std::fs::read(&fp32).unwrap());
    assert_eq!(
        q.get("quantized_from_sha256"),
        Some(&sha),
        "models/bin-fill-int8.onnx was made from another models/bin-fill.onnx: regenerate it with \
         `models/.venv/bin/python models/quantize.py ../shared/datasets`, then check it with \
         benches/quantize_compare.sh (models/QUANTIZE.md)"
    );
    assert_eq!(
        q.get("quantization").map(String::as_str),
        Some("int8-qdq-per-channel")
    );
    for (k, v) in &f {
        assert_eq!(
            q.get(k),
            Some(v),
            "metadata key {k} differs from the float model's"
        );
    }

    let opts = Options {
        threads: 1,
        ..Default::default()
    };
    let mut c8 = Classifier::load(&int8, &opts).unwrap();
    let mut c32 = Classifier::load(&fp32, &opts).unwrap();
    assert_eq!(
        c8.info().quantization.as_deref(),
        Some("int8-qdq-per-channel")
    );
    assert_eq!(c32.info().quantization, None);
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/parity.json")).unwrap(),
    )
    .unwrap();
    let mut worst = 0.0f32;
    for item in fixture["items"].as_array().unwrap() {
        let path = datasets().join(item["path"].as_str().unwrap());
        let frame = binwatch::frame::load(&path).unwrap();
        let a: Vec<f64> = item["region"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let r = Rect::new(a[0], a[1], a[2], a[3])
            .unwrap()
            .with_margin(item["margin"].as_f64().unwrap())
            .unwrap();
        let p8 = c8.classify(&frame, &[Region::Rect(r)]).unwrap().remove(0);
        let p32 = c32.classify(&frame, &[Region::Rect(r)]).unwrap().remove(0);
        assert_eq!(
            p8.alert,
            p32.alert,
            "{}: int8 {:?} vs fp32 {:?}",
            path.display(),
            p8.probabilities,
            p32.probabilities
        );
        for (x, y) in p8.probabilities.iter().zip(&p32.probabilities) {
            worst = worst.max((x - y).abs());
        }
    }
    eprintln!("int8 vs fp32 on the parity items: largest probability difference {worst:.3}");
}
