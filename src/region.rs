//! Bin regions and the resampling that turns a region of a decoded frame into the model's input tensor.
//!
//! Regions live in normalised 0..1 image coordinates so that they survive a change of camera resolution:
//! a rectangle `[x0, y0, x1, y1]`, or a 4-point quad (clockwise from top-left) that is rectified by
//! perspective. The `stretch-triangle` preprocessing of `models/CONTRACT.md` is implemented here: a separable
//! triangle filter (antialiased when shrinking) over the continuous box, written straight from the frame's
//! RGB bytes into an NCHW `f32` slice, with the per-axis weight tables computed once per (region, frame size).

use image::RgbImage;
use thiserror::Error;

/// A problem with a region's coordinates.
#[derive(Debug, Error, PartialEq)]
pub enum RegionError {
    #[error("region {region}: coordinate {value} is not a finite number in 0..1")]
    OutOfRange { region: String, value: f64 },
    #[error("region {region}: x0 ({x0}) must be less than x1 ({x1})")]
    EmptyWidth { region: String, x0: f64, x1: f64 },
    #[error("region {region}: y0 ({y0}) must be less than y1 ({y1})")]
    EmptyHeight { region: String, y0: f64, y1: f64 },
    #[error("quad {region}: {reason}")]
    BadQuad { region: String, reason: String },
    #[error("margin {0} must be a finite number >= 0")]
    BadMargin(f64),
    #[error("{0:?} is not a region: expected 4 numbers x0,y0,x1,y1")]
    BadRectText(String),
    #[error("{0:?} is not a quad: expected 8 numbers x1,y1,...,x4,y4")]
    BadQuadText(String),
}

/// An axis-aligned box in normalised coordinates, `x0 < x1`, `y0 < y1`, all in 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

/// Four corners in normalised coordinates, clockwise from top-left (top-left, top-right, bottom-right,
/// bottom-left), forming a convex, non-degenerate quadrilateral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quad {
    pub points: [[f64; 2]; 4],
}

/// A bin's region in a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    Rect(Rect),
    Quad(Quad),
}

fn fmt_list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!("[{}]", parts.join(", "))
}

fn check_unit(region: &str, v: f64) -> Result<(), RegionError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(RegionError::OutOfRange {
            region: region.to_string(),
            value: v,
        })
    }
}

fn check_margin(m: f64) -> Result<(), RegionError> {
    if m.is_finite() && m >= 0.0 {
        Ok(())
    } else {
        Err(RegionError::BadMargin(m))
    }
}

fn parse_numbers(text: &str) -> Option<Vec<f64>> {
    text.split(',')
        .map(|p| p.trim().parse::<f64>().ok())
        .collect()
}

impl Rect {
    /// The whole image.
    pub const FULL: Rect = Rect {
        x0: 0.0,
        y0: 0.0,
        x1: 1.0,
        y1: 1.0,
    };

    /// A checked rectangle.
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Result<Rect, RegionError> {
        let name = fmt_list(&[x0, y0, x1, y1]);
        for v in [x0, y0, x1, y1] {
            check_unit(&name, v)?;
        }
        if x0 >= x1 {
            return Err(RegionError::EmptyWidth {
                region: name,
                x0,
                x1,
            });
        }
        if y0 >= y1 {
            return Err(RegionError::EmptyHeight {
                region: name,
                y0,
                y1,
            });
        }
        Ok(Rect { x0, y0, x1, y1 })
    }

    /// From `[x0, y0, x1, y1]`.
    pub fn from_array(a: [f64; 4]) -> Result<Rect, RegionError> {
        Rect::new(a[0], a[1], a[2], a[3])
    }

    /// Parses `x0,y0,x1,y1`.
    pub fn parse(text: &str) -> Result<Rect, RegionError> {
        match parse_numbers(text).as_deref() {
            Some([x0, y0, x1, y1]) => Rect::new(*x0, *y0, *x1, *y1),
            _ => Err(RegionError::BadRectText(text.to_string())),
        }
    }

