//! The per-frame work of one camera, done in the order that does the least of it: read the JPEG header;
//! if inference may be skipped, decode a 1/8-scale luma thumbnail (only the rows the bins cover) and ask
//! each bin's [`SkipGate`] whether its region changed since its last inference; if no bin needs the model,
//! stop there (no RGB decode at all). Otherwise decode RGB at the smallest DCT scale that leaves every bin
//! that needs inference at least the model's input size ([`choose_scale`]), only the window those bins
//! read, resample them into one tensor and run the model once. Bins that were skipped get their last
//! prediction back, so the debouncer still sees a frame at the new time.
//!
//! Buffers (decodes, tensor, resampling scratch, plans per region and decoded size) live in
//! [`FramePipeline`] and [`CameraBins`] and are reused from frame to frame. Each frame reports how long
//! each stage took ([`StageTimes`]), for `/metrics` and the benchmark.

use std::path::Path;
use std::time::{Duration, Instant};

use image::RgbImage;
use thiserror::Error;

use crate::classify::{Classifier, ClassifyError, ModelInfo, Prediction};
use crate::frame::{self, DecodeRequest, Decoded, FrameError, JpegDecoder, Scale};
use crate::region::{FrameView, PixelRect, Region};
use crate::skip::{Decision, Luma, Signature, SignaturePlan, SkipGate, SkipRule};
use crate::timestamp::Timestamp;

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// The default `min_ratio` of [`choose_scale`] (`daemon.decode_scale_ratio`).
pub const DEFAULT_SCALE_RATIO: f64 = 2.0;

/// How much work a frame may leave out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineOptions {
    /// Skip inference for unchanged regions; `None` = run the model on every bin of every frame.
    pub skip: Option<SkipRule>,
    /// Decode JPEG at the DCT scale [`choose_scale`] picks with this `min_ratio` (>= 1); `None` = full
    /// size.
    pub scaled_decode: Option<f64>,
    /// Decode only the rows and columns the regions read (else the whole frame).
    pub window_decode: bool,
}

impl PipelineOptions {
    /// The contract's preprocessing on every frame: full decode, every bin through the model.
    pub const FULL: PipelineOptions = PipelineOptions {
        skip: None,
        scaled_decode: None,
        window_decode: false,
    };
}

/// The DCT scale to decode a frame at for some regions: the smallest `n/8` (n in 1..=8) at which every
/// region, measured in decoded pixels of the `width x height` frame, is at least `min_ratio` times the
/// model's `input` (width, height) along each axis (a rectangle by its sides, a quad by its shorter
/// opposite edges). A region smaller than that at full size gets full size.
///
/// With `min_ratio` 1 the regions are decoded just large enough for the input; the triangle filter then
/// has little left to average, and the model sees the DCT's sharper, slightly aliased reduction instead
/// of the antialiased one it was trained on (on the pool's montevideo scenes that moved p(full) by 0.02 at
/// the median and flipped 1.4 % of the alert decisions, four times what re-encoding the photos at JPEG
/// quality 90 does). With 2 the filter still halves the region, and scaled and full decodes agree about
/// as well as a re-encode does ([`DEFAULT_SCALE_RATIO`]).
pub fn choose_scale<'a>(
    regions: impl IntoIterator<Item = &'a Region>,
    width: u32,
    height: u32,
    input: (usize, usize),
    min_ratio: f64,
) -> Scale {
    let mut need = 1u8;
    for r in regions {
        let n = (1..=8u8)
            .find(|&n| {
                let s = Scale::eighths(n).unwrap_or(Scale::FULL);
                let (w, h) = s.size(width, height);
                let (rw, rh) = region_size(r, w as f64, h as f64);
                rw >= min_ratio * input.0 as f64 && rh >= min_ratio * input.1 as f64
            })
            .unwrap_or(8);
        need = need.max(n);
    }
    Scale::eighths(need).unwrap_or(Scale::FULL)
}

