//! Compares a live frame with the camera's reference frame to tell a camera that has moved, been
//! covered or lost focus, while letting ordinary change pass (bags come and go in the bins, the
//! light drifts through the day).
//!
//! Everything runs on a greyscale copy downscaled to [`CompareConfig::analysis_width`] (320 px):
//! - global shift: phase correlation (own radix-2 FFT, Hann window, low-pass weighted cross-power
//!   spectrum, sub-pixel peak), reported in original pixels and as a fraction of the width, with a
//!   confidence (the height of the correlation peak: 1.0 for identical frames, ~0.01 for unrelated);
//! - coverage: fraction of the reference's textured blocks (16x16 px at 320) that lost their texture
//!   (std < 25% of the reference's) or went dark;
//! - sharpness: (variance of the Laplacian / variance of the image), live over reference, which is
//!   insensitive to a brightness gain;
//! - per-region SSIM (7x7 box windows) on each bin's area, and the frame's SSIM, reported only:
//!   bins change legitimately, so no verdict rests on one region.
//!
//! Verdict priority: Covered, then Moved, then Unrecognised, then Defocused, else Ok.

use std::f64::consts::PI;
use std::fmt;

use image::RgbImage;

use super::error::CalibrateError;
use super::region::{Outline, Point, contains};

/// Thresholds and parameters of the comparison. Defaults are justified by the measurements on the
/// montevideo scenes recorded in INTEGRATION.md.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// Width of the greyscale analysis copy (the height keeps the aspect ratio).
    pub analysis_width: u32,
    /// A shift at least this large (fraction of the frame width, either axis) means "moved".
    pub moved_min_shift: f64,
    /// ... provided the correlation peak is at least this high. Below it the shift estimate is
    /// noise, and the view is "unrecognised" if the background SSIM is low too.
    pub moved_min_confidence: f64,
    /// With a peak below `moved_min_confidence`, an SSIM outside the bins below this means the
    /// view no longer matches the reference at any shift (camera turned far, rotated, zoomed).
    /// A bin whose contents changed lowers the peak but leaves the background intact.
    pub unrecognised_max_ssim: f64,
    /// Fraction of the reference's textured blocks that became flat or dark, from which on the
    /// camera counts as covered.
    pub covered_min_fraction: f64,
    /// A reference block (16x16 px at 320) counts as textured when its std is at least this (0..255).
    pub texture_min_std: f64,
    /// A textured block has lost its texture when its live std falls below this fraction of the
    /// reference's.
    pub texture_lost_ratio: f64,
    /// A block is dark when its mean is below this (0..255) and the reference's was at least twice it.
    pub dark_level: f64,
    /// A sharpness ratio (live / reference) below this means "defocused".
    pub defocus_max_sharpness_ratio: f64,
    /// A reference whose own sharpness (at analysis resolution) is below this has too little fine
    /// detail for the focus check to mean much (an upscaled or already blurry frame); the
    /// comparison says so, and `calibrate snapshot` should warn.
    pub min_reference_sharpness: f64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            analysis_width: 320,
            moved_min_shift: 0.02,
            moved_min_confidence: 0.15,
            unrecognised_max_ssim: 0.6,
            covered_min_fraction: 0.30,
            texture_min_std: 4.0,
            texture_lost_ratio: 0.25,
            dark_level: 16.0,
            defocus_max_sharpness_ratio: 0.55,
            min_reference_sharpness: 0.01,
        }
    }
}

/// What the comparison concludes about the camera.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Same view, in focus, not covered.
    Ok,
    /// The view shifted by (`dx`, `dy`) pixels of the original frame (positive: the scene moved
    /// right / down in the live frame, i.e. the camera turned left / up).
    Moved { dx: f64, dy: f64 },
    /// A large part of the frame went flat or dark (lens covered, tape, bag, dead sensor, night
    /// without light).
    Covered,
    /// The frame lost its fine detail (focus, condensation, dirt on the lens).
    Defocused,
    /// The live frame does not match the reference at any shift (camera turned a lot, rotated,
    /// zoomed, or replaced).
    Unrecognised,
}