    /// Widens the box by `margin * width` left and right and `margin * height` top and bottom, clipped to 0..1.
    pub fn with_margin(&self, margin: f64) -> Result<Rect, RegionError> {
        check_margin(margin)?;
        let dx = margin * (self.x1 - self.x0);
        let dy = margin * (self.y1 - self.y0);
        Ok(Rect {
            x0: (self.x0 - dx).max(0.0),
            y0: (self.y0 - dy).max(0.0),
            x1: (self.x1 + dx).min(1.0),
            y1: (self.y1 + dy).min(1.0),
        })
    }

    pub fn to_array(&self) -> [f64; 4] {
        [self.x0, self.y0, self.x1, self.y1]
    }
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

impl Quad {
    /// Smallest area (as a fraction of the image) a quad may have.
    pub const MIN_AREA: f64 = 1e-6;

    /// A checked quad: coordinates in 0..1, convex, clockwise from top-left, not degenerate.
    pub fn new(points: [[f64; 2]; 4]) -> Result<Quad, RegionError> {
        let name = fmt_list(&points.iter().flatten().copied().collect::<Vec<_>>());
        for v in points.iter().flatten() {
            check_unit(&name, *v)?;
        }
        let bad = |reason: &str| RegionError::BadQuad {
            region: name.clone(),
            reason: reason.to_string(),
        };
        // Shoelace area; with y pointing down, clockwise on screen gives a positive sum.
        let mut area2 = 0.0;
        for i in 0..4 {
            let [x0, y0] = points[i];
            let [x1, y1] = points[(i + 1) % 4];
            area2 += x0 * y1 - x1 * y0;
        }
        let crosses: Vec<f64> = (0..4)
            .map(|i| cross(points[i], points[(i + 1) % 4], points[(i + 2) % 4]))
            .collect();
        let degenerate = || bad("degenerate: the four points enclose (almost) no area");
        if crosses.iter().all(|c| c.abs() < 2.0 * Self::MIN_AREA) {
            return Err(degenerate());
        }
        // Every turn must go the same way: otherwise the quad is concave or self-intersecting.
        let first_sign = crosses
            .iter()
            .find(|c| c.abs() >= 2.0 * Self::MIN_AREA)
            .copied()
            .unwrap_or(0.0);
        if crosses.iter().any(|c| c * first_sign <= 0.0) {
            return Err(bad(
                "self-intersecting, concave or collinear: give 4 corners of a convex shape in order",
            ));
        }
        if area2.abs() / 2.0 < Self::MIN_AREA {
            return Err(degenerate());
        }
        if area2 < 0.0 {
            return Err(bad(
                "points go counter-clockwise: give them clockwise from top-left",
            ));
        }
        // The first point must be the top-left one (the smallest x + y).
        let first = (0..4)
            .min_by(|&a, &b| {
                let sa = points[a][0] + points[a][1];
                let sb = points[b][0] + points[b][1];
                sa.total_cmp(&sb)
            })
            .unwrap_or(0);
        if first != 0 {
            return Err(bad("the first point must be the top-left corner"));
        }
        Ok(Quad { points })
    }

    /// Parses `x1,y1,x2,y2,x3,y3,x4,y4`.
    pub fn parse(text: &str) -> Result<Quad, RegionError> {
        match parse_numbers(text).as_deref() {
            Some(&[a, b, c, d, e, f, g, h]) => Quad::new([[a, b], [c, d], [e, f], [g, h]]),
            _ => Err(RegionError::BadQuadText(text.to_string())),
        }
    }

    /// Scales the quad about its centroid by `1 + 2 * margin` (the same widening a rectangle gets), each
    /// point clipped to 0..1.
    pub fn with_margin(&self, margin: f64) -> Result<Quad, RegionError> {
        check_margin(margin)?;
        let cx = self.points.iter().map(|p| p[0]).sum::<f64>() / 4.0;
        let cy = self.points.iter().map(|p| p[1]).sum::<f64>() / 4.0;
        let k = 1.0 + 2.0 * margin;
        let points = self.points.map(|[x, y]| {
            [
                (cx + (x - cx) * k).clamp(0.0, 1.0),
                (cy + (y - cy) * k).clamp(0.0, 1.0),
            ]
        });
        Ok(Quad { points })
    }

