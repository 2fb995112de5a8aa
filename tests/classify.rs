//! The classifier against tests/fixtures/tiny.onnx (mean colour -> softmax(10 * mean), classes
//! empty/partial/full from R/G/B): metadata, batching, regions and quads.

use std::path::{Path, PathBuf};

use binwatch::classify::{Classifier, Options};
use binwatch::region::{Quad, Rect, Region};
use image::{Rgb, RgbImage};

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.onnx")
}

fn softmax10(mean: [f32; 3]) -> [f32; 3] {
    let e = mean.map(|m| (10.0 * m).exp());
    let s: f32 = e.iter().sum();
    e.map(|v| v / s)
}

/// Left half red, right half blue, 64x48.
fn half_red_half_blue() -> RgbImage {
    RgbImage::from_fn(64, 48, |x, _| {
        if x < 32 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

#[test]
fn metadata_is_read_from_the_model() {
    let c = Classifier::load(&tiny(), &Options::default()).unwrap();
    let info = c.info();
    assert_eq!(info.classes, ["empty", "partial", "full"]);
    assert_eq!(info.alert, [2]);
    assert_eq!((info.width, info.height), (32, 32));
    assert_eq!(info.input_name, "image");
    assert_eq!(info.model_version, "test-tiny");
    assert_eq!(info.default_margin, Some(0.5));
    assert_eq!(info.sha256.len(), 64);
}

#[test]
fn regions_of_one_frame_in_one_batch() {
    let mut c = Classifier::load(
        &tiny(),
        &Options {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let img = half_red_half_blue();
    let regions = [
        Region::Rect(Rect::new(0.0, 0.0, 0.5, 1.0).unwrap()),
        Region::Rect(Rect::new(0.5, 0.0, 1.0, 1.0).unwrap()),
        Region::Rect(Rect::FULL),
        Region::Quad(Quad::new([[0.55, 0.1], [0.95, 0.2], [0.9, 0.9], [0.6, 0.8]]).unwrap()),
    ];
    let p = c.classify(&img, &regions).unwrap();
    assert_eq!(p.len(), 4);
    let info = c.info().clone();
    assert_eq!(p[0].level(&info), "empty");
    assert!(!p[0].alert);
    assert_eq!(p[1].level(&info), "full");
    assert!(p[1].alert);
    let want = softmax10([1.0, 0.0, 0.0]);
    for (a, b) in p[0].probabilities.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{:?} vs {want:?}", p[0].probabilities);
    }
    // whole image: half red, half blue -> equal R and B means
    let want = softmax10([0.5, 0.0, 0.5]);
    for (a, b) in p[2].probabilities.iter().zip(want) {
        assert!((a - b).abs() < 1e-4, "{:?} vs {want:?}", p[2].probabilities);
    }
    assert_eq!(p[3].level(&info), "full");
}

#[test]
fn batch_results_equal_single_results() {
    let mut c = Classifier::load(&tiny(), &Options::default()).unwrap();
    let img = RgbImage::from_fn(50, 40, |x, y| {
        Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y) * 2) as u8])
    });
    let regions: Vec<Region> = (0..5)
        .map(|i| Region::Rect(Rect::new(0.1 * i as f64, 0.05, 0.3 + 0.1 * i as f64, 0.9).unwrap()))
        .collect();
    let batch = c.classify(&img, &regions).unwrap();
    for (r, b) in regions.iter().zip(&batch) {
        let single = c.classify(&img, std::slice::from_ref(r)).unwrap();
        for (x, y) in single[0].probabilities.iter().zip(&b.probabilities) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}

#[test]
fn missing_model_names_the_file() {
    let err = Classifier::load(Path::new("/nope/bin-fill.onnx"), &Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/nope/bin-fill.onnx"), "{err}");
}

/// A copy of tiny.onnx with the metadata value of `key` replaced by one of the same length (the
/// protobuf entry's lengths stay valid, so no ONNX tooling is needed).
fn tiny_with_meta(dir: &Path, key: &str, old: &str, new: &str) -> PathBuf {
    assert_eq!(old.len(), new.len(), "same-length values only");
    let bytes = std::fs::read(tiny()).unwrap();
    let entry = |v: &str| {
        let mut e = vec![0x0a, key.len() as u8];
        e.extend_from_slice(key.as_bytes());
        e.extend_from_slice(&[0x12, v.len() as u8]);
        e.extend_from_slice(v.as_bytes());
        e
    };
    let (from, to) = (entry(old), entry(new));
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{key} = {old} not found in tiny.onnx"));
    let mut out = bytes.clone();
    out[at..at + from.len()].copy_from_slice(&to);
    let path = dir.join(format!("tiny-{key}.onnx"));
    std::fs::write(&path, out).unwrap();
    path
}

fn load_error(model: &Path) -> String {
    match Classifier::load(model, &Options::default()) {
        Ok(_) => panic!("{} loaded", model.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn metadata_that_contradicts_the_graph_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let width = tiny_with_meta(dir.path(), "input_width", "32", "99");
    let err = load_error(&width);
    assert!(
        err.contains(width.to_str().unwrap())
            && err.contains("`input_width` = \"99\"")
            && err.contains("has width 32"),
        "{err}"
    );
    let height = tiny_with_meta(dir.path(), "input_height", "32", "16");
    let err = load_error(&height);
    assert!(
        err.contains("`input_height` = \"16\"") && err.contains("has height 32"),
        "{err}"
    );
    // four classes in the metadata, three in the graph's output
    let classes = tiny_with_meta(
        dir.path(),
        "classes",
        "empty,partial,full",
        "emp,ty,partia,full",
    );
    let err = load_error(&classes);
    assert!(
        err.contains("`classes` = \"emp,ty,partia,full\"")
            && err.contains("4 classes")
            && err.contains("has 3"),
        "{err}"
    );
    // the same kind of edit that keeps the metadata true loads
    let same = tiny_with_meta(dir.path(), "model_version", "test-tiny", "test-tinx");
    Classifier::load(&same, &Options::default()).expect("consistent metadata loads");
}
