//! Renders the installer's preview PNG: the frame with each bin's outline (thick, one high-contrast
//! colour per bin, with a dark edge so it reads on any background) and its id label, and beside it
//! a column of the bins' crops as the classifier sees them, each with its id and an optional
//! caption such as "full p=0.93".
//!
//! Crops come from a [`CropSource`]; [`ModelCrop`] is the core's resampler, so the thumbnail is
//! exactly the classifier's input (quads rectified, the context margin included).

use std::path::Path;

use image::{Rgb, RgbImage, imageops};

use super::error::CalibrateError;
use super::font::{GLYPH_H, GLYPH_W, pixel};
use super::region::{Outline, Point};
use crate::region::{PixelMap, Region, RegionPlan, Scratch};

/// One bin to show.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewBin {
    pub id: String,
    pub region: Region,
    /// Context margin the classifier adds around the region (the bin's, else the model's
    /// default): the thumbnail shows the widened crop, as the model sees it.
    pub margin: f64,
    /// Extra line under the thumbnail, e.g. "full p=0.93" with `--classify`.
    pub caption: Option<String>,
}

/// Produces the rectified crop of a bin's region, as an RGB image (any size; shown scaled to fit).
pub trait CropSource {
    fn crop(&self, bin: &str, region: &Region) -> Result<RgbImage, CalibrateError>;
}

impl<F> CropSource for F
where
    F: Fn(&str, &Region) -> Result<RgbImage, CalibrateError>,
{
    fn crop(&self, bin: &str, region: &Region) -> Result<RgbImage, CalibrateError> {
        self(bin, region)
    }
}

/// The crop exactly as the classifier sees it: the core's resampler ([`crate::region::RegionPlan`],
/// the model contract's `stretch-triangle`, quads rectified by perspective) into `size` x `size`.
#[derive(Debug, Clone)]
pub struct ModelCrop<'a> {
    pub frame: &'a RgbImage,
    pub size: u32,
}

impl CropSource for ModelCrop<'_> {
    fn crop(&self, _bin: &str, region: &Region) -> Result<RgbImage, CalibrateError> {
        Ok(model_crop(self.frame, region, self.size))
    }
}

/// `region` of `frame` resampled to `size` x `size` RGB by the core's resampler.
pub fn model_crop(frame: &RgbImage, region: &Region, size: u32) -> RgbImage {
    let n = size.max(1) as usize;
    let plan = RegionPlan::new(region, frame.width(), frame.height(), n, n);
    let map = PixelMap {
        scale: [1.0; 3],
        bias: [0.0; 3],
    };
    let mut planar = vec![0.0f32; 3 * n * n];
    plan.write(frame, &map, &mut planar, &mut Scratch::default());
    RgbImage::from_fn(n as u32, n as u32, |x, y| {
        let i = y as usize * n + x as usize;
        Rgb([0, 1, 2].map(|c| planar[c * n * n + i].round().clamp(0.0, 255.0) as u8))
    })
}

/// Layout of the preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewOptions {
    /// The frame is scaled to fit in this box (up or down), in pixels.
    pub max_frame_width: u32,
    pub max_frame_height: u32,
    /// Thumbnails fit in a square of this side.
    pub thumb_size: u32,
    /// Title line; `None` gives "camera NAME  WxH  N bins".
    pub title: Option<String>,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            max_frame_width: 1100,
            max_frame_height: 900,
            thumb_size: 224,
            title: None,
        }
    }
}

/// High-contrast outline colours, one per bin in order (cycled past 8 bins).
pub const PALETTE: [[u8; 3]; 8] = [
    [255, 221, 0],   // yellow
    [0, 229, 255],   // cyan
    [255, 64, 255],  // magenta
    [118, 255, 3],   // lime
    [255, 145, 0],   // orange
    [80, 140, 255],  // blue
    [255, 90, 120],  // pink-red
    [255, 255, 255], // white
];

const BG: Rgb<u8> = Rgb([30, 31, 34]);
const FG: Rgb<u8> = Rgb([235, 235, 235]);
const DARK: Rgb<u8> = Rgb([0, 0, 0]);
const MARGIN: u32 = 16;
const LABEL_SCALE: u32 = 3;
const TEXT_SCALE: u32 = 2;

