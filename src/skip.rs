//! Skipping inference for a bin whose pixels have not changed since its last inference.
//!
//! A region's [`Signature`] is a 16x16 luma thumbnail of it, resampled with the contract's triangle filter
//! from a small luma image of the frame (in the daemon: the 1/8-scale decode, one pixel per JPEG block),
//! then normalised to zero mean and unit spread, so that a global change of brightness or contrast (the sun
//! going behind a cloud, auto-exposure) does not count as change, and the 8x8 block averages leave little
//! of the sensor noise. [`SkipGate`] decides, per bin, whether the last prediction can be reused: the new
//! signature is within a threshold of the one taken at the last inference (not the previous frame's: slow
//! drift adds up until it counts) and that inference is younger than a maximum age. Pure: time comes in as
//! an argument.

use std::time::Duration;

use crate::region::{AxisWeights, Region};
use crate::timestamp::Timestamp;

/// Side of the signature thumbnail.
pub const SIGNATURE_SIDE: usize = 16;
/// Values in a signature.
pub const SIGNATURE_LEN: usize = SIGNATURE_SIDE * SIGNATURE_SIDE;
/// Smallest spread (luma levels) a thumbnail is divided by: a flat region (night, fog) is not blown up
/// into noise.
pub const MIN_SPREAD: f32 = 4.0;

/// A normalised 16x16 luma thumbnail of a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    values: [f32; SIGNATURE_LEN],
}

/// A luma image of a whole frame (one byte per pixel, rows `width` bytes apart): region coordinates 0..1
/// map onto `0..width` and `0..height`. `data` holds rows `first_row..`, at least those a plan reads
/// ([`SignaturePlan::rows`]).
#[derive(Debug, Clone, Copy)]
pub struct Luma<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub first_row: usize,
}

/// Per-axis weights of one region's thumbnail for one luma image size; build once, reuse every frame.
#[derive(Debug, Clone)]
pub struct SignaturePlan {
    width: usize,
    height: usize,
    xw: AxisWeights,
    yw: AxisWeights,
}

impl SignaturePlan {
    /// The plan of `region` (its bounding box for a quad) on a `width x height` luma image.
    pub fn new(region: &Region, width: usize, height: usize) -> SignaturePlan {
        let [x0, y0, x1, y1] = match region {
            Region::Rect(r) => r.to_array(),
            Region::Quad(q) => q.bounds(),
        };
        let (w, h) = (width as f64, height as f64);
        SignaturePlan {
            width,
            height,
            xw: AxisWeights::new(width, x0 * w, x1 * w, SIGNATURE_SIDE),
            yw: AxisWeights::new(height, y0 * h, y1 * h, SIGNATURE_SIDE),
        }
    }

    /// The luma image size this plan was made for.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The rows of the luma image the thumbnail reads (`start..end`).
    pub fn rows(&self) -> (usize, usize) {
        self.yw.source_span()
    }

    /// The region's signature. Panics if the image is not the plan's size or lacks rows the plan reads.
    pub fn signature(&self, luma: &Luma<'_>) -> Signature {
        assert_eq!(
            (luma.width, luma.height),
            (self.width, self.height),
            "signature plan made for another image size"
        );
        let (r0, r1) = self.rows();
        assert!(
            r0 >= luma.first_row && luma.data.len() >= (r1 - luma.first_row) * luma.width,
            "luma image lacks rows {r0}..{r1} of the region"
        );
        let mut values = [0.0f32; SIGNATURE_LEN];
        for j in 0..SIGNATURE_SIDE {
            let (sy, wy) = self.yw.taps(j);
            let mut acc = [0.0f32; SIGNATURE_SIDE];
            for (k, &wt) in wy.iter().enumerate() {
                let row = &luma.data[(sy + k - luma.first_row) * luma.width..][..luma.width];
                for (i, a) in acc.iter_mut().enumerate() {
                    let (sx, wx) = self.xw.taps(i);
                    let v: f32 = row[sx..sx + wx.len()]
                        .iter()
                        .zip(wx)
                        .map(|(&p, &w)| w * p as f32)
                        .sum();
                    *a += wt * v;
                }
            }
            values[j * SIGNATURE_SIDE..][..SIGNATURE_SIDE].copy_from_slice(&acc);
        }
        Signature::normalised(values)
    }
}

impl Signature {
    /// From raw thumbnail values (luma levels): minus their mean, divided by their standard deviation
    /// (at least [`MIN_SPREAD`]).
    pub fn normalised(mut values: [f32; SIGNATURE_LEN]) -> Signature {
        let n = SIGNATURE_LEN as f32;
        let mean = values.iter().sum::<f32>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let spread = var.sqrt().max(MIN_SPREAD);
        for v in &mut values {
            *v = (*v - mean) / spread;
        }
        Signature { values }
    }