impl Verdict {
    /// Whether the camera passes (the daemon emits `camera.moved` otherwise).
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("ok"),
            Verdict::Moved { dx, dy } => write!(f, "moved (dx={dx:+.1} px, dy={dy:+.1} px)"),
            Verdict::Covered => f.write_str("covered"),
            Verdict::Defocused => f.write_str("defocused"),
            Verdict::Unrecognised => f.write_str("unrecognised view"),
        }
    }
}

/// Global shift between reference and live frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Pixels of the original (reference) frame; positive = scene moved right in the live frame.
    pub dx: f64,
    /// Pixels of the original frame; positive = scene moved down.
    pub dy: f64,
    /// `dx` as a fraction of the frame width.
    pub dx_frac: f64,
    /// `dy` as a fraction of the frame height.
    pub dy_frac: f64,
    /// Height of the phase-correlation peak (1.0 identical, ~0.01 unrelated frames).
    pub confidence: f64,
}

/// Structural similarity of one bin's area.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionSimilarity {
    pub bin: String,
    /// Mean SSIM over the region's pixels at analysis resolution (1.0 = identical).
    pub ssim: f64,
}

/// Everything measured, the verdict and a human-readable explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub camera: String,
    pub shift: Shift,
    /// (Laplacian variance / image variance) of the live frame over that of the reference, outside
    /// the bins: the lowest over the scales in `sharpness_ratios`.
    pub sharpness_ratio: f64,
    /// (analysis width in px, ratio) at half, full and twice the analysis resolution.
    pub sharpness_ratios: Vec<(usize, f64)>,
    /// Fraction of the reference's textured blocks that went flat or dark.
    pub covered_fraction: f64,
    /// False when the reference itself has too little fine detail for the sharpness ratio to
    /// reveal a defocus.
    pub focus_check_reliable: bool,
    /// Mean brightness live / reference.
    pub brightness_ratio: f64,
    /// SSIM over the whole frame.
    pub frame_ssim: f64,
    /// SSIM outside every bin (the whole frame if the bins leave too little).
    pub background_ssim: f64,
    pub regions: Vec<RegionSimilarity>,
    pub verdict: Verdict,
    /// One line per measured value, and why the verdict was reached.
    pub explanation: String,
}

/// A greyscale image with `f32` samples on a 0..255 scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Grey {
    /// Rec. 601 luma of an RGB image at full resolution.
    pub fn from_rgb(img: &RgbImage) -> Self {
        let data = img
            .pixels()
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect();
        Self {
            width: img.width() as usize,
            height: img.height() as usize,
            data,
        }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Area-averaging resample to `ow` x `oh` (each output pixel is the mean of its footprint).
    pub fn resize_area(&self, ow: usize, oh: usize) -> Grey {
        let wx = area_weights(self.width, ow);
        let wy = area_weights(self.height, oh);
        let mut tmp = vec![0f32; ow * self.height];
        for y in 0..self.height {
            let row = &self.data[y * self.width..(y + 1) * self.width];
            for (ox, (start, ws)) in wx.iter().enumerate() {
                let s: f32 = ws.iter().enumerate().map(|(k, w)| w * row[start + k]).sum();
                tmp[y * ow + ox] = s;
            }
        }
        let mut out = vec![0f32; ow * oh];
        for (oy, (start, ws)) in wy.iter().enumerate() {
            for (k, w) in ws.iter().enumerate() {
                let src = &tmp[(start + k) * ow..(start + k + 1) * ow];
                let dst = &mut out[oy * ow..(oy + 1) * ow];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += w * s;
                }
            }
        }
        Grey {
            width: ow,
            height: oh,
            data: out,
        }
    }

    fn mean(&self) -> f64 {
        self.data.iter().map(|&v| f64::from(v)).sum::<f64>() / self.data.len() as f64
    }
}

/// For each output sample: the first input index and the normalised weights of its footprint.
fn area_weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (a, b) = (o as f64 * scale, (o as f64 + 1.0) * scale);
            let start = a.floor() as usize;
            let end = (b.ceil() as usize).min(n_in).max(start + 1);
            let mut ws: Vec<f32> = (start..end)
                .map(|i| {
                    let lo = a.max(i as f64);
                    let hi = b.min(i as f64 + 1.0);
                    (hi - lo).max(0.0) as f32
                })
                .collect();
            let sum: f32 = ws.iter().sum();
            if sum > 0.0 {
                ws.iter_mut().for_each(|w| *w /= sum);
            } else {
                ws = vec![1.0];
            }
            (start.min(n_in - 1), ws)
        })
        .collect()
}

