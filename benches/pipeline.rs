//! Criterion benchmarks of the per-frame path: decode of a real pool photo, crop-and-resize of a region
//! to 224x224 (the stretch-triangle resampling into the tensor), and inference at batch 1 and batch 4
//! with one intra-op thread. Photos come from BINWATCH_DATASETS (default ../shared/datasets); the model
//! is models/bin-fill.onnx, or tests/fixtures/tiny.onnx when the trained model is not there.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use binwatch::classify::{Classifier, Options};
use binwatch::region::{PixelMap, Rect, Region, RegionPlan, Scratch};
use criterion::{Criterion, criterion_group, criterion_main};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn photo() -> PathBuf {
    let pool = std::env::var_os("BINWATCH_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/datasets"));
    // a montevideo street scene: a typical camera frame (downscaled to 1024 px on the long side)
    let dir = pool.join("montevideo/dirty");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("photo pool not found at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().next().expect("a photo")
}

fn model() -> PathBuf {
    let trained = repo().join("models/bin-fill.onnx");
    if trained.is_file() {
        trained
    } else {
        repo().join("tests/fixtures/tiny.onnx")
    }
}

fn benches(c: &mut Criterion) {
    let path = photo();
    let bytes = std::fs::read(&path).unwrap();
    let frame = binwatch::frame::decode_bytes(&path, &bytes).unwrap();
    eprintln!(
        "photo {} ({}x{}), model {}",
        path.display(),
        frame.width(),
        frame.height(),
        model().display()
    );

    c.bench_function("decode_jpeg", |b| {
        b.iter(|| binwatch::frame::decode_bytes(&path, black_box(&bytes)).unwrap())
    });

    let region = Region::Rect(Rect::new(0.2, 0.15, 0.8, 0.9).unwrap());
    c.bench_function("crop_resize_224", |b| {
        let mut out = vec![0.0f32; 3 * 224 * 224];
        let mut scratch = Scratch::default();
        b.iter(|| {
            // includes building the weight tables, as for a frame of a new size
            let plan = RegionPlan::new(&region, frame.width(), frame.height(), 224, 224);
            plan.write(black_box(&frame), &PixelMap::UNIT, &mut out, &mut scratch);
        })
    });

    let mut classifier = Classifier::load(
        &model(),
        &Options {
            ort_lib: None,
            threads: 1,
        },
    )
    .unwrap();
    for n in [1usize, 4] {
        let regions: Vec<Region> = (0..n)
            .map(|i| {
                Region::Rect(
                    Rect::new(0.05 + 0.1 * i as f64, 0.1, 0.5 + 0.1 * i as f64, 0.9).unwrap(),
                )
            })
            .collect();
        let plans: Vec<RegionPlan> = regions.iter().map(|r| classifier.plan(r, &frame)).collect();
        let items: Vec<_> = plans.iter().map(|p| (&frame, p)).collect();
        c.bench_function(&format!("inference_batch_{n}"), |b| {
            b.iter(|| classifier.classify_planned(black_box(&items)).unwrap())
        });
    }
}

criterion_group! {
    name = pipeline;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(pipeline);
