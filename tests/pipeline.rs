//! The daemon's frame pipeline (`binwatch::pipeline`) on real pool photos and models/bin-fill.onnx:
//! unchanged frames skip inference and the RGB decode, a changed region runs the model (only that bin),
//! the maximum age forces a run; windowed decodes give the same probabilities as whole decodes; scaled
//! decodes stay close to the contract's full decode; PNG frames take the same path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use binwatch::classify::{Classifier, Options};
use binwatch::frame::Scale;
use binwatch::pipeline::{
    CameraBins, DEFAULT_SCALE_RATIO, FrameData, FramePipeline, FrameReport, PipelineOptions,
};
use binwatch::region::{Rect, Region};
use binwatch::skip::SkipRule;
use binwatch::timestamp::Timestamp;
use image::RgbImage;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn datasets() -> PathBuf {
    std::env::var_os("BINWATCH_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/datasets"))
}

fn pipeline(options: PipelineOptions) -> FramePipeline {
    let c = Classifier::load(
        &repo().join("models/bin-fill.onnx"),
        &Options {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    FramePipeline::new(c, options)
}

/// montevideo-regions.json: (path, label, container boxes widened by margin 0.5).
fn scenes() -> Vec<(PathBuf, String, Vec<Region>)> {
    let file = datasets().join("montevideo-regions.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let regions = e["regions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let a: Vec<f64> = r
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    Region::Rect(
                        Rect::new(a[0], a[1], a[2], a[3])
                            .unwrap()
                            .with_margin(0.5)
                            .unwrap(),
                    )
                })
                .collect();
            (
                datasets().join(e["path"].as_str().unwrap()),
                e["label"].as_str().unwrap().to_string(),
                regions,
            )
        })
        .collect()
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
        .encode_image(img)
        .unwrap();
    buf
}