/// Smallest frame side the comparison accepts.
const MIN_SIDE: u32 = 32;
/// Side of the coverage blocks at analysis resolution.
const BLOCK: usize = 16;
/// Least fraction of the frame outside the bins for the background-only measures.
const MIN_BACKGROUND: f64 = 0.2;

/// Size of the fine sharpness copy: twice the analysis size, capped at the frame's own.
fn fine_size(w: u32, h: u32, aw: usize, ah: usize) -> (usize, usize) {
    if (w as usize) >= 2 * aw {
        (2 * aw, 2 * ah)
    } else {
        (w as usize, h as usize)
    }
}

/// `true` for pixels whose centres lie outside every region.
fn background_mask(w: usize, h: usize, regions: &[(String, Outline)]) -> Vec<bool> {
    let polys: Vec<Vec<Point>> = regions
        .iter()
        .map(|(_, r)| {
            r.polygon()
                .iter()
                .map(|p| Point::new(p.x * w as f64, p.y * h as f64))
                .collect()
        })
        .collect();
    let mut m = vec![true; w * h];
    for y in 0..h {
        for x in 0..w {
            let p = Point::new(x as f64 + 0.5, y as f64 + 0.5);
            if polys.iter().any(|poly| contains(poly, p)) {
                m[y * w + x] = false;
            }
        }
    }
    m
}

/// The reference frame, analysed once; compare many live frames against it.
#[derive(Debug, Clone)]
pub struct Reference {
    camera: String,
    orig_w: u32,
    orig_h: u32,
    grey: Grey,
    spectrum: Spectrum,
    blocks: Vec<BlockStat>,
    regions: Vec<(String, Outline)>,
    /// Background (outside every bin) mask at analysis resolution, or all-true when the bins
    /// leave less than [`MIN_BACKGROUND`] of the frame.
    mask: Vec<bool>,
    background_fraction: f64,
    /// Sharpness at half, full and twice the analysis resolution (the last capped at the frame's).
    scales: Vec<SharpScale>,
    config: CompareConfig,
}

/// The reference's sharpness at one resolution, with the background mask used there.
#[derive(Debug, Clone)]
struct SharpScale {
    width: usize,
    height: usize,
    mask: Vec<bool>,
    reference: f64,
}

impl Reference {
    /// Analyses `frame` as `camera`'s reference; `regions` are the camera's bins, whose contents
    /// are expected to change and are left out of the global measures where possible.
    pub fn new<R: Clone + Into<Outline>>(
        camera: &str,
        frame: &RgbImage,
        regions: &[(String, R)],
        config: &CompareConfig,
    ) -> Result<Self, CalibrateError> {
        let regions: Vec<(String, Outline)> = regions
            .iter()
            .map(|(b, r)| (b.clone(), r.clone().into()))
            .collect();
        let regions = regions.as_slice();
        let (w, h) = frame.dimensions();
        if w < MIN_SIDE || h < MIN_SIDE {
            return Err(CalibrateError::FrameTooSmall {
                camera: camera.to_string(),
                what: "reference",
                width: w,
                height: h,
                min: MIN_SIDE,
            });
        }
        let aw = config.analysis_width.clamp(MIN_SIDE, w.max(MIN_SIDE)) as usize;
        let ah =
            ((f64::from(h) * aw as f64 / f64::from(w)).round() as usize).max(MIN_SIDE as usize / 2);
        let full = Grey::from_rgb(frame);
        let grey = full.resize_area(aw, ah);
        let spectrum = Spectrum::of(&grey);
        let blocks = block_stats(&grey);
        let bg = background_mask(aw, ah, regions);
        let background_fraction = bg.iter().filter(|&&b| b).count() as f64 / bg.len() as f64;
        let use_bg = background_fraction >= MIN_BACKGROUND;
        let mask = if use_bg { bg } else { vec![true; aw * ah] };
        let (fw, fh) = fine_size(w, h, aw, ah);
        let scales = [((aw / 2).max(8), (ah / 2).max(8)), (aw, ah), (fw, fh)]
            .into_iter()
            .map(|(sw, sh)| {
                let m = if use_bg {
                    background_mask(sw, sh, regions)
                } else {
                    vec![true; sw * sh]
                };
                let g = if sw == aw {
                    grey.clone()
                } else {
                    full.resize_area(sw, sh)
                };
                SharpScale {
                    width: sw,
                    height: sh,
                    reference: sharpness(&g, &m),
                    mask: m,
                }
            })
            .collect();
        Ok(Self {
            camera: camera.to_string(),
            orig_w: w,
            orig_h: h,
            grey,
            spectrum,
            blocks,
            regions: regions.to_vec(),
            mask,
            background_fraction,
            scales,
            config: config.clone(),
        })
    }

