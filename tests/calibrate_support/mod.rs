//! Shared helpers of the calibrate tests: the dataset pool (`BINWATCH_DATASETS`, default
//! `../shared/datasets` beside the repository), `montevideo-regions.json` read with serde_json,
//! synthetic camera faults applied to real frames, and a config for a folder camera in a tempdir.
//! No pool photo is ever written inside the repository: tests copy or generate into tempdirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use binwatch::region::{Rect, Region};
use image::{Rgb, RgbImage};
use serde::Deserialize;

/// Dataset root: `BINWATCH_DATASETS`, default `../shared/datasets` relative to the repository.
pub fn datasets_root() -> PathBuf {
    std::env::var_os("BINWATCH_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"))
}

/// One scene of `montevideo-regions.json`: a camera frame and its container boxes.
#[derive(Debug, Clone, Deserialize)]
pub struct Scene {
    pub path: String,
    pub label: String,
    pub regions: Vec<[f64; 4]>,
}

impl Scene {
    pub fn file(&self) -> PathBuf {
        datasets_root().join(&self.path)
    }

    pub fn load(&self) -> RgbImage {
        let p = self.file();
        image::open(&p)
            .unwrap_or_else(|e| panic!("cannot read scene {}: {e}", p.display()))
            .to_rgb8()
    }

    /// The boxes as core regions, named `bin-1`, `bin-2`, ...
    pub fn bins(&self) -> Vec<(String, Region)> {
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rect = Rect::from_array(*r).unwrap_or_else(|e| panic!("{}: {e}", self.path));
                (format!("bin-{}", i + 1), Region::Rect(rect))
            })
            .collect()
    }

    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The 60 scenes of `montevideo-regions.json`.
pub fn scenes() -> Vec<Scene> {
    let p = datasets_root().join("montevideo-regions.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (set BINWATCH_DATASETS to the dataset pool): {e}",
            p.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shipped model (the config checks need an existing model file).
pub fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/bin-fill.onnx")
}

/// libonnxruntime of the checkout (.ci/setup), if present.
pub fn ort_lib() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ort");
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so.1.31"))
        })
}

/// A commented config for one folder camera `street` reading `frames/` beside it, and no bins.
pub fn folder_config(dir: &Path) -> PathBuf {
    let ort = ort_lib()
        .map(|p| format!("onnxruntime = {:?}\n", p.display().to_string()))
        .unwrap_or_default();
    let text = format!(
        r#"# binwatch at the corner of the square
state_dir = "state"   # outbox and bin state

[model]
path = {model:?}
{ort}threads = 1

# the pole camera, replayed from a folder
[[cameras]]
name = "street"
interval_s = 30   # seconds between frames
source = {{ kind = "folder", path = "frames" }}

[[sinks]]
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "BINWATCH_TEST_SECRET"   # never the secret itself
"#,
        model = model_path().display().to_string(),
    );
    let p = dir.join("binwatch.toml");
    std::fs::write(&p, text).expect("write config");
    std::fs::create_dir_all(dir.join("frames")).expect("frames dir");
    p
}

/// Writes `img` as a JPEG (quality 90).
pub fn save_jpeg(img: &RgbImage, path: &Path) {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
        .encode_image(img)
        .expect("jpeg encode");
    std::fs::write(path, buf).expect("write jpeg");
}

// -------------------------------------------------------------------------------------------
// Synthetic faults and benign changes

/// Deterministic xorshift RNG with Gaussian samples.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Re-encodes as JPEG at quality 80: the "same scene, next frame" of a real camera.
pub fn reencode(img: &RgbImage) -> RgbImage {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 80)
        .encode_image(img)
        .expect("jpeg encode");
    image::load_from_memory(&buf)
        .expect("jpeg decode")
        .to_rgb8()
}

/// Brightness gain and Gaussian sensor noise (sigma in 0..255 units), per channel.
pub fn gain_noise(img: &RgbImage, gain: f64, sigma: f64, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f64::from(*c) * gain + sigma * rng.gauss())
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Translates the content by (`dx`, `dy`) pixels, replicating the edge into the uncovered strip
/// (what a camera knocked sideways shows: new content at one edge).
pub fn translate(img: &RgbImage, dx: i64, dy: i64) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let sx = (x as i64 - dx).clamp(0, w - 1) as u32;
        let sy = (y as i64 - dy).clamp(0, h - 1) as u32;
        *img.get_pixel(sx, sy)
    })
}

/// Paints a uniform rectangle covering `area` of the frame (same aspect as the frame), anchored at
/// one of the corners or the centre depending on `pos` (0..5).
pub fn uniform_patch(img: &RgbImage, area: f64, pos: usize, colour: [u8; 3]) -> RgbImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let s = area.sqrt();
    let (pw, ph) = ((w * s).round() as u32, (h * s).round() as u32);
    let (fx, fy) = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.5)][pos % 5];
    let x0 = ((img.width() - pw) as f64 * fx) as u32;
    let y0 = ((img.height() - ph) as f64 * fy) as u32;
    let mut out = img.clone();
    for y in y0..y0 + ph {
        for x in x0..x0 + pw {
            out.put_pixel(x, y, Rgb(colour));
        }
    }
    out
}

/// Nearly black: 4% of the light plus a little sensor noise.
pub fn nearly_black(img: &RgbImage, seed: u64) -> RgbImage {
    gain_noise(img, 0.04, 1.5, seed)
}

/// Gaussian blur of sigma 4 px at 1024 px on the long side, scaled to the frame's size.
pub fn defocus(img: &RgbImage) -> RgbImage {
    let long = img.width().max(img.height()) as f32;
    image::imageops::blur(img, 4.0 * long / 1024.0)
}

/// Replaces the contents of `region` with the same area of `other` (resized to this frame):
/// a bin emptied or filled between two frames of an unchanged camera.
pub fn swap_region(img: &RgbImage, other: &RgbImage, region: [f64; 4]) -> RgbImage {
    let other = image::imageops::resize(
        other,
        img.width(),
        img.height(),
        image::imageops::FilterType::Triangle,
    );
    let (w, h) = (img.width() as f64, img.height() as f64);
    let mut out = img.clone();
    let (x0, y0) = ((region[0] * w) as u32, (region[1] * h) as u32);
    let (x1, y1) = (
        ((region[2] * w) as u32).min(img.width()),
        ((region[3] * h) as u32).min(img.height()),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            out.put_pixel(x, y, *other.get_pixel(x, y));
        }
    }
    out
}