    /// The enclosing rectangle.
    pub fn bounds(&self) -> [f64; 4] {
        let xs = self.points.map(|p| p[0]);
        let ys = self.points.map(|p| p[1]);
        let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        [min(xs), min(ys), max(xs), max(ys)]
    }
}

impl Region {
    pub fn with_margin(&self, margin: f64) -> Result<Region, RegionError> {
        Ok(match self {
            Region::Rect(r) => Region::Rect(r.with_margin(margin)?),
            Region::Quad(q) => Region::Quad(q.with_margin(margin)?),
        })
    }

    /// The coordinates as a flat list (4 for a rectangle, 8 for a quad), for reports.
    pub fn coords(&self) -> Vec<f64> {
        match self {
            Region::Rect(r) => r.to_array().to_vec(),
            Region::Quad(q) => q.points.iter().flatten().copied().collect(),
        }
    }
}

/// Per-channel affine map applied to each resampled 0..255 value: `v * scale[c] + bias[c]`.
/// `1/255, 0` gives the contract's 0..1 range; a runtime normalisation folds `(x - mean) / std` in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMap {
    pub scale: [f32; 3],
    pub bias: [f32; 3],
}

impl PixelMap {
    /// `byte / 255`.
    pub const UNIT: PixelMap = PixelMap {
        scale: [1.0 / 255.0; 3],
        bias: [0.0; 3],
    };

    /// `(byte / 255 - mean) / std`.
    pub fn normalized(mean: [f32; 3], std: [f32; 3]) -> PixelMap {
        PixelMap {
            scale: [0, 1, 2].map(|c| 1.0 / (255.0 * std[c])),
            bias: [0, 1, 2].map(|c| -mean[c] / std[c]),
        }
    }
}

/// Triangle-filter weights for one axis: output index `i` reads source pixels `start[i]..start[i]+len[i]`
/// with `weights[offset[i]..]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisWeights {
    pub start: Vec<usize>,
    pub len: Vec<usize>,
    pub offset: Vec<usize>,
    pub weights: Vec<f32>,
}

impl AxisWeights {
    /// Weights resampling the continuous span `[lo, hi]` of an axis of `n` source pixels to `out` samples,
    /// exactly as `models/CONTRACT.md` step 4 says.
    pub fn new(n: usize, lo: f64, hi: f64, out: usize) -> AxisWeights {
        assert!(
            n > 0 && out > 0,
            "resampling needs a non-empty source and output"
        );
        let scale = (hi - lo) / out as f64;
        let support = scale.max(1.0);
        let mut w = AxisWeights {
            start: Vec::with_capacity(out),
            len: Vec::with_capacity(out),
            offset: Vec::with_capacity(out),
            weights: Vec::with_capacity(out * (2 * support.ceil() as usize + 2)),
        };
        let last = (n - 1) as f64;
        for i in 0..out {
            let center = lo + (i as f64 + 0.5) * scale;
            // j + 0.5 strictly inside (center - support, center + support)
            let first = (center - support - 0.5).floor().clamp(0.0, last) as usize;
            let end = (center + support - 0.5).ceil().clamp(0.0, last) as usize;
            let offset = w.weights.len();
            let mut sum = 0.0f64;
            let mut tmp: Vec<(usize, f64)> = Vec::new();
            for j in first..=end {
                let d = (j as f64 + 0.5 - center).abs();
                if d < support {
                    let wt = 1.0 - d / support;
                    if wt > 0.0 {
                        tmp.push((j, wt));
                        sum += wt;
                    }
                }
            }
            if sum <= 0.0 || tmp.is_empty() {
                let j = center.floor().clamp(0.0, last) as usize;
                w.start.push(j);
                w.len.push(1);
                w.offset.push(offset);
                w.weights.push(1.0);
                continue;
            }
            let s = tmp[0].0;
            let e = tmp[tmp.len() - 1].0;
            w.start.push(s);
            w.len.push(e - s + 1);
            w.offset.push(offset);
            let mut k = 0;
            for j in s..=e {
                if k < tmp.len() && tmp[k].0 == j {
                    w.weights.push((tmp[k].1 / sum) as f32);
                    k += 1;
                } else {
                    w.weights.push(0.0);
                }
            }
        }
        w
    }