    /// The camera this reference belongs to.
    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The reference's own sharpness (Laplacian variance / image variance outside the bins) at
    /// analysis resolution. Low values mean a frame with little fine detail, where the focus
    /// check has little to lose.
    pub fn sharpness(&self) -> f64 {
        self.scales[1].reference
    }

    /// Whether the reference has enough fine detail for the focus check
    /// ([`CompareConfig::min_reference_sharpness`]).
    pub fn focus_check_reliable(&self) -> bool {
        self.sharpness() >= self.config.min_reference_sharpness
    }

    /// Size of the original reference frame.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.orig_w, self.orig_h)
    }

    /// Compares `live` with the reference.
    pub fn compare(&self, live: &RgbImage) -> Result<Comparison, CalibrateError> {
        let cfg = &self.config;
        let (lw, lh) = live.dimensions();
        if lw < MIN_SIDE || lh < MIN_SIDE {
            return Err(CalibrateError::FrameTooSmall {
                camera: self.camera.clone(),
                what: "live",
                width: lw,
                height: lh,
                min: MIN_SIDE,
            });
        }
        let ref_aspect = f64::from(self.orig_w) / f64::from(self.orig_h);
        let live_aspect = f64::from(lw) / f64::from(lh);
        if (ref_aspect / live_aspect - 1.0).abs() > 0.01 {
            return Err(CalibrateError::FrameMismatch {
                camera: self.camera.clone(),
                live_w: lw,
                live_h: lh,
                ref_w: self.orig_w,
                ref_h: self.orig_h,
            });
        }
        let full = Grey::from_rgb(live);
        let g = full.resize_area(self.grey.width, self.grey.height);

        // Global shift.
        let (sx, sy, confidence) = self.spectrum.correlate(&Spectrum::of(&g));
        let to_orig_x = f64::from(self.orig_w) / self.grey.width as f64;
        let to_orig_y = f64::from(self.orig_h) / self.grey.height as f64;
        let shift = Shift {
            dx: sx * to_orig_x,
            dy: sy * to_orig_y,
            dx_frac: sx / self.grey.width as f64,
            dy_frac: sy / self.grey.height as f64,
            confidence,
        };

        // Coverage.
        let live_blocks = block_stats(&g);
        let textured: Vec<(&BlockStat, &BlockStat)> = self
            .blocks
            .iter()
            .zip(&live_blocks)
            .filter(|(r, _)| r.std >= cfg.texture_min_std)
            .collect();
        // A featureless reference (fog, night): judge every block instead.
        let pairs: Vec<(&BlockStat, &BlockStat)> = if textured.len() * 10 >= self.blocks.len() {
            textured
        } else {
            self.blocks.iter().zip(&live_blocks).collect()
        };
        let dead = pairs
            .iter()
            .filter(|(r, l)| {
                l.std < cfg.texture_lost_ratio * r.std.max(cfg.texture_min_std)
                    || (l.mean < cfg.dark_level && r.mean >= 2.0 * cfg.dark_level)
            })
            .count();
        let covered_fraction = dead as f64 / pairs.len().max(1) as f64;

        let sharpness_ratios: Vec<(usize, f64)> = self
            .scales
            .iter()
            .map(|sc| {
                let live = if sc.width == g.width {
                    g.clone()
                } else {
                    full.resize_area(sc.width, sc.height)
                };
                (
                    sc.width,
                    sharpness(&live, &sc.mask) / sc.reference.max(1e-12),
                )
            })
            .collect();
        let sharpness_ratio = sharpness_ratios
            .iter()
            .map(|r| r.1)
            .fold(f64::INFINITY, f64::min);
        let brightness_ratio = g.mean() / self.grey.mean().max(1e-9);

        let ssim = ssim_map(&self.grey, &g, 3);
        let frame_ssim = ssim.iter().map(|&v| f64::from(v)).sum::<f64>() / ssim.len() as f64;
        let bg_n = self.mask.iter().filter(|&&b| b).count().max(1);
        let background_ssim = ssim
            .iter()
            .zip(&self.mask)
            .filter(|(_, m)| **m)
            .map(|(&v, _)| f64::from(v))
            .sum::<f64>()
            / bg_n as f64;
        let regions: Vec<RegionSimilarity> = self
            .regions
            .iter()
            .map(|(bin, region)| RegionSimilarity {
                bin: bin.clone(),
                ssim: region_mean(&ssim, self.grey.width, self.grey.height, region),
            })
            .collect();

        let shift_frac = shift.dx_frac.abs().max(shift.dy_frac.abs());
        let verdict = if covered_fraction >= cfg.covered_min_fraction {
            Verdict::Covered
        } else if shift_frac >= cfg.moved_min_shift && confidence >= cfg.moved_min_confidence {
            Verdict::Moved {
                dx: shift.dx,
                dy: shift.dy,
            }
        } else if confidence < cfg.moved_min_confidence
            && background_ssim < cfg.unrecognised_max_ssim
        {
            Verdict::Unrecognised
        } else if sharpness_ratio < cfg.defocus_max_sharpness_ratio {
            Verdict::Defocused
        } else {
            Verdict::Ok
        };

        let mut ex = String::new();
        ex.push_str(&format!("camera '{}': {}\n", self.camera, verdict));
        ex.push_str(&format!(
            "  shift: dx={:+.1} px ({:+.1}% of width), dy={:+.1} px ({:+.1}% of height), confidence {:.3} (moved if >= {:.1}% and confidence >= {:.2})\n",
            shift.dx,
            shift.dx_frac * 100.0,
            shift.dy,
            shift.dy_frac * 100.0,
            confidence,
            cfg.moved_min_shift * 100.0,
            cfg.moved_min_confidence,
        ));
        ex.push_str(&format!(
            "  covered: {:.1}% of textured blocks went flat or dark (covered if >= {:.0}%); brightness x{:.2}\n",
            covered_fraction * 100.0,
            cfg.covered_min_fraction * 100.0,
            brightness_ratio
        ));
        ex.push_str(&format!(
            "  sharpness: live/reference {:.2}, the lowest of {} (defocused if < {:.2})\n",
            sharpness_ratio,
            sharpness_ratios
                .iter()
                .map(|(w, r)| format!("{r:.2} at {w} px"))
                .collect::<Vec<_>>()
                .join(", "),
            cfg.defocus_max_sharpness_ratio
        ));
        if !self.focus_check_reliable() {
            ex.push_str(&format!(
                "  note: the reference has little fine detail (sharpness {:.4} < {:.4}): a defocus may go unseen; take a sharper reference\n",
                self.sharpness(), cfg.min_reference_sharpness
            ));
        }
        ex.push_str(&format!(
            "  SSIM: background {background_ssim:.3} ({:.0}% of frame{}; unrecognised if < {:.2} with a confidence below {:.2}), frame {frame_ssim:.3}",
            self.background_fraction * 100.0,
            if self.background_fraction >= MIN_BACKGROUND { "" } else { ", too little: whole frame used" },
            cfg.unrecognised_max_ssim,
            cfg.moved_min_confidence
        ));
        for r in &regions {
            ex.push_str(&format!(", bin '{}' {:.3}", r.bin, r.ssim));
        }
        ex.push_str(" (informational: bins change)\n");

        Ok(Comparison {
            camera: self.camera.clone(),
            shift,
            sharpness_ratio,
            sharpness_ratios,
            focus_check_reliable: self.focus_check_reliable(),
            covered_fraction,
            brightness_ratio,
            frame_ssim,
            background_ssim,
            regions,
            verdict,
            explanation: ex,
        })
    }
}

