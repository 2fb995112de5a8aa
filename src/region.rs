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
        let mut tmp: Vec<(usize, f64)> = Vec::new();
        for i in 0..out {
            let center = lo + (i as f64 + 0.5) * scale;
            // j + 0.5 strictly inside (center - support, center + support)
            let first = (center - support - 0.5).floor().clamp(0.0, last) as usize;
            let end = (center + support - 0.5).ceil().clamp(0.0, last) as usize;
            let offset = w.weights.len();
            let mut sum = 0.0f64;
            tmp.clear();
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
    pub fn source_span(&self) -> (usize, usize) {
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
    pub fn taps(&self, i: usize) -> (usize, &[f32]) {
        let o = self.offset[i];
        (self.start[i], &self.weights[o..o + self.len[i]])
    }
}

/// A half-open rectangle of pixel indices: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PixelRect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl PixelRect {
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &PixelRect) -> PixelRect {
        PixelRect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    /// Whether `other` lies inside this rectangle.
    pub fn contains(&self, other: &PixelRect) -> bool {
        other.x0 >= self.x0 && other.y0 >= self.y0 && other.x1 <= self.x1 && other.y1 <= self.y1
    }

    /// Widened by `by` pixels on every side, clipped to `0..w` x `0..h`.
    pub fn grown(&self, by: usize, w: usize, h: usize) -> PixelRect {
        PixelRect {
            x0: self.x0.saturating_sub(by),
            y0: self.y0.saturating_sub(by),
            x1: (self.x1 + by).min(w),
            y1: (self.y1 + by).min(h),
        }
    }
}

/// Interleaved 8-bit RGB pixels of a decoded frame, or of a window of it: `data` holds the pixels of
/// `window` (rows `3 * window.width()` bytes apart) of a frame that is `frame_w x frame_h` as decoded.
/// Region coordinates refer to the whole frame; a plan only reads pixels inside its
/// [`RegionPlan::source_rect`], so a window holding that is enough.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    data: &'a [u8],
    frame_w: usize,
    frame_h: usize,
    window: PixelRect,
}

impl<'a> FrameView<'a> {
    /// The whole image.
    pub fn full(img: &'a RgbImage) -> FrameView<'a> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        FrameView {
            data: &img.as_raw()[..w * h * 3],
            frame_w: w,
            frame_h: h,
            window: PixelRect {
                x0: 0,
                y0: 0,
                x1: w,
                y1: h,
            },
        }
    }

    /// A window of a `frame_w x frame_h` frame; `None` when the window is empty, outside the frame, or
    /// `data` is shorter than `3 * width * height` bytes.
    pub fn window(
        data: &'a [u8],
        frame_w: usize,
        frame_h: usize,
        window: PixelRect,
    ) -> Option<FrameView<'a>> {
        let ok = window.x0 < window.x1
            && window.y0 < window.y1
            && window.x1 <= frame_w
            && window.y1 <= frame_h
            && data.len() >= 3 * window.width() * window.height();
        ok.then(|| FrameView {
            data: &data[..3 * window.width() * window.height()],
            frame_w,
            frame_h,
            window,
        })
    }

    /// Size of the whole frame (as decoded).
    pub fn frame_size(&self) -> (usize, usize) {
        (self.frame_w, self.frame_h)
    }

    /// The pixels this view holds.
    pub fn window_rect(&self) -> PixelRect {
        self.window
    }

    /// Interleaved RGB bytes of the window.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// RGB of the frame pixel (x, y), which must be inside the window.
    #[inline]
    fn at(&self, x: usize, y: usize) -> &'a [u8] {
        let i = ((y - self.window.y0) * self.window.width() + (x - self.window.x0)) * 3;
        &self.data[i..i + 3]
    }
}

/// An interleaved RGB source for [`resample_into`]: `data` rows `stride` values apart, holding frame
/// columns from `x0` and rows from `y0`.
struct Source<'a, S> {
    data: &'a [S],
    stride: usize,
    x0: usize,
    y0: usize,
}