    pub fn out_len(&self) -> usize {
        self.start.len()
    }

    /// The range of source indices any output touches.
    fn source_span(&self) -> (usize, usize) {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self
            .start
            .iter()
            .zip(&self.len)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(0);
        (lo, hi)
    }

    #[inline]
    fn taps(&self, i: usize) -> (usize, &[f32]) {
        let o = self.offset[i];
        (self.start[i], &self.weights[o..o + self.len[i]])
    }
}

/// Separable resampling of an interleaved RGB `f32`/`u8` source into a planar (CHW) destination.
/// Rows first: the horizontal pass runs only over the source rows the vertical weights touch.
fn resample_into<S: Copy + Into<f32>>(
    src: &[S],
    src_w: usize,
    xw: &AxisWeights,
    yw: &AxisWeights,
    map: &PixelMap,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let ow = xw.out_len();
    let oh = yw.out_len();
    assert_eq!(out.len(), 3 * ow * oh, "tensor slice has the wrong size");
    let (r0, r1) = yw.source_span();
    let rows = r1 - r0;
    scratch.clear();
    scratch.resize(rows * ow * 3, 0.0);
    for (ri, row_out) in scratch.chunks_exact_mut(ow * 3).enumerate() {
        let row = &src[(r0 + ri) * src_w * 3..(r0 + ri + 1) * src_w * 3];
        for (i, px) in row_out.chunks_exact_mut(3).enumerate() {
            let (s, w) = xw.taps(i);
            let (mut r, mut g, mut b) = (0.0f32, 0.0f32, 0.0f32);
            for (k, &wt) in w.iter().enumerate() {
                let p = &row[(s + k) * 3..(s + k) * 3 + 3];
                r += wt * p[0].into();
                g += wt * p[1].into();
                b += wt * p[2].into();
            }
            px[0] = r;
            px[1] = g;
            px[2] = b;
        }
    }
    let plane = ow * oh;
    for j in 0..oh {
        let (s, w) = yw.taps(j);
        for i in 0..ow {
            let mut acc = [0.0f32; 3];
            for (k, &wt) in w.iter().enumerate() {
                let p = &scratch[((s - r0 + k) * ow + i) * 3..][..3];
                acc[0] += wt * p[0];
                acc[1] += wt * p[1];
                acc[2] += wt * p[2];
            }
            for c in 0..3 {
                out[c * plane + j * ow + i] = acc[c] * map.scale[c] + map.bias[c];
            }
        }
    }
}

/// Homography from the unit square (0,0),(1,0),(1,1),(0,1) onto four points.
#[derive(Debug, Clone, Copy)]
struct Homography([f64; 8]);

impl Homography {
    fn unit_square_to(p: [[f64; 2]; 4]) -> Homography {
        let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = p;
        let (dx1, dx2, dx3) = (x1 - x2, x3 - x2, x0 - x1 + x2 - x3);
        let (dy1, dy2, dy3) = (y1 - y2, y3 - y2, y0 - y1 + y2 - y3);
        if dx3.abs() < 1e-12 && dy3.abs() < 1e-12 {
            return Homography([x1 - x0, x3 - x0, x0, y1 - y0, y3 - y0, y0, 0.0, 0.0]);
        }
        let det = dx1 * dy2 - dx2 * dy1;
        let g = (dx3 * dy2 - dx2 * dy3) / det;
        let h = (dx1 * dy3 - dx3 * dy1) / det;
        Homography([
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
        ])
    }

