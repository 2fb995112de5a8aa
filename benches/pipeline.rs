//! Criterion benchmarks of the per-frame path: decode of a real pool photo (full size, and at the DCT
//! scales the daemon uses: 1/2 RGB, 1/8 luma for the skip thumbnail), crop-and-resize of a region to
//! 224x224 (the stretch-triangle resampling into the tensor, with and without building its plan), and
//! inference at batch 1 and batch 4 with one intra-op thread. Photos come from BINWATCH_DATASETS (default
//! ../shared/datasets); when benches/compare.sh has built its workloads, the first 1920x1080 frame of
//! workload A (target/bench/a/000.jpg) is decoded too. The model is $BINWATCH_MODEL (e.g.
//! models/bin-fill-int8.onnx), else models/bin-fill.onnx, or tests/fixtures/tiny.onnx when the trained model
//! is not there.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use binwatch::classify::{Classifier, Options};
use binwatch::frame::{DecodeRequest, Decoded, JpegDecoder, Scale};
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
    if let Some(m) = std::env::var_os("BINWATCH_MODEL") {
        return PathBuf::from(m);
    }
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
    let tiled = repo().join("target/bench/a/000.jpg");
    let tiled = std::fs::read(&tiled).ok().map(|b| (tiled, b));
    let mut decoder = JpegDecoder::new();
    let mut out = Decoded::default();
    let scaled = [
        ("rgb_full", Scale::FULL, false),
        ("rgb_half", Scale::eighths(4).unwrap(), false),
        ("luma_eighth", Scale::EIGHTH, true),
    ];
    for (what, p, b) in [("photo", &path, &bytes)]
        .into_iter()
        .chain(tiled.as_ref().map(|(p, b)| ("1080p", p, b)))
    {
        for (name, scale, luma) in scaled {
            let req = DecodeRequest {
                scale,
                luma,
                window: None,
            };
            c.bench_function(&format!("decode_{what}_{name}"), |bn| {
                // the decoder and its output buffer are reused, as in the daemon
                bn.iter(|| decoder.decode(p, black_box(b), &req, &mut out).unwrap())
            });
        }
    }

    let region = Region::Rect(Rect::new(0.2, 0.15, 0.8, 0.9).unwrap());
    c.bench_function("crop_resize_224_cached_plan", |b| {
        let mut out = vec![0.0f32; 3 * 224 * 224];
        let mut scratch = Scratch::default();
        let plan = RegionPlan::new(&region, frame.width(), frame.height(), 224, 224);
        b.iter(|| plan.write(black_box(&frame), &PixelMap::UNIT, &mut out, &mut scratch))
    });
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
