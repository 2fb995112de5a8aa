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