    #[inline]
    fn apply(&self, u: f64, v: f64) -> (f64, f64) {
        let [a, b, c, d, e, f, g, h] = self.0;
        let w = g * u + h * v + 1.0;
        ((a * u + b * v + c) / w, (d * u + e * v + f) / w)
    }
}

/// Largest oversampling factor used before reducing a big quad with the triangle filter.
const MAX_QUAD_OVERSAMPLE: usize = 8;

/// How one region of a frame of a given size becomes `out_w x out_h` tensor values. Build it once per
/// (region, frame size) and reuse it for every frame: the weight tables are the expensive part.
#[derive(Debug, Clone)]
pub struct RegionPlan {
    frame_w: usize,
    frame_h: usize,
    kind: PlanKind,
}

#[derive(Debug, Clone)]
enum PlanKind {
    Rect {
        xw: AxisWeights,
        yw: AxisWeights,
    },
    Quad {
        h: Homography,
        /// Size of the perspective-sampled intermediate (a multiple of the output size).
        mid_w: usize,
        mid_h: usize,
        /// Reduction from the intermediate to the output.
        xw: AxisWeights,
        yw: AxisWeights,
    },
}

impl RegionPlan {
    pub fn new(
        region: &Region,
        frame_w: u32,
        frame_h: u32,
        out_w: usize,
        out_h: usize,
    ) -> RegionPlan {
        let (fw, fh) = (frame_w as usize, frame_h as usize);
        let kind = match region {
            Region::Rect(r) => PlanKind::Rect {
                xw: AxisWeights::new(fw, r.x0 * fw as f64, r.x1 * fw as f64, out_w),
                yw: AxisWeights::new(fh, r.y0 * fh as f64, r.y1 * fh as f64, out_h),
            },
            Region::Quad(q) => {
                let px = q.points.map(|[x, y]| [x * fw as f64, y * fh as f64]);
                let dist = |a: [f64; 2], b: [f64; 2]| {
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
                };
                let across = dist(px[0], px[1]).max(dist(px[3], px[2]));
                let down = dist(px[0], px[3]).max(dist(px[1], px[2]));
                let k = (across / out_w as f64)
                    .max(down / out_h as f64)
                    .ceil()
                    .clamp(1.0, MAX_QUAD_OVERSAMPLE as f64) as usize;
                let (mid_w, mid_h) = (out_w * k, out_h * k);
                PlanKind::Quad {
                    h: Homography::unit_square_to(px),
                    mid_w,
                    mid_h,
                    xw: AxisWeights::new(mid_w, 0.0, mid_w as f64, out_w),
                    yw: AxisWeights::new(mid_h, 0.0, mid_h as f64, out_h),
                }
            }
        };
        RegionPlan {
            frame_w: fw,
            frame_h: fh,
            kind,
        }
    }

    /// Whether this plan was made for a frame of this size.
    pub fn fits(&self, frame: &RgbImage) -> bool {
        frame.width() as usize == self.frame_w && frame.height() as usize == self.frame_h
    }

    /// Writes the region as planar RGB (`3 * out_h * out_w` values, CHW) into `out`. `scratch` is reused
    /// between calls to avoid allocations.
    pub fn write(&self, frame: &RgbImage, map: &PixelMap, out: &mut [f32], scratch: &mut Scratch) {
        assert!(self.fits(frame), "region plan made for another frame size");
        let src = frame.as_raw().as_slice();
        match &self.kind {
            PlanKind::Rect { xw, yw } => {
                resample_into(src, self.frame_w, xw, yw, map, out, &mut scratch.rows)
            }
            PlanKind::Quad {
                h,
                mid_w,
                mid_h,
                xw,
                yw,
            } => {
                let mid = &mut scratch.quad;
                mid.clear();
                mid.resize(mid_w * mid_h * 3, 0.0);
                let (fw, fh) = (self.frame_w, self.frame_h);
                for j in 0..*mid_h {
                    let v = (j as f64 + 0.5) / *mid_h as f64;
                    for i in 0..*mid_w {
                        let u = (i as f64 + 0.5) / *mid_w as f64;
                        let (x, y) = h.apply(u, v);
                        let px = bilinear(src, fw, fh, x - 0.5, y - 0.5);
                        mid[(j * mid_w + i) * 3..][..3].copy_from_slice(&px);
                    }
                }
                resample_into(mid.as_slice(), *mid_w, xw, yw, map, out, &mut scratch.rows);
            }
        }
    }
}