/// Renders the preview of `camera`'s `frame` with its `bins`.
pub fn render_preview(
    camera: &str,
    frame: &RgbImage,
    bins: &[PreviewBin],
    crops: &dyn CropSource,
    opts: &PreviewOptions,
) -> Result<RgbImage, CalibrateError> {
    let (fw, fh) = frame.dimensions();
    if fw == 0 || fh == 0 {
        return Err(CalibrateError::FrameTooSmall {
            camera: camera.to_string(),
            what: "preview",
            width: fw,
            height: fh,
            min: 1,
        });
    }
    let scale = (f64::from(opts.max_frame_width) / f64::from(fw))
        .min(f64::from(opts.max_frame_height) / f64::from(fh));
    let (dw, dh) = (
        ((f64::from(fw) * scale).round() as u32).max(1),
        ((f64::from(fh) * scale).round() as u32).max(1),
    );
    let mut shown = imageops::resize(frame, dw, dh, imageops::FilterType::CatmullRom);

    // Outlines first (all bins), then labels on top so no outline crosses a label.
    let thick = (dw.max(dh) / 150).clamp(3, 10) as f64;
    let polys: Vec<Vec<Point>> = bins
        .iter()
        .map(|b| Outline::from(&b.region).pixel_polygon(dw, dh))
        .collect();
    for (i, poly) in polys.iter().enumerate() {
        let colour = Rgb(PALETTE[i % PALETTE.len()]);
        draw_polygon(&mut shown, poly, thick / 2.0 + 2.0, DARK);
        draw_polygon(&mut shown, poly, thick / 2.0, colour);
    }
    for (i, (bin, poly)) in bins.iter().zip(&polys).enumerate() {
        let colour = Rgb(PALETTE[i % PALETTE.len()]);
        let text = fit_text(&bin.id, dw.saturating_sub(8) / (GLYPH_W * LABEL_SCALE));
        let (tw, th) = (
            text_width(&text, LABEL_SCALE) + 8,
            GLYPH_H * LABEL_SCALE + 4,
        );
        // Top-left-most corner of the outline; label sits just above it, or inside if no room.
        let tl = poly
            .iter()
            .copied()
            .min_by(|a, b| (a.x + a.y).total_cmp(&(b.x + b.y)))
            .unwrap_or(Point::new(0.0, 0.0));
        let lx = (tl.x.round().max(0.0) as u32).min(dw.saturating_sub(tw));
        let above = tl.y - thick / 2.0 - f64::from(th);
        let ly = if above >= 0.0 {
            above as u32
        } else {
            (tl.y.max(0.0) as u32 + thick as u32).min(dh.saturating_sub(th))
        };
        fill_rect(
            &mut shown,
            lx as i64 - 2,
            ly as i64 - 2,
            tw + 4,
            th + 4,
            DARK,
        );
        fill_rect(&mut shown, lx as i64, ly as i64, tw, th, colour);
        draw_text(&mut shown, lx + 4, ly + 2, &text, LABEL_SCALE, DARK);
    }

    // Thumbnail cards: thumbnail, then id, then caption.
    let ts = opts.thumb_size;
    let line_h = GLYPH_H * TEXT_SCALE + 4;
    let card_h = ts + 8 + 2 * line_h + MARGIN;
    let title_h = GLYPH_H * TEXT_SCALE + MARGIN;
    let per_col = ((dh + MARGIN) / card_h).max(1) as usize;
    let cols = bins.len().div_ceil(per_col).max(1) as u32;
    let col_w = ts + 8;
    let width = MARGIN + dw + MARGIN + cols * (col_w + MARGIN);
    let rows_h = per_col.min(bins.len().max(1)) as u32 * card_h;
    let height = MARGIN + title_h + dh.max(rows_h) + MARGIN;
    let mut out = RgbImage::from_pixel(width, height, BG);

    let title = opts.title.clone().unwrap_or_else(|| {
        format!(
            "camera {camera}   {fw}x{fh}   {} bin{}",
            bins.len(),
            if bins.len() == 1 { "" } else { "s" }
        )
    });
    let title = fit_text(&title, (width - 2 * MARGIN) / (GLYPH_W * TEXT_SCALE));
    draw_text(&mut out, MARGIN, MARGIN, &title, TEXT_SCALE, FG);
    let top = MARGIN + title_h;
    imageops::replace(&mut out, &shown, i64::from(MARGIN), i64::from(top));

    let max_chars = col_w / (GLYPH_W * TEXT_SCALE);
    for (i, bin) in bins.iter().enumerate() {
        let colour = Rgb(PALETTE[i % PALETTE.len()]);
        let (col, row) = ((i / per_col) as u32, (i % per_col) as u32);
        let x = MARGIN + dw + MARGIN + col * (col_w + MARGIN);
        let y = top + row * card_h;
        fill_rect(&mut out, i64::from(x), i64::from(y), col_w, ts + 8, colour);
        fill_rect(&mut out, i64::from(x) + 4, i64::from(y) + 4, ts, ts, DARK);
        let widened = bin.region.with_margin(bin.margin).unwrap_or(bin.region);
        match crops.crop(&bin.id, &widened) {
            Ok(crop) if crop.width() > 0 && crop.height() > 0 => {
                let k = (f64::from(ts) / f64::from(crop.width()))
                    .min(f64::from(ts) / f64::from(crop.height()));
                let (cw, ch) = (
                    ((f64::from(crop.width()) * k).round() as u32).clamp(1, ts),
                    ((f64::from(crop.height()) * k).round() as u32).clamp(1, ts),
                );
                let thumb = imageops::resize(&crop, cw, ch, imageops::FilterType::Triangle);
                imageops::replace(
                    &mut out,
                    &thumb,
                    i64::from(x + 4 + (ts - cw) / 2),
                    i64::from(y + 4 + (ts - ch) / 2),
                );
            }
            Ok(_) | Err(_) => {
                draw_text(&mut out, x + 12, y + ts / 2 - 10, "no crop", TEXT_SCALE, FG);
            }
        }
        draw_text(
            &mut out,
            x,
            y + ts + 12,
            &fit_text(&bin.id, max_chars),
            TEXT_SCALE,
            colour,
        );
        if let Some(c) = &bin.caption {
            draw_text(
                &mut out,
                x,
                y + ts + 12 + line_h,
                &fit_text(c, max_chars),
                TEXT_SCALE,
                FG,
            );
        }
    }
    Ok(out)
}