    /// Mean absolute difference of two signatures, in units of the thumbnails' spread: 0 for the same
    /// picture under other lighting, about 1.1 for two unrelated pictures.
    pub fn distance(&self, other: &Signature) -> f32 {
        self.values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / SIGNATURE_LEN as f32
    }

    pub fn values(&self) -> &[f32; SIGNATURE_LEN] {
        &self.values
    }
}

/// When a bin may skip inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipRule {
    /// Largest [`Signature::distance`] that still counts as unchanged.
    pub threshold: f32,
    /// A prediction older than this is not reused, whatever the signature says.
    pub max_age: Duration,
}

/// The decision for one bin and frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a, P> {
    /// Run the model.
    Infer(InferReason),
    /// Reuse this prediction (from the last inference).
    Reuse(&'a P),
}

/// Why a bin runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InferReason {
    /// No inference yet.
    First,
    /// The signature moved more than the threshold.
    Changed,
    /// The last inference is older than the maximum age.
    Stale,
    /// The frame is older than the last inference (clock went backwards).
    Backwards,
}

/// The skip state of one bin: the signature and prediction of its last inference. `P` is the prediction
/// type (the classifier's `Prediction` in the daemon).
#[derive(Debug, Clone)]
pub struct SkipGate<P> {
    rule: SkipRule,
    last: Option<(Signature, Timestamp, P)>,
}

impl<P> SkipGate<P> {
    pub fn new(rule: SkipRule) -> SkipGate<P> {
        SkipGate { rule, last: None }
    }

    pub fn rule(&self) -> SkipRule {
        self.rule
    }