/// Convenience: analyse `reference` and compare `live` with it in one call.
pub fn compare_frames<R: Clone + Into<Outline>>(
    camera: &str,
    reference: &RgbImage,
    live: &RgbImage,
    regions: &[(String, R)],
    config: &CompareConfig,
) -> Result<Comparison, CalibrateError> {
    Reference::new(camera, reference, regions, config)?.compare(live)
}

// ---------------------------------------------------------------------------------------------
// Coverage blocks and sharpness

#[derive(Debug, Clone, Copy)]
struct BlockStat {
    mean: f64,
    std: f64,
}

fn block_stats(g: &Grey) -> Vec<BlockStat> {
    let bx = g.width.div_ceil(BLOCK);
    let by = g.height.div_ceil(BLOCK);
    let mut out = Vec::with_capacity(bx * by);
    for j in 0..by {
        for i in 0..bx {
            let (x0, y0) = (i * BLOCK, j * BLOCK);
            let (x1, y1) = ((x0 + BLOCK).min(g.width), (y0 + BLOCK).min(g.height));
            let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
            for y in y0..y1 {
                for x in x0..x1 {
                    let v = f64::from(g.at(x, y));
                    s += v;
                    s2 += v * v;
                    n += 1.0;
                }
            }
            let mean = s / n;
            out.push(BlockStat {
                mean,
                std: (s2 / n - mean * mean).max(0.0).sqrt(),
            });
        }
    }
    out
}