/// Bilinear sample of an interleaved RGB image at index-space position (x, y), edges clamped.
#[inline]
fn bilinear(src: &[u8], w: usize, h: usize, x: f64, y: f64) -> [f32; 3] {
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (xi, yi) = (x.floor() as usize, y.floor() as usize);
    let (xn, yn) = ((xi + 1).min(w - 1), (yi + 1).min(h - 1));
    let (fx, fy) = ((x - xi as f64) as f32, (y - yi as f64) as f32);
    let at = |xx: usize, yy: usize, c: usize| src[(yy * w + xx) * 3 + c] as f32;
    [0, 1, 2].map(|c| {
        let top = at(xi, yi, c) * (1.0 - fx) + at(xn, yi, c) * fx;
        let bot = at(xi, yn, c) * (1.0 - fx) + at(xn, yn, c) * fx;
        top * (1.0 - fy) + bot * fy
    })
}

/// Reusable buffers for [`RegionPlan::write`].
#[derive(Debug, Default)]
pub struct Scratch {
    rows: Vec<f32>,
    quad: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_identity_are_one_hot() {
        let w = AxisWeights::new(5, 0.0, 5.0, 5);
        for i in 0..5 {
            let (s, wt) = w.taps(i);
            let nonzero: Vec<(usize, f32)> = wt
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(k, v)| (s + k, *v))
                .collect();
            assert_eq!(nonzero, vec![(i, 1.0)]);
        }
    }

    #[test]
    fn weights_halving_hand_computed() {
        // 4 -> 2: scale 2, support 2; output 0 centre 1.0: pixels 0 (d .5, w .75), 1 (d .5, w .75),
        // 2 (d 1.5, w .25); pixel -1 is outside the image. Normalised: .75/1.75, .75/1.75, .25/1.75.
        let w = AxisWeights::new(4, 0.0, 4.0, 2);
        let (s, wt) = w.taps(0);
        assert_eq!(s, 0);
        let expect = [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75];
        assert_eq!(wt.len(), 3);
        for (a, b) in wt.iter().zip(expect) {
            assert!((*a as f64 - b).abs() < 1e-7, "{wt:?}");
        }
        let (s, wt) = w.taps(1);
        assert_eq!(s, 1);
        let expect = [0.25 / 1.75, 0.75 / 1.75, 0.75 / 1.75];
        for (a, b) in wt.iter().zip(expect) {
            assert!((*a as f64 - b).abs() < 1e-7, "{wt:?}");
        }
    }

    #[test]
    fn weights_sum_to_one() {
        for (n, lo, hi, out) in [
            (100, 3.3, 77.7, 224),
            (1000, 0.0, 1000.0, 7),
            (10, 9.5, 10.0, 3),
        ] {
            let w = AxisWeights::new(n, lo, hi, out);
            for i in 0..out {
                let s: f32 = w.taps(i).1.iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "output {i} sums to {s}");
            }
        }
    }

    #[test]
    fn homography_maps_corners() {
        let p = [[10.0, 5.0], [90.0, 12.0], [80.0, 70.0], [3.0, 60.0]];
        let h = Homography::unit_square_to(p);
        for (uv, want) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
            .iter()
            .zip(p)
        {
            let (x, y) = h.apply(uv.0, uv.1);
            assert!((x - want[0]).abs() < 1e-9 && (y - want[1]).abs() < 1e-9);
        }
    }
}