    /// Whether the bin needs inference for a frame taken at `now` with signature `sig`.
    pub fn decide(&self, sig: &Signature, now: Timestamp) -> Decision<'_, P> {
        let Some((last_sig, at, pred)) = &self.last else {
            return Decision::Infer(InferReason::First);
        };
        if now < *at {
            return Decision::Infer(InferReason::Backwards);
        }
        if now.since(*at) > self.rule.max_age {
            return Decision::Infer(InferReason::Stale);
        }
        if sig.distance(last_sig) > self.rule.threshold {
            return Decision::Infer(InferReason::Changed);
        }
        Decision::Reuse(pred)
    }

    /// Remembers an inference made at `now` on a frame with signature `sig`.
    pub fn record(&mut self, sig: Signature, now: Timestamp, pred: P) {
        self.last = Some((sig, now, pred));
    }

    /// The prediction of the last inference.
    pub fn last_prediction(&self) -> Option<&P> {
        self.last.as_ref().map(|(_, _, p)| p)
    }

    /// Forgets the last inference (the next frame runs the model).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Rect;

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                v.push(f(x, y).round().clamp(0.0, 255.0) as u8);
            }
        }
        v
    }

    fn texture(x: usize, y: usize) -> f32 {
        // a fixed pseudo-random texture with structure at several scales
        let h = (x as u32).wrapping_mul(2_654_435_761) ^ (y as u32).wrapping_mul(40_503);
        let noise = ((h >> 13) % 64) as f32;
        80.0 + 60.0 * ((x as f32 / 9.0).sin() * (y as f32 / 7.0).cos()) + noise
    }

    fn sig(data: &[u8], w: usize, h: usize, r: Rect) -> Signature {
        SignaturePlan::new(&Region::Rect(r), w, h).signature(&Luma {
            data,
            width: w,
            height: h,
            first_row: 0,
        })
    }

    const R: Rect = Rect {
        x0: 0.2,
        y0: 0.1,
        x1: 0.7,
        y1: 0.9,
    };

    #[test]
    fn brightness_and_contrast_changes_are_not_change() {
        let (w, h) = (240, 135);
        let a = picture(w, h, texture);
        let b = picture(w, h, |x, y| 0.8 * texture(x, y) + 20.0);
        let d = sig(&a, w, h, R).distance(&sig(&b, w, h, R));
        assert!(d < 0.02, "{d}");
    }

    #[test]
    fn another_picture_is_far() {
        let (w, h) = (240, 135);
        let a = picture(w, h, texture);
        let b = picture(w, h, |x, y| texture(y + 50, x + 11));
        let d = sig(&a, w, h, R).distance(&sig(&b, w, h, R));
        assert!(d > 0.5, "{d}");
    }

    #[test]
    fn change_outside_the_region_does_not_count_inside_does() {
        let (w, h) = (240, 135);
        let a = picture(w, h, texture);
        // a bright blob right of the region (x > 0.7 * 240 = 168)
        let outside = picture(w, h, |x, y| if x > 190 { 250.0 } else { texture(x, y) });
        assert_eq!(sig(&a, w, h, R), sig(&outside, w, h, R));
        // the same blob inside it, over a sixth of its area
        let inside = picture(w, h, |x, y| {
            if (60..100).contains(&x) && (30..70).contains(&y) {
                250.0
            } else {
                texture(x, y)
            }
        });
        let d = sig(&a, w, h, R).distance(&sig(&inside, w, h, R));
        assert!(d > 0.15, "{d}");
    }

    #[test]
    fn flat_region_noise_stays_small() {
        let (w, h) = (240, 135);
        let a = picture(w, h, |_, _| 20.0);
        let b = picture(w, h, |x, y| 20.0 + ((x * 7 + y * 13) % 3) as f32 - 1.0);
        let d = sig(&a, w, h, R).distance(&sig(&b, w, h, R));
        assert!(d < 0.2, "{d}");
    }

    fn s(seed: usize) -> Signature {
        let (w, h) = (64, 64);
        let img = picture(w, h, |x, y| texture(x + seed * 31, y + seed * 17));
        sig(&img, w, h, Rect::FULL)
    }

    const RULE: SkipRule = SkipRule {
        threshold: 0.1,
        max_age: Duration::from_secs(300),
    };

    #[test]
    fn first_frame_infers_then_unchanged_frames_reuse() {
        let t0 = Timestamp::from_unix_secs(1_000_000);
        let mut g: SkipGate<&str> = SkipGate::new(RULE);
        assert_eq!(g.decide(&s(1), t0), Decision::Infer(InferReason::First));
        g.record(s(1), t0, "full");
        assert_eq!(
            g.decide(&s(1), t0.plus(Duration::from_secs(10))),
            Decision::Reuse(&"full")
        );
        assert_eq!(
            g.decide(&s(2), t0.plus(Duration::from_secs(10))),
            Decision::Infer(InferReason::Changed)
        );
    }

    #[test]
    fn max_age_forces_inference_and_is_measured_from_the_inference() {
        let t0 = Timestamp::from_unix_secs(1_000_000);
        let mut g: SkipGate<u8> = SkipGate::new(RULE);
        g.record(s(1), t0, 7);
        // reused frames do not refresh the age
        for k in 1..=30 {
            let t = t0.plus(Duration::from_secs(10 * k));
            assert_eq!(g.decide(&s(1), t), Decision::Reuse(&7), "{k}");
        }
        let late = t0.plus(Duration::from_secs(301));
        assert_eq!(g.decide(&s(1), late), Decision::Infer(InferReason::Stale));
        g.record(s(1), late, 8);
        assert_eq!(
            g.decide(&s(1), late.plus(Duration::from_secs(1))),
            Decision::Reuse(&8)
        );
    }

    #[test]
    fn drift_is_measured_against_the_last_inference_not_the_last_frame() {
        let t0 = Timestamp::from_unix_secs(1_000_000);
        let (w, h) = (64, 64);
        // a blob moving one pixel per frame: each step is small, the sum is not
        let frame = |k: usize| {
            let img = picture(w, h, |x, y| {
                let (cx, cy) = (16.0 + k as f32, 32.0);
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                if d < 8.0 { 220.0 } else { 60.0 }
            });
            sig(&img, w, h, Rect::FULL)
        };
        let step = frame(0).distance(&frame(1));
        let rule = SkipRule {
            threshold: step * 1.5,
            max_age: Duration::from_secs(3600),
        };
        let mut g: SkipGate<()> = SkipGate::new(rule);
        g.record(frame(0), t0, ());
        let t = t0.plus(Duration::from_secs(1));
        assert_eq!(g.decide(&frame(1), t), Decision::Reuse(&()));
        let mut k = 2;
        while matches!(g.decide(&frame(k), t), Decision::Reuse(_)) {
            k += 1;
            assert!(k < 20, "drift never counted");
        }
        assert_eq!(
            g.decide(&frame(k), t),
            Decision::Infer(InferReason::Changed)
        );
    }

    #[test]
    fn clock_going_backwards_infers_and_reset_forgets() {
        let t0 = Timestamp::from_unix_secs(1_000_000);
        let mut g: SkipGate<u8> = SkipGate::new(RULE);
        g.record(s(1), t0, 1);
        assert_eq!(
            g.decide(&s(1), Timestamp::from_unix_secs(999_000)),
            Decision::Infer(InferReason::Backwards)
        );
        g.reset();
        assert_eq!(g.decide(&s(1), t0), Decision::Infer(InferReason::First));
    }
}