/// Writes the preview as PNG.
pub fn save_preview(camera: &str, img: &RgbImage, path: &Path) -> Result<(), CalibrateError> {
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| CalibrateError::WriteImage {
            camera: camera.to_string(),
            path: path.to_path_buf(),
            source,
        })
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * GLYPH_W * scale
}

/// `text` shortened to at most `max` characters, ending in ".." when cut.
fn fit_text(text: &str, max: u32) -> String {
    let max = max as usize;
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let keep: String = text.chars().take(max.saturating_sub(2)).collect();
        format!("{keep}..")
    }
}

/// Draws `text` with the built-in 6x13 font, each font pixel a `scale` x `scale` square.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, colour: Rgb<u8>) {
    for (k, c) in text.chars().enumerate() {
        let gx = x + k as u32 * GLYPH_W * scale;
        for py in 0..GLYPH_H {
            for px in 0..GLYPH_W {
                if pixel(c, px, py) {
                    fill_rect(
                        img,
                        i64::from(gx + px * scale),
                        i64::from(y + py * scale),
                        scale,
                        scale,
                        colour,
                    );
                }
            }
        }
    }
}

fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: u32, h: u32, colour: Rgb<u8>) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    for yy in y.max(0)..(y + i64::from(h)).min(ih) {
        for xx in x.max(0)..(x + i64::from(w)).min(iw) {
            img.put_pixel(xx as u32, yy as u32, colour);
        }
    }
}