/// Variance of the 4-neighbour Laplacian divided by the variance of the image (gain-invariant),
/// over the pixels where `mask` is true.
fn sharpness(g: &Grey, mask: &[bool]) -> f64 {
    let (w, h) = (g.width, g.height);
    let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
    let (mut v, mut v2) = (0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            if !mask[y * w + x] {
                continue;
            }
            let c = f64::from(g.at(x, y));
            let l = f64::from(g.at(x - 1, y) + g.at(x + 1, y) + g.at(x, y - 1) + g.at(x, y + 1))
                - 4.0 * c;
            s += l;
            s2 += l * l;
            v += c;
            v2 += c * c;
            n += 1.0;
        }
    }
    if n < 1.0 {
        return 0.0;
    }
    let var_lap = s2 / n - (s / n).powi(2);
    let var = v2 / n - (v / n).powi(2);
    var_lap / var.max(1e-9)
}

// ---------------------------------------------------------------------------------------------
// SSIM

/// Per-pixel SSIM with (2r+1)^2 box windows (clipped at the borders), constants for 0..255.
fn ssim_map(a: &Grey, b: &Grey, r: usize) -> Vec<f32> {
    let (w, h) = (a.width, a.height);
    let integral = |f: &dyn Fn(usize) -> f64| {
        let mut t = vec![0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0f64;
            for x in 0..w {
                row += f(y * w + x);
                t[(y + 1) * (w + 1) + x + 1] = t[y * (w + 1) + x + 1] + row;
            }
        }
        t
    };
    let sa = integral(&|i| f64::from(a.data[i]));
    let sb = integral(&|i| f64::from(b.data[i]));
    let saa = integral(&|i| f64::from(a.data[i]).powi(2));
    let sbb = integral(&|i| f64::from(b.data[i]).powi(2));
    let sab = integral(&|i| f64::from(a.data[i]) * f64::from(b.data[i]));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let n = ((x1 - x0) * (y1 - y0)) as f64;
            let sum = |t: &[f64]| {
                t[y1 * (w + 1) + x1] - t[y0 * (w + 1) + x1] - t[y1 * (w + 1) + x0]
                    + t[y0 * (w + 1) + x0]
            };
            let (ma, mb) = (sum(&sa) / n, sum(&sb) / n);
            let va = (sum(&saa) / n - ma * ma).max(0.0);
            let vb = (sum(&sbb) / n - mb * mb).max(0.0);
            let cov = sum(&sab) / n - ma * mb;
            let s = ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            out[y * w + x] = s as f32;
        }
    }
    out
}