/// Separable resampling of an interleaved RGB `f32`/`u8` source into a planar (CHW) destination.
/// Rows first: the horizontal pass runs only over the source rows the vertical weights touch. The sums run
/// over the taps in ascending order, as the contract's reference does.
fn resample_into<S: Copy + Into<f32>>(
    src: Source<'_, S>,
    xw: &AxisWeights,
    yw: &AxisWeights,
    map: &PixelMap,
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    let ow = xw.out_len();
    let oh = yw.out_len();
    assert_eq!(out.len(), 3 * ow * oh, "tensor slice has the wrong size");
    let (r0, r1) = yw.source_span();
    let rows = r1 - r0;
    let line = ow * 3;
    let tmp = &mut scratch.rows;
    tmp.clear();
    tmp.resize(rows * line, 0.0);
    for (ri, row_out) in tmp.chunks_exact_mut(line).enumerate() {
        let row = &src.data[(r0 + ri - src.y0) * src.stride..][..src.stride];
        for (i, px) in row_out.chunks_exact_mut(3).enumerate() {
            let (s, w) = xw.taps(i);
            let seg = &row[(s - src.x0) * 3..(s - src.x0 + w.len()) * 3];
            let (mut r, mut g, mut b) = (0.0f32, 0.0f32, 0.0f32);
            for (p, &wt) in seg.chunks_exact(3).zip(w) {
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
    let acc = &mut scratch.acc;
    acc.clear();
    acc.resize(line, 0.0);
    for j in 0..oh {
        let (s, w) = yw.taps(j);
        acc.fill(0.0);
        for (k, &wt) in w.iter().enumerate() {
            let row = &tmp[(s - r0 + k) * line..][..line];
            for (a, v) in acc.iter_mut().zip(row) {
                *a += wt * v;
            }
        }
        for c in 0..3 {
            let dst = &mut out[c * plane + j * ow..][..ow];
            for (d, px) in dst.iter_mut().zip(acc.chunks_exact(3)) {
                *d = px[c] * map.scale[c] + map.bias[c];
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

    /// The frame size this plan was made for.
    pub fn frame_size(&self) -> (usize, usize) {
        (self.frame_w, self.frame_h)
    }

    /// The frame pixels [`RegionPlan::write_view`] reads: a window holding them is enough.
    pub fn source_rect(&self) -> PixelRect {
        match &self.kind {
            PlanKind::Rect { xw, yw } => {
                let (x0, x1) = xw.source_span();
                let (y0, y1) = yw.source_span();
                PixelRect { x0, y0, x1, y1 }
            }
            PlanKind::Quad { h, .. } => {
                // the bilinear taps of every sample point, clamped to the frame as `bilinear` does
                let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                let mut see = |u: f64, v: f64| {
                    let (x, y) = h.apply(u, v);
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x);
                    y1 = y1.max(y);
                };
                // a homography maps the unit square onto the (convex) quad: its corners bound every sample
                for (u, v) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
                    see(u, v);
                }
                let clamp_lo = |v: f64, n: usize| ((v - 0.5).floor().max(0.0) as usize).min(n - 1);
                let clamp_hi = |v: f64, n: usize| ((v - 0.5).floor().max(0.0) as usize + 2).min(n);
                PixelRect {
                    x0: clamp_lo(x0, self.frame_w),
                    y0: clamp_lo(y0, self.frame_h),
                    x1: clamp_hi(x1, self.frame_w).max(clamp_lo(x0, self.frame_w) + 1),
                    y1: clamp_hi(y1, self.frame_h).max(clamp_lo(y0, self.frame_h) + 1),
                }
            }
        }
    }

    /// Writes the region as planar RGB (`3 * out_h * out_w` values, CHW) into `out`. `scratch` is reused
    /// between calls to avoid allocations.
    pub fn write(&self, frame: &RgbImage, map: &PixelMap, out: &mut [f32], scratch: &mut Scratch) {
        assert!(self.fits(frame), "region plan made for another frame size");
        self.write_view(&FrameView::full(frame), map, out, scratch)
    }

    /// Like [`RegionPlan::write`], from a decoded frame or a window of it that holds
    /// [`RegionPlan::source_rect`]. Panics when the view is of another frame size or misses pixels the
    /// plan reads (a caller's bug, not a property of the data).
    pub fn write_view(
        &self,
        view: &FrameView<'_>,
        map: &PixelMap,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        assert_eq!(
            view.frame_size(),
            (self.frame_w, self.frame_h),
            "region plan made for another frame size"
        );
        assert!(
            view.window.contains(&self.source_rect()),
            "the decoded window {:?} misses pixels of the region {:?}",
            view.window,
            self.source_rect()
        );
        match &self.kind {
            PlanKind::Rect { xw, yw } => resample_into(
                Source {
                    data: view.data,
                    stride: view.window.width() * 3,
                    x0: view.window.x0,
                    y0: view.window.y0,
                },
                xw,
                yw,
                map,
                out,
                scratch,
            ),
            PlanKind::Quad {
                h,
                mid_w,
                mid_h,
                xw,
                yw,
            } => {
                let mut mid = std::mem::take(&mut scratch.quad);
                mid.clear();
                mid.resize(mid_w * mid_h * 3, 0.0);
                for j in 0..*mid_h {
                    let v = (j as f64 + 0.5) / *mid_h as f64;
                    for i in 0..*mid_w {
                        let u = (i as f64 + 0.5) / *mid_w as f64;
                        let (x, y) = h.apply(u, v);
                        let px = bilinear(view, x - 0.5, y - 0.5);
                        mid[(j * mid_w + i) * 3..][..3].copy_from_slice(&px);
                    }
                }
                resample_into(
                    Source {
                        data: mid.as_slice(),
                        stride: mid_w * 3,
                        x0: 0,
                        y0: 0,
                    },
                    xw,
                    yw,
                    map,
                    out,
                    scratch,
                );
                scratch.quad = mid;
            }
        }
    }
}

/// Bilinear sample of a frame at index-space position (x, y), edges clamped to the frame.
#[inline]
fn bilinear(view: &FrameView<'_>, x: f64, y: f64) -> [f32; 3] {
    let (w, h) = (view.frame_w, view.frame_h);
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (xi, yi) = (x.floor() as usize, y.floor() as usize);
    let (xn, yn) = ((xi + 1).min(w - 1), (yi + 1).min(h - 1));
    let (fx, fy) = ((x - xi as f64) as f32, (y - yi as f64) as f32);
    let (a, b, c, d) = (
        view.at(xi, yi),
        view.at(xn, yi),
        view.at(xi, yn),
        view.at(xn, yn),
    );
    [0, 1, 2].map(|k| {
        let top = a[k] as f32 * (1.0 - fx) + b[k] as f32 * fx;
        let bot = c[k] as f32 * (1.0 - fx) + d[k] as f32 * fx;
        top * (1.0 - fy) + bot * fy
    })
}

/// Reusable buffers for [`RegionPlan::write`].
#[derive(Debug, Default)]
pub struct Scratch {
    rows: Vec<f32>,
    acc: Vec<f32>,
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

    fn textured(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                ((x * 7 + y * 3) % 256) as u8,
                ((x * x + y) % 251) as u8,
                ((y * 5) % 256) as u8,
            ])
        })
    }

    /// The pixels of `rect` of `img`, as a window view's bytes.
    fn window_bytes(img: &RgbImage, r: PixelRect) -> Vec<u8> {
        let mut v = Vec::new();
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                v.extend_from_slice(&img.get_pixel(x as u32, y as u32).0);
            }
        }
        v
    }

    #[test]
    fn a_window_holding_the_source_rect_gives_the_same_tensor() {
        let img = textured(300, 200);
        let regions = [
            Region::Rect(Rect::new(0.31, 0.22, 0.74, 0.61).unwrap()),
            Region::Quad(Quad::new([[0.2, 0.3], [0.6, 0.25], [0.7, 0.8], [0.25, 0.7]]).unwrap()),
            Region::Rect(Rect::new(0.0, 0.5, 0.2, 1.0).unwrap()),
        ];
        for r in &regions {
            let plan = RegionPlan::new(r, 300, 200, 32, 24);
            let mut full = vec![0.0f32; 3 * 32 * 24];
            plan.write(&img, &PixelMap::UNIT, &mut full, &mut Scratch::default());
            let src = plan.source_rect();
            assert!(src.width() < 300 || src.height() < 200, "{src:?}");
            let bytes = window_bytes(&img, src);
            let view = FrameView::window(&bytes, 300, 200, src).unwrap();
            let mut part = vec![0.0f32; 3 * 32 * 24];
            plan.write_view(&view, &PixelMap::UNIT, &mut part, &mut Scratch::default());
            assert_eq!(full, part, "{r:?}");
        }
    }

    #[test]
    #[should_panic(expected = "misses pixels")]
    fn a_window_missing_pixels_is_refused() {
        let img = textured(100, 100);
        let plan = RegionPlan::new(
            &Region::Rect(Rect::new(0.1, 0.1, 0.9, 0.9).unwrap()),
            100,
            100,
            16,
            16,
        );
        let small = PixelRect {
            x0: 20,
            y0: 20,
            x1: 80,
            y1: 80,
        };
        let bytes = window_bytes(&img, small);
        let view = FrameView::window(&bytes, 100, 100, small).unwrap();
        let mut out = vec![0.0f32; 3 * 16 * 16];
        plan.write_view(&view, &PixelMap::UNIT, &mut out, &mut Scratch::default());
    }

    #[test]
    fn window_views_check_their_bounds() {
        let r = PixelRect {
            x0: 2,
            y0: 3,
            x1: 6,
            y1: 5,
        };
        assert!(FrameView::window(&[0u8; 24], 10, 10, r).is_some());
        assert!(
            FrameView::window(&[0u8; 23], 10, 10, r).is_none(),
            "short data"
        );
        assert!(FrameView::window(&[0u8; 24], 5, 10, r).is_none(), "outside");
        assert_eq!(
            r.grown(3, 7, 100),
            PixelRect {
                x0: 0,
                y0: 0,
                x1: 7,
                y1: 8
            }
        );
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