/// Closed outline with round joins: every pixel within `radius` of an edge.
fn draw_polygon(img: &mut RgbImage, poly: &[Point], radius: f64, colour: Rgb<u8>) {
    let n = poly.len();
    for i in 0..n {
        draw_segment(img, poly[i], poly[(i + 1) % n], radius, colour);
    }
}

fn draw_segment(img: &mut RgbImage, a: Point, b: Point, radius: f64, colour: Rgb<u8>) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let x0 = (a.x.min(b.x) - radius).floor().max(0.0) as u32;
    let y0 = (a.y.min(b.y) - radius).floor().max(0.0) as u32;
    let x1 = (a.x.max(b.x) + radius).ceil().min(w - 1.0).max(0.0) as u32;
    let y1 = (a.y.max(b.y) + radius).ceil().min(h - 1.0).max(0.0) as u32;
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    let r2 = radius * radius;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let t = if len2 > 0.0 {
                (((px - a.x) * dx + (py - a.y) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (cx, cy) = (a.x + t * dx - px, a.y + t * dy - py);
            if cx * cx + cy * cy <= r2 {
                img.put_pixel(x, y, colour);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Quad, Rect};

    fn frame() -> RgbImage {
        RgbImage::from_fn(640, 480, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 90]))
    }

    #[test]
    fn renders_outlines_labels_and_thumbnails() {
        let f = frame();
        let bins = vec![
            PreviewBin {
                id: "b1".into(),
                region: Region::Rect(Rect::new(0.1, 0.2, 0.4, 0.7).unwrap()),
                margin: 0.1,
                caption: Some("full p=0.93".into()),
            },
            PreviewBin {
                id: "b2".into(),
                region: Region::Quad(
                    Quad::new([[0.5, 0.1], [0.9, 0.15], [0.85, 0.8], [0.55, 0.75]]).unwrap(),
                ),
                margin: 0.0,
                caption: None,
            },
        ];
        let crops = ModelCrop {
            frame: &f,
            size: 224,
        };
        let img = render_preview("cam", &f, &bins, &crops, &PreviewOptions::default()).unwrap();
        // Frame scaled to 1100 wide at most, plus one column of thumbnails.
        assert!(img.width() > 1100 + 224, "{}", img.width());
        // The first bin's colour is on the outline, which runs along x = 0.1 of the frame.
        let scale = 900.0 / 480.0f64.max(640.0 * 900.0 / 1100.0 / 640.0 * 480.0);
        let _ = scale;
        let yellow = Rgb(PALETTE[0]);
        assert!(img.pixels().filter(|p| **p == yellow).count() > 1000);
        let cyan = Rgb(PALETTE[1]);
        assert!(img.pixels().filter(|p| **p == cyan).count() > 1000);
    }

    #[test]
    fn closure_crop_source_is_used_and_errors_name_the_bin() {
        let f = frame();
        let bins = vec![PreviewBin {
            id: "left".into(),
            region: Region::Rect(Rect::new(0.1, 0.2, 0.4, 0.7).unwrap()),
            margin: 0.0,
            caption: None,
        }];
        let red = |_: &str, _: &Region| -> Result<RgbImage, CalibrateError> {
            Ok(RgbImage::from_pixel(10, 20, Rgb([250, 0, 0])))
        };
        let img = render_preview("cam", &f, &bins, &red, &PreviewOptions::default()).unwrap();
        assert!(img.pixels().filter(|p| **p == Rgb([250, 0, 0])).count() > 100 * 100);
        // A crop source's error shows as "no crop" in the card, not as a failed preview.
        let failing = |bin: &str, _: &Region| -> Result<RgbImage, CalibrateError> {
            Err(CalibrateError::Crop {
                camera: "cam".into(),
                bin: bin.into(),
                reason: "test".into(),
            })
        };
        assert!(render_preview("cam", &f, &bins, &failing, &PreviewOptions::default()).is_ok());
    }

    #[test]
    fn text_is_drawn() {
        let mut img = RgbImage::from_pixel(100, 40, BG);
        draw_text(&mut img, 2, 2, "Hi", 2, FG);
        assert!(img.pixels().filter(|p| **p == FG).count() > 20);
        assert_eq!(fit_text("abcdefgh", 5), "abc..");
    }
}