/// A region's extent in pixels of a `w x h` frame: a rectangle's sides, a quad's longest opposite edges.
fn region_size(r: &Region, w: f64, h: f64) -> (f64, f64) {
    match r {
        Region::Rect(r) => ((r.x1 - r.x0) * w, (r.y1 - r.y0) * h),
        Region::Quad(q) => {
            let p = q.points.map(|[x, y]| [x * w, y * h]);
            let d =
                |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            (
                d(p[0], p[1]).min(d(p[3], p[2])),
                d(p[0], p[3]).min(d(p[1], p[2])),
            )
        }
    }
}

/// How long the stages of one frame took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Header and the luma thumbnail decode.
    pub thumbnail: Duration,
    /// Signatures and skip decisions.
    pub signature: Duration,
    /// The RGB decode for inference (zero when every bin was skipped).
    pub decode: Duration,
    /// Resampling the regions into the tensor.
    pub resample: Duration,
    /// The model run.
    pub inference: Duration,
    /// The whole frame, including what is not listed above.
    pub total: Duration,
}

impl StageTimes {
    /// What the listed stages do not account for.
    pub fn rest(&self) -> Duration {
        self.total.saturating_sub(
            self.thumbnail + self.signature + self.decode + self.resample + self.inference,
        )
    }

    /// Adds another frame's times (for totals).
    pub fn add(&mut self, o: &StageTimes) {
        self.thumbnail += o.thumbnail;
        self.signature += o.signature;
        self.decode += o.decode;
        self.resample += o.resample;
        self.inference += o.inference;
        self.total += o.total;
    }
}

/// One camera's bins (regions with their margin applied) and their skip state.
#[derive(Debug, Clone)]
pub struct CameraBins {
    regions: Vec<Region>,
    gates: Vec<SkipGate<Prediction>>,
    signature_plans: Vec<SignaturePlan>,
}