/// Darker, less contrasty, with pixel noise: what a camera gives minutes later under a cloud.
fn relit(img: &RgbImage, seed: u32) -> RgbImage {
    let mut out = img.clone();
    let mut s = seed;
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((s >> 24) as f32 / 255.0 - 0.5) * 6.0;
            *c = (*c as f32 * 0.85 + 12.0 + noise).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

const RULE: SkipRule = SkipRule {
    threshold: 0.1,
    max_age: Duration::from_secs(300),
};

fn run(p: &mut FramePipeline, bins: &mut CameraBins, bytes: &[u8], t: Timestamp) -> FrameReport {
    let mut r = FrameReport::default();
    p.process(
        bins,
        Path::new("frame.jpg"),
        FrameData::Encoded(bytes),
        t,
        &mut r,
    )
    .unwrap();
    r
}

#[test]
fn unchanged_frames_skip_the_model_and_the_rgb_decode() {
    let all = scenes();
    // a scene with two containers, and another scene to paint over one of them
    let (path, _, regions) = all
        .iter()
        .find(|s| s.2.len() == 2)
        .expect("a two-bin scene");
    let frame = binwatch::frame::load(path).unwrap();
    let original = std::fs::read(path).unwrap();
    let mut p = pipeline(PipelineOptions {
        skip: Some(RULE),
        scaled_decode: Some(DEFAULT_SCALE_RATIO),
        window_decode: true,
    });
    let mut bins = CameraBins::new(regions.clone(), Some(RULE));
    let t0 = Timestamp::from_unix_secs(1_800_000_000);
    let at = |s: u64| t0.plus(Duration::from_secs(s));

    let first = run(&mut p, &mut bins, &original, t0);
    assert_eq!(first.inferred, [true, true]);
    assert!(first.decoded.is_some());

    // the same frame again: nothing decoded beyond the thumbnail, the last predictions come back
    let again = run(&mut p, &mut bins, &original, at(10));
    assert_eq!(again.inferred, [false, false]);
    assert_eq!(again.skipped(), 2);
    assert!(again.decoded.is_none(), "{:?}", again.decoded);
    assert_eq!(again.times.decode, Duration::ZERO);
    assert_eq!(again.predictions, first.predictions);

    // other light and sensor noise, re-encoded: still unchanged
    let relit_bytes = jpeg(&relit(&frame, 7));
    let r = run(&mut p, &mut bins, &relit_bytes, at(20));
    assert_eq!(r.inferred, [false, false], "lighting is not a change");

    // the first bin's region painted over with another scene's container: that bin runs the model
    let (other_path, _, other_regions) = all.iter().find(|s| s.0 != *path).unwrap();
    let other = binwatch::frame::load(other_path).unwrap();
    let mut changed = frame.clone();
    paste_region(&mut changed, &regions[0], &other, &other_regions[0]);
    let r = run(&mut p, &mut bins, &jpeg(&changed), at(30));
    assert!(r.inferred[0], "the painted bin runs the model");
    assert!(r.decoded.is_some());

    // past the maximum age everything runs again, whatever the signature says
    let r = run(&mut p, &mut bins, &original, at(30 + 301));
    assert_eq!(r.inferred, [true, true]);
}

/// Paints `src`'s `src_region` (resized) over `dst`'s `dst_region`.
fn paste_region(dst: &mut RgbImage, dst_region: &Region, src: &RgbImage, src_region: &Region) {
    let px = |r: &Region, img: &RgbImage| {
        let Region::Rect(r) = r else {
            panic!("rectangles only")
        };
        let (w, h) = (img.width() as f64, img.height() as f64);
        let (x0, y0) = ((r.x0 * w) as u32, (r.y0 * h) as u32);
        (x0, y0, (r.x1 * w) as u32 - x0, (r.y1 * h) as u32 - y0)
    };
    let (sx, sy, sw, sh) = px(src_region, src);
    let (dx, dy, dw, dh) = px(dst_region, dst);
    let crop = image::imageops::crop_imm(src, sx, sy, sw, sh).to_image();
    let patch = image::imageops::resize(&crop, dw, dh, image::imageops::FilterType::Triangle);
    image::imageops::replace(dst, &patch, dx as i64, dy as i64);
}

#[test]
fn a_window_decode_gives_the_same_probabilities_as_a_whole_decode() {
    let mut whole = pipeline(PipelineOptions {
        skip: None,
        scaled_decode: Some(DEFAULT_SCALE_RATIO),
        window_decode: false,
    });
    let mut window = pipeline(PipelineOptions {
        window_decode: true,
        ..whole.options()
    });
    let t = Timestamp::from_unix_secs(1_800_000_000);
    let mut windowed = 0;
    for (path, _, regions) in scenes().iter().step_by(6) {
        let bytes = std::fs::read(path).unwrap();
        let a = run(
            &mut whole,
            &mut CameraBins::new(regions.clone(), None),
            &bytes,
            t,
        );
        let b = run(
            &mut window,
            &mut CameraBins::new(regions.clone(), None),
            &bytes,
            t,
        );
        assert_eq!(a.decoded.map(|d| d.0), b.decoded.map(|d| d.0));
        let (_, (w, h), win) = b.decoded.unwrap();
        windowed += usize::from(win.width() < w || win.height() < h);
        assert_eq!(
            a.predictions,
            b.predictions,
            "{}: window {win:?} of {w}x{h}",
            path.display()
        );
    }
    assert!(windowed >= 3, "only {windowed} frames used a window");
}

#[test]
fn scaled_decodes_stay_close_to_the_full_decode() {
    // measured with models/bin-fill.onnx 2026.12.0-pre1 on these 69 container regions: largest
    // difference of a probability 0.033, no alert decision changed (decode_scale_ratio 2)
    let mut full = pipeline(PipelineOptions::FULL);
    let mut scaled = pipeline(PipelineOptions {
        skip: None,
        scaled_decode: Some(DEFAULT_SCALE_RATIO),
        window_decode: true,
    });
    let t = Timestamp::from_unix_secs(1_800_000_000);
    let (mut worst, mut flips, mut reduced, mut n) = (0.0f32, 0, 0, 0);
    for (path, _, regions) in scenes() {
        let bytes = std::fs::read(&path).unwrap();
        for r in &regions {
            let a = run(&mut full, &mut CameraBins::new(vec![*r], None), &bytes, t);
            let b = run(&mut scaled, &mut CameraBins::new(vec![*r], None), &bytes, t);
            assert_eq!(a.decoded.unwrap().0, Scale::FULL);
            reduced += usize::from(b.decoded.unwrap().0 < Scale::FULL);
            let (pa, pb) = (&a.predictions[0], &b.predictions[0]);
            for (x, y) in pa.probabilities.iter().zip(&pb.probabilities) {
                worst = worst.max((x - y).abs());
            }
            flips += usize::from(pa.alert != pb.alert);
            n += 1;
        }
    }
    assert!(
        reduced >= 10,
        "only {reduced} of {n} regions were decoded scaled"
    );
    assert!(worst <= 0.08, "largest probability difference {worst}");
    assert!(flips <= 1, "{flips} of {n} alert decisions changed");
}

#[test]
fn png_frames_skip_too() {
    let (path, _, regions) = &scenes()[0];
    let frame = binwatch::frame::load(path).unwrap();
    let mut png = Vec::new();
    frame
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut p = pipeline(PipelineOptions {
        skip: Some(RULE),
        scaled_decode: Some(DEFAULT_SCALE_RATIO),
        window_decode: true,
    });
    let mut bins = CameraBins::new(regions.clone(), Some(RULE));
    let t0 = Timestamp::from_unix_secs(1_800_000_000);
    let a = run(&mut p, &mut bins, &png, t0);
    let b = run(&mut p, &mut bins, &png, t0.plus(Duration::from_secs(10)));
    assert!(a.inferred.iter().all(|i| *i));
    assert!(b.inferred.iter().all(|i| !*i));
    assert_eq!(a.predictions, b.predictions);
    // a PNG is decoded at full size with or without the skipping and scaling options: same predictions
    let mut contract = pipeline(PipelineOptions::FULL);
    let c = run(
        &mut contract,
        &mut CameraBins::new(regions.clone(), None),
        &png,
        t0,
    );
    assert_eq!(c.predictions, a.predictions);
}