/// Mean of `map` over the pixels whose centres lie inside `region` (NaN if none do).
fn region_mean(map: &[f32], w: usize, h: usize, region: &Outline) -> f64 {
    let poly: Vec<Point> = region
        .polygon()
        .iter()
        .map(|p| Point::new(p.x * w as f64, p.y * h as f64))
        .collect();
    let b = region.bbox();
    let x0 = ((b[0] * w as f64).floor().max(0.0) as usize).min(w);
    let x1 = ((b[2] * w as f64).ceil().max(0.0) as usize).min(w);
    let y0 = ((b[1] * h as f64).floor().max(0.0) as usize).min(h);
    let y1 = ((b[3] * h as f64).ceil().max(0.0) as usize).min(h);
    let (mut s, mut n) = (0f64, 0usize);
    for y in y0..y1 {
        for x in x0..x1 {
            if contains(&poly, Point::new(x as f64 + 0.5, y as f64 + 0.5)) {
                s += f64::from(map[y * w + x]);
                n += 1;
            }
        }
    }
    if n == 0 { f64::NAN } else { s / n as f64 }
}

// ---------------------------------------------------------------------------------------------
// Phase correlation

/// Windowed, zero-padded 2-D spectrum of an analysis image.
#[derive(Debug, Clone)]
struct Spectrum {
    /// Padded size (powers of two).
    pw: usize,
    ph: usize,
    re: Vec<f64>,
    im: Vec<f64>,
}

impl Spectrum {
    fn of(g: &Grey) -> Self {
        let (w, h) = (g.width, g.height);
        let (pw, ph) = (w.next_power_of_two(), h.next_power_of_two());
        let mean = g.mean();
        let hann = |i: usize, n: usize| 0.5 - 0.5 * (2.0 * PI * (i as f64 + 0.5) / n as f64).cos();
        let wx: Vec<f64> = (0..w).map(|i| hann(i, w)).collect();
        let wy: Vec<f64> = (0..h).map(|i| hann(i, h)).collect();
        let mut re = vec![0f64; pw * ph];
        let im = vec![0f64; pw * ph];
        for y in 0..h {
            for x in 0..w {
                re[y * pw + x] = (f64::from(g.at(x, y)) - mean) * wx[x] * wy[y];
            }
        }
        let mut s = Spectrum { pw, ph, re, im };
        s.fft2(false);
        s
    }

    /// Phase correlation of `self` (reference) with `live`: (dx, dy, peak) in analysis pixels,
    /// positive when the live content sits right / below of the reference's.
    fn correlate(&self, live: &Spectrum) -> (f64, f64, f64) {
        let (pw, ph) = (self.pw, self.ph);
        let mut out = Spectrum {
            pw,
            ph,
            re: vec![0f64; pw * ph],
            im: vec![0f64; pw * ph],
        };
        // Gaussian low-pass on the normalised cross-power spectrum: the finest frequencies carry
        // mostly noise and JPEG artefacts, and weighting them down gives a smoother, steadier peak.
        let sigma = 0.18; // cycles per pixel
        let freq = |k: usize, n: usize| {
            let k = if k <= n / 2 {
                k as f64
            } else {
                k as f64 - n as f64
            };
            k / n as f64
        };
        let mut wsum = 0f64;
        for v in 0..ph {
            let fy = freq(v, ph);
            for u in 0..pw {
                let fx = freq(u, pw);
                let i = v * pw + u;
                // live * conj(ref)
                let (a, b) = (live.re[i], live.im[i]);
                let (c, d) = (self.re[i], -self.im[i]);
                let (cr, ci) = (a * c - b * d, a * d + b * c);
                let mag = (cr * cr + ci * ci).sqrt();
                let wgt = (-(fx * fx + fy * fy) / (2.0 * sigma * sigma)).exp();
                wsum += wgt;
                if mag > 1e-12 {
                    out.re[i] = wgt * cr / mag;
                    out.im[i] = wgt * ci / mag;
                }
            }
        }
        out.fft2(true);
        // Peak (the inverse transform is unnormalised: divide by the weight sum so identical frames give 1).
        let (mut best, mut bi) = (f64::MIN, 0usize);
        for (i, &v) in out.re.iter().enumerate() {
            if v > best {
                best = v;
                bi = i;
            }
        }
        let (px, py) = (bi % pw, bi / pw);
        let at = |x: isize, y: isize| {
            let xx = x.rem_euclid(pw as isize) as usize;
            let yy = y.rem_euclid(ph as isize) as usize;
            out.re[yy * pw + xx]
        };
        let parabola = |m: f64, c: f64, p: f64| {
            let den = m - 2.0 * c + p;
            if den.abs() < 1e-12 {
                0.0
            } else {
                (0.5 * (m - p) / den).clamp(-0.5, 0.5)
            }
        };
        let (ix, iy) = (px as isize, py as isize);
        let ox = parabola(at(ix - 1, iy), best, at(ix + 1, iy));
        let oy = parabola(at(ix, iy - 1), best, at(ix, iy + 1));
        let signed = |p: usize, n: usize| {
            if p > n / 2 {
                p as f64 - n as f64
            } else {
                p as f64
            }
        };
        (signed(px, pw) + ox, signed(py, ph) + oy, best / wsum)
    }