impl CameraBins {
    /// `regions` in bin order; `rule` is used when the pipeline skips (see [`PipelineOptions::skip`]).
    pub fn new(regions: Vec<Region>, rule: Option<SkipRule>) -> CameraBins {
        let rule = rule.unwrap_or(SkipRule {
            threshold: 0.0,
            max_age: Duration::ZERO,
        });
        CameraBins {
            gates: regions.iter().map(|_| SkipGate::new(rule)).collect(),
            regions,
            signature_plans: Vec::new(),
        }
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Signature plans for a `width x height` thumbnail, made when the size changes.
    fn ensure_signature_plans(&mut self, width: usize, height: usize) {
        if self.signature_plans.first().map(|p| p.size()) != Some((width, height))
            || self.signature_plans.len() != self.regions.len()
        {
            self.signature_plans = self
                .regions
                .iter()
                .map(|r| SignaturePlan::new(r, width, height))
                .collect();
        }
    }
}

/// What one frame gave.
#[derive(Debug, Clone, Default)]
pub struct FrameReport {
    /// One per bin, in bin order: fresh, or reused from the bin's last inference.
    pub predictions: Vec<Prediction>,
    /// Whether the bin's prediction comes from this frame's inference.
    pub inferred: Vec<bool>,
    /// The RGB decode made for inference: scale, decoded size and window (`None`: no RGB decode, or not a
    /// JPEG).
    pub decoded: Option<(Scale, (usize, usize), PixelRect)>,
    pub times: StageTimes,
}

impl FrameReport {
    /// Bins whose inference was skipped.
    pub fn skipped(&self) -> usize {
        self.inferred.iter().filter(|i| !**i).count()
    }
}

/// A frame as a camera hands it over.
#[derive(Debug, Clone, Copy)]
pub enum FrameData<'a> {
    /// JPEG or PNG bytes.
    Encoded(&'a [u8]),
    /// Decoded RGB (a V4L2 capture).
    Rgb(&'a RgbImage),
}

/// The classifier and the buffers of the per-frame work; one per inference thread, shared by cameras.
pub struct FramePipeline {
    classifier: Classifier,
    options: PipelineOptions,
    decoder: JpegDecoder,
    rgb: Decoded,
    luma: Decoded,
    /// 1/8 luma of a frame that is not JPEG.
    luma_small: Vec<u8>,
    signatures: Vec<Option<Signature>>,
    need: Vec<usize>,
    need_regions: Vec<Region>,
}

impl FramePipeline {
    pub fn new(classifier: Classifier, options: PipelineOptions) -> FramePipeline {
        FramePipeline {
            classifier,
            options,
            decoder: JpegDecoder::new(),
            rgb: Decoded::default(),
            luma: Decoded::default(),
            luma_small: Vec::new(),
            signatures: Vec::new(),
            need: Vec::new(),
            need_regions: Vec::new(),
        }
    }

    pub fn info(&self) -> &ModelInfo {
        self.classifier.info()
    }

    pub fn options(&self) -> PipelineOptions {
        self.options
    }

    /// Processes one frame of the camera whose bins are `bins`, taken at `time`; `origin` names it in
    /// errors. The report is overwritten (its buffers reused).
    pub fn process(
        &mut self,
        bins: &mut CameraBins,
        origin: &Path,
        data: FrameData<'_>,
        time: Timestamp,
        report: &mut FrameReport,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        report.predictions.clear();
        report.inferred.clear();
        report.decoded = None;
        report.times = StageTimes::default();
        let n = bins.len();
        if n == 0 {
            report.times.total = started.elapsed();
            return Ok(());
        }
        let jpeg = match data {
            FrameData::Encoded(b) if frame::is_jpeg(b) => Some(b),
            _ => None,
        };
        // not JPEG: one full decode serves both the thumbnail and the regions
        let owned: Option<RgbImage> = match data {
            FrameData::Encoded(b) if jpeg.is_none() => Some(frame::decode_bytes(origin, b)?),
            _ => None,
        };
        let rgb_full: Option<&RgbImage> = match data {
            FrameData::Rgb(img) => Some(img),
            _ => owned.as_ref(),
        };
        let header = match jpeg {
            Some(bytes) => Some(self.decoder.header(origin, bytes)?),
            None => None,
        };

        // 1. which bins need the model
        self.need.clear();
        self.signatures.clear();
        match self.options.skip {
            None => self.need.extend(0..n),
            Some(_) => {
                let t = Instant::now();
                let (lw, lh) = match (header, rgb_full) {
                    (Some(head), _) => {
                        let (lw, lh) = Scale::EIGHTH.size(head.width, head.height);
                        (lw as usize, lh as usize)
                    }
                    (None, Some(img)) => eighth_luma(img, &mut self.luma_small),
                    (None, None) => unreachable!("a frame is JPEG, decoded, or failed above"),
                };
                bins.ensure_signature_plans(lw, lh);
                let luma = match jpeg {
                    Some(bytes) => {
                        // only the rows the bins cover
                        let (r0, r1) = bins
                            .signature_plans
                            .iter()
                            .map(|p| p.rows())
                            .fold((usize::MAX, 0), |(a, b), (c, d)| (a.min(c), b.max(d)));
                        let req = DecodeRequest {
                            scale: Scale::EIGHTH,
                            luma: true,
                            window: Some(PixelRect {
                                x0: 0,
                                y0: r0,
                                x1: lw,
                                y1: r1,
                            }),
                        };
                        self.decoder.decode(origin, bytes, &req, &mut self.luma)?;
                        let win = self.luma.window();
                        debug_assert_eq!((win.x0, win.x1), (0, lw));
                        Luma {
                            data: self.luma.data(),
                            width: lw,
                            height: lh,
                            first_row: win.y0,
                        }
                    }
                    None => Luma {
                        data: &self.luma_small,
                        width: lw,
                        height: lh,
                        first_row: 0,
                    },
                };
                report.times.thumbnail = t.elapsed();
                let t = Instant::now();
                for (i, (plan, gate)) in bins.signature_plans.iter().zip(&bins.gates).enumerate() {
                    let sig = plan.signature(&luma);
                    if !matches!(gate.decide(&sig, time), Decision::Reuse(_)) {
                        self.need.push(i);
                    }
                    self.signatures.push(Some(sig));
                }
                report.times.signature = t.elapsed();
            }
        }

        // 2. the model, for the bins that need it
        let mut fresh: Vec<Prediction> = Vec::new();
        if !self.need.is_empty() {
            self.need_regions.clear();
            self.need_regions
                .extend(self.need.iter().map(|&i| bins.regions[i]));
            let input = (self.classifier.info().width, self.classifier.info().height);
            let view = match (jpeg, header) {
                (Some(bytes), Some(head)) => {
                    let t = Instant::now();
                    let scale = match self.options.scaled_decode {
                        Some(ratio) => {
                            choose_scale(&self.need_regions, head.width, head.height, input, ratio)
                        }
                        None => Scale::FULL,
                    };
                    let (dw, dh) = scale.size(head.width, head.height);
                    let size = (dw as usize, dh as usize);
                    let window = if self.options.window_decode {
                        let mut u: Option<PixelRect> = None;
                        for r in &self.need_regions {
                            let s = self.classifier.source_rect(r, size);
                            u = Some(u.map_or(s, |u| u.union(&s)));
                        }
                        // a few pixels more keep libjpeg's edge handling of a cropped row (the fancy
                        // upsampling's context) out of the pixels the plans read
                        u.map(|u| u.grown(WINDOW_MARGIN, size.0, size.1))
                    } else {
                        None
                    };
                    let req = DecodeRequest {
                        scale,
                        luma: false,
                        window,
                    };
                    self.decoder.decode(origin, bytes, &req, &mut self.rgb)?;
                    report.times.decode = t.elapsed();
                    report.decoded = Some((scale, size, self.rgb.window()));
                    self.rgb.view().ok_or_else(|| FrameError::Jpeg {
                        path: origin.to_path_buf(),
                        message: "decoded window is empty".into(),
                    })?
                }
                _ => FrameView::full(rgb_full.expect("decoded above")),
            };
            let t = Instant::now();
            fresh = self.classifier.classify_view(&view, &self.need_regions)?;
            let resample = self.classifier.last_resample_time();
            report.times.resample = resample;
            report.times.inference = t.elapsed().saturating_sub(resample);
        }

        // 3. one prediction per bin, fresh or reused; gates remember fresh ones with their signature
        let mut fresh = fresh.into_iter();
        let mut need = self.need.iter().copied().peekable();
        for i in 0..n {
            if need.peek() == Some(&i) {
                need.next();
                let p = fresh.next().expect("one prediction per region");
                if let Some(sig) = self.signatures.get_mut(i).and_then(Option::take) {
                    bins.gates[i].record(sig, time, p.clone());
                }
                report.predictions.push(p);
                report.inferred.push(true);
            } else {
                let p = bins.gates[i]
                    .last_prediction()
                    .expect("a reused bin has a last inference");
                report.predictions.push(p.clone());
                report.inferred.push(false);
            }
        }
        report.times.total = started.elapsed();
        Ok(())
    }
}

/// Pixels added around the decode window on every side.
pub const WINDOW_MARGIN: usize = 4;

/// The 8x8 block means of a frame's luma (BT.601, as JPEG's Y), rounded like a 1/8 JPEG decode; returns
/// the thumbnail's size. Partial blocks at the right and bottom edges average what they hold.
pub fn eighth_luma(img: &RgbImage, out: &mut Vec<u8>) -> (usize, usize) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (tw, th) = (w.div_ceil(8), h.div_ceil(8));
    let mut sums = vec![0.0f32; tw];
    let mut counts = vec![0u32; tw];
    out.clear();
    out.resize(tw * th, 0);
    let raw = img.as_raw();
    for by in 0..th {
        sums.fill(0.0);
        counts.fill(0);
        for y in by * 8..((by + 1) * 8).min(h) {
            let row = &raw[y * w * 3..(y + 1) * w * 3];
            for (x, p) in row.chunks_exact(3).enumerate() {
                let yv = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                sums[x / 8] += yv;
                counts[x / 8] += 1;
            }
        }
        for bx in 0..tw {
            out[by * tw + bx] = (sums[bx] / counts[bx].max(1) as f32)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    (tw, th)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Quad, Rect};

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Region {
        Region::Rect(Rect::new(x0, y0, x1, y1).unwrap())
    }

    #[test]
    fn scale_is_the_largest_reduction_that_keeps_every_region_large_enough() {
        // 1920x1080: a region 0.5 wide (960 px) and 0.4 high (432 px)
        let big = rect(0.0, 0.0, 0.5, 0.4);
        // 1/4 gives 240 x 108: too low; 3/8 gives 360 x 162: too low; 5/8 gives 600 x 270
        assert_eq!(
            choose_scale([&big], 1920, 1080, (224, 224), 1.0),
            Scale::eighths(5).unwrap()
        );
        // twice the input: 448 rows needed, 432 at full size is not enough -> full size
        assert_eq!(
            choose_scale([&big], 1920, 1080, (224, 224), 2.0),
            Scale::FULL
        );
        let huge = rect(0.0, 0.0, 1.0, 1.0);
        assert_eq!(
            choose_scale([&huge], 1920, 1080, (224, 224), 1.0),
            Scale::eighths(2).unwrap(),
            "1080 * 2/8 = 270 >= 224, 1080 / 8 = 135 is not"
        );
        assert_eq!(
            choose_scale([&huge], 1920, 1080, (224, 224), 2.0),
            Scale::eighths(4).unwrap()
        );
        // the smallest region decides
        assert_eq!(
            choose_scale([&huge, &big], 1920, 1080, (224, 224), 1.0),
            Scale::eighths(5).unwrap()
        );
        // a region smaller than the input at full size: full size
        let small = rect(0.1, 0.1, 0.15, 0.3);
        assert_eq!(
            choose_scale([&huge, &small], 1920, 1080, (224, 224), 1.0),
            Scale::FULL
        );
        // no region: nothing limits the reduction
        assert_eq!(choose_scale([], 1920, 1080, (224, 224), 1.0), Scale::EIGHTH);
    }

    #[test]
    fn a_quad_is_measured_by_its_shorter_opposite_edges() {
        // a trapezoid 0.5 wide at the top, 0.25 at the bottom, 0.5 high, on 1600x1600
        let q = Region::Quad(
            Quad::new([[0.25, 0.25], [0.75, 0.25], [0.625, 0.75], [0.375, 0.75]]).unwrap(),
        );
        let (w, h) = region_size(&q, 1600.0, 1600.0);
        assert!((w - 400.0).abs() < 1e-9, "{w}");
        // the slanted sides: from (400, 400) to (600, 1200)
        assert!(
            (h - (200.0f64.powi(2) + 800.0f64.powi(2)).sqrt()).abs() < 1e-9,
            "{h}"
        );
        // 400 px across: 5/8 (250) is enough for 224, 4/8 (200) is not
        assert_eq!(
            choose_scale([&q], 1600, 1600, (224, 224), 1.0),
            Scale::eighths(5).unwrap()
        );
    }

    #[test]
    fn eighth_luma_averages_blocks_like_a_dc_decode() {
        // 16x9: left block white, right block black, a 1-row partial block at the bottom (grey)
        let img = RgbImage::from_fn(16, 9, |x, y| {
            if y == 8 {
                image::Rgb([100, 100, 100])
            } else if x < 8 {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        let mut out = Vec::new();
        assert_eq!(eighth_luma(&img, &mut out), (2, 2));
        assert_eq!(out, [255, 0, 100, 100]);
    }

    #[test]
    fn stage_rest_is_what_the_stages_do_not_cover() {
        let ms = Duration::from_millis;
        let t = StageTimes {
            thumbnail: ms(2),
            signature: ms(1),
            decode: ms(10),
            resample: ms(3),
            inference: ms(50),
            total: ms(70),
        };
        assert_eq!(t.rest(), ms(4));
        let mut sum = StageTimes::default();
        sum.add(&t);
        sum.add(&t);
        assert_eq!((sum.total, sum.rest()), (ms(140), ms(8)));
    }
}