    fn fft2(&mut self, inverse: bool) {
        let (pw, ph) = (self.pw, self.ph);
        for y in 0..ph {
            let r = y * pw..(y + 1) * pw;
            fft(&mut self.re[r.clone()], &mut self.im[r], inverse);
        }
        let (mut cr, mut ci) = (vec![0f64; ph], vec![0f64; ph]);
        for x in 0..pw {
            for y in 0..ph {
                cr[y] = self.re[y * pw + x];
                ci[y] = self.im[y * pw + x];
            }
            fft(&mut cr, &mut ci, inverse);
            for y in 0..ph {
                self.re[y * pw + x] = cr[y];
                self.im[y * pw + x] = ci[y];
            }
        }
    }
}

/// In-place iterative radix-2 complex FFT (unnormalised both ways); `re.len()` must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * 2.0 * PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let (tr, ti) = (re[b] * cr - im[b] * ci, re[b] * ci + im[b] * cr);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A deterministic textured test card (no photos needed for unit tests).
    fn card(w: u32, h: u32, ox: f64, oy: f64) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f64 - ox, y as f64 - oy);
            let v = 128.0
                + 50.0 * (fx * 0.07).sin() * (fy * 0.05).cos()
                + 40.0 * ((fx * 0.013 + fy * 0.021).sin())
                + 30.0 * (((fx * 0.31).sin() * (fy * 0.27).sin()) > 0.3) as u8 as f64;
            let v = v.clamp(0.0, 255.0) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn fft_roundtrip() {
        let mut re: Vec<f64> = (0..16).map(|i| (i as f64 * 0.7).sin()).collect();
        let orig = re.clone();
        let mut im = vec![0.0; 16];
        fft(&mut re, &mut im, false);
        fft(&mut re, &mut im, true);
        for (a, b) in re.iter().zip(&orig) {
            assert!((a / 16.0 - b).abs() < 1e-9);
        }
    }

    #[test]
    fn identical_frames_pass_with_full_confidence() {
        let img = card(640, 480, 0.0, 0.0);
        let c =
            compare_frames::<Outline>("cam", &img, &img, &[], &CompareConfig::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Ok, "{}", c.explanation);
        assert!(c.shift.confidence > 0.99, "{}", c.explanation);
        assert!((c.frame_ssim - 1.0).abs() < 1e-6);
    }

    #[test]
    fn shifted_card_is_moved_with_the_right_sign() {
        let a = card(640, 480, 0.0, 0.0);
        let b = card(640, 480, 32.0, -20.0);
        let c = compare_frames::<Outline>("cam", &a, &b, &[], &CompareConfig::default()).unwrap();
        match c.verdict {
            Verdict::Moved { dx, dy } => {
                assert!((dx - 32.0).abs() < 2.0, "{}", c.explanation);
                assert!((dy + 20.0).abs() < 2.0, "{}", c.explanation);
            }
            v => panic!("expected moved, got {v}: {}", c.explanation),
        }
    }

    #[test]
    fn mismatched_aspect_is_an_error_naming_the_camera() {
        let a = card(640, 480, 0.0, 0.0);
        let b = card(640, 360, 0.0, 0.0);
        let e = compare_frames::<Outline>("north-gate", &a, &b, &[], &CompareConfig::default())
            .unwrap_err();
        assert!(e.to_string().contains("camera 'north-gate'"), "{e}");
    }

    #[test]
    fn area_resize_preserves_mean() {
        let g = Grey::from_rgb(&card(601, 403, 0.0, 0.0));
        let s = g.resize_area(320, 215);
        assert!(
            (g.mean() - s.mean()).abs() < 0.05,
            "{} vs {}",
            g.mean(),
            s.mean()
        );
    }
}
