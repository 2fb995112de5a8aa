//! The evaluation report a person reads: `report.md` with the figures, `confusion.png` (the confusion
//! matrix as a picture) and `mistakes.png` (a contact sheet of wrongly judged samples with their true and
//! predicted labels drawn under each). Text is drawn with the public-domain 8x8 bitmap font of `font8x8`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage, imageops};
use thiserror::Error;

use crate::eval::{EvalOutput, Item};
use crate::region::Region;

/// Most mistakes shown on the contact sheet (the worst first: highest probability on a wrong class).
pub const MAX_MISTAKES: usize = 60;
const TILE: u32 = 160;
const CAPTION: u32 = 40;
const COLS: u32 = 6;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write report file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write picture {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

/// Draws ASCII text at (x, y), `scale` pixels per font pixel; other characters are drawn as '?'.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
    let mut cx = x;
    for ch in text.chars() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    for dy in 0..scale as i64 {
                        for dx in 0..scale as i64 {
                            let px = cx + col * scale as i64 + dx;
                            let py = y + row as i64 * scale as i64 + dy;
                            if px >= 0
                                && py >= 0
                                && (px as u32) < img.width()
                                && (py as u32) < img.height()
                            {
                                img.put_pixel(px as u32, py as u32, color);
                            }
                        }
                    }
                }
            }
        }
        cx += 8 * scale as i64;
    }
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, color: Rgb<u8>) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, color);
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("..{tail}")
    }
}

/// The confusion matrix as a picture: rows = labels, columns = predicted classes, each cell shaded by its
/// share of the row and showing its count.
pub fn confusion_picture(out: &EvalOutput) -> RgbImage {
    let c = &out.confusion;
    let longest = c.classes.iter().map(|k| k.len()).max().unwrap_or(4) as u32;
    let cell = (16 * longest + 12).clamp(90, 200);
    let left = 8 * 2 * c.labels.iter().map(|l| l.len()).max().unwrap_or(4).max(5) as u32 + 20;
    let top = 60u32;
    let w = left + cell * c.classes.len() as u32 + 10;
    let h = top + cell * c.labels.len() as u32 + 10;
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    draw_text(
        &mut img,
        4,
        4,
        "true label \\ predicted class",
        1,
        Rgb([0, 0, 0]),
    );
    for (j, class) in c.classes.iter().enumerate() {
        draw_text(
            &mut img,
            (left + cell * j as u32 + 4) as i64,
            (top - 24) as i64,
            &truncate(class, 12),
            2,
            Rgb([0, 0, 0]),
        );
    }
    for (i, label) in c.labels.iter().enumerate() {
        let y = top + cell * i as u32;
        draw_text(
            &mut img,
            4,
            (y + cell / 2 - 8) as i64,
            label,
            2,
            Rgb([0, 0, 0]),
        );
        let total = c.row_total(i).max(1) as f64;
        for (j, &n) in c.matrix[i].iter().enumerate() {
            let share = n as f64 / total;
            let shade = (255.0 - 200.0 * share) as u8;
            let x = left + cell * j as u32;
            fill(&mut img, x, y, cell - 2, cell - 2, Rgb([shade, shade, 255]));
            let text_color = if share > 0.5 {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            };
            let count = n.to_string();
            draw_text(
                &mut img,
                (x + 8) as i64,
                (y + 20) as i64,
                &count,
                3,
                text_color,
            );
            draw_text(
                &mut img,
                (x + 8) as i64,
                (y + 56) as i64,
                &format!("{:.0}%", share * 100.0),
                2,
                text_color,
            );
        }
    }
    img
}

/// The samples the model got wrong, worst first.
pub fn mistakes(out: &EvalOutput) -> Vec<&Item> {
    let mut m: Vec<&Item> = out.items.iter().filter(|i| !i.correct).collect();
    let conf = |i: &Item| i.probabilities.get(&i.predicted).copied().unwrap_or(0.0);
    m.sort_by(|a, b| conf(b).total_cmp(&conf(a)));
    m
}

/// The contact sheet: each mistake's region (with the eval margin) and two caption lines.
/// `load` returns the decoded photo for an item path (relative to the data folder), `region` its region.
pub fn mistakes_picture(
    items: &[&Item],
    margin: f64,
    mut load: impl FnMut(&str) -> Option<RgbImage>,
) -> RgbImage {
    let n = items.len().min(MAX_MISTAKES) as u32;
    let cols = n.clamp(1, COLS);
    let rows = n.div_ceil(cols).max(1);
    let mut sheet = RgbImage::from_pixel(
        cols * (TILE + 4),
        rows * (TILE + CAPTION + 4),
        Rgb([40, 40, 40]),
    );
    if n == 0 {
        draw_text(&mut sheet, 8, 8, "no mistakes", 2, Rgb([255, 255, 255]));
        return sheet;
    }
    for (k, item) in items.iter().take(MAX_MISTAKES).enumerate() {
        let (cx, cy) = (
            (k as u32 % cols) * (TILE + 4),
            (k as u32 / cols) * (TILE + CAPTION + 4),
        );
        if let Some(photo) = load(&item.path) {
            let tile = crop_tile(&photo, &item.region, margin);
            imageops::overlay(&mut sheet, &tile, cx as i64, cy as i64);
        } else {
            draw_text(
                &mut sheet,
                (cx + 4) as i64,
                (cy + 70) as i64,
                "unreadable",
                1,
                Rgb([255, 80, 80]),
            );
        }
        fill(
            &mut sheet,
            cx,
            cy + TILE,
            TILE,
            CAPTION,
            Rgb([255, 255, 255]),
        );
        let p = item
            .probabilities
            .get(&item.predicted)
            .copied()
            .unwrap_or(0.0);
        draw_text(
            &mut sheet,
            (cx + 2) as i64,
            (cy + TILE + 3) as i64,
            &truncate(&format!("true: {}", item.label), 20),
            1,
            Rgb([0, 110, 0]),
        );
        draw_text(
            &mut sheet,
            (cx + 2) as i64,
            (cy + TILE + 15) as i64,
            &truncate(&format!("pred: {} {:.2}", item.predicted, p), 20),
            1,
            Rgb([190, 0, 0]),
        );
        let name = item.path.rsplit('/').next().unwrap_or(&item.path);
        draw_text(
            &mut sheet,
            (cx + 2) as i64,
            (cy + TILE + 27) as i64,
            &truncate(name, 20),
            1,
            Rgb([90, 90, 90]),
        );
    }
    sheet
}

/// The region's bounding box (with margin) stretched to a tile, like the model sees it.
fn crop_tile(photo: &RgbImage, coords: &[f64], margin: f64) -> RgbImage {
    let region = match coords {
        [a, b, c, d] => crate::region::Rect::new(*a, *b, *c, *d)
            .ok()
            .map(Region::Rect),
        [a, b, c, d, e, f, g, h] => {
            crate::region::Quad::new([[*a, *b], [*c, *d], [*e, *f], [*g, *h]])
                .ok()
                .map(Region::Quad)
        }
        _ => None,
    };
    let [x0, y0, x1, y1] = match region.and_then(|r| r.with_margin(margin).ok()) {
        Some(Region::Rect(r)) => r.to_array(),
        Some(Region::Quad(q)) => q.bounds(),
        None => [0.0, 0.0, 1.0, 1.0],
    };
    let (w, h) = (photo.width() as f64, photo.height() as f64);
    let px0 = (x0 * w).floor() as u32;
    let py0 = (y0 * h).floor() as u32;
    let pw = (((x1 * w).ceil() as u32).min(photo.width()) - px0).max(1);
    let ph = (((y1 * h).ceil() as u32).min(photo.height()) - py0).max(1);
    let view = imageops::crop_imm(photo, px0, py0, pw, ph).to_image();
    imageops::resize(&view, TILE, TILE, imageops::FilterType::Triangle)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The Markdown page.
pub fn markdown(out: &EvalOutput, title: &str) -> String {
    let mut s = String::new();
    let a = &out.alert;
    let _ = writeln!(s, "# binwatch eval: {title}\n");
    let _ = writeln!(
        s,
        "- model: `{}` (version {}, sha256 `{}`)",
        out.model.path, out.model.model_version, &out.model.sha256
    );
    let _ = writeln!(
        s,
        "- classes: {} (alert: {})",
        out.model.classes.join(", "),
        out.model.alert_classes.join(", ")
    );
    let _ = writeln!(
        s,
        "- data: `{}`{}",
        out.data,
        out.regions_file
            .as_ref()
            .map(|r| format!(", regions `{r}`, margin {}", out.margin))
            .unwrap_or_default()
    );
    if !out.aliases.is_empty() {
        let al: Vec<String> = out
            .aliases
            .iter()
            .map(|(k, v)| format!("{k}={}", v.join(",")))
            .collect();
        let _ = writeln!(s, "- aliases: {}", al.join(" "));
    }
    let _ = writeln!(
        s,
        "- samples: {} classified, {} skipped (unreadable)\n",
        out.samples, out.skipped.count
    );
    let _ = writeln!(s, "## Alert decision (\"needs cleaning\")\n");
    let _ = writeln!(
        s,
        "| tp | fp | tn | fn | precision | recall | F1 | balanced accuracy |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        a.tp,
        a.fp,
        a.tn,
        a.fn_,
        pct(a.precision),
        pct(a.recall),
        pct(a.f1),
        pct(a.balanced_accuracy)
    );
    let _ = writeln!(
        s,
        "Label accuracy (predicted class within the label's classes): {}\n",
        pct(out.accuracy)
    );
    let _ = writeln!(
        s,
        "## Confusion matrix\n\n![confusion matrix](confusion.png)\n"
    );
    let _ = writeln!(
        s,
        "| label \\ predicted | {} |",
        out.confusion.classes.join(" | ")
    );
    let _ = writeln!(s, "|---|{}", "---|".repeat(out.confusion.classes.len()));
    for (l, row) in out.confusion.labels.iter().zip(&out.confusion.matrix) {
        let cells: Vec<String> = row.iter().map(u64::to_string).collect();
        let _ = writeln!(s, "| {l} | {} |", cells.join(" | "));
    }
    let l = &out.latency_ms;
    let _ = writeln!(
        s,
        "\n## Latency\n\nPer sample, resampling + inference (batch {}, {} intra-op thread(s)): p50 {:.2} ms, p95 {:.2} ms; decode p50 {:.2} ms, p95 {:.2} ms.\n",
        l.batch, l.threads, l.p50, l.p95, l.decode_p50, l.decode_p95
    );
    let m = mistakes(out);
    let _ = writeln!(
        s,
        "## Mistakes ({} of {}; the {} most confident shown)\n\n![mistakes](mistakes.png)\n",
        m.len(),
        out.samples,
        m.len().min(MAX_MISTAKES)
    );
    for i in m.iter().take(MAX_MISTAKES) {
        let p = i.probabilities.get(&i.predicted).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "- `{}`: true {}, predicted {} ({:.2})",
            i.path, i.label, i.predicted, p
        );
    }
    if out.skipped.count > 0 {
        let _ = writeln!(s, "\n## Skipped\n");
        for k in &out.skipped.items {
            let _ = writeln!(s, "- `{}`: {}", k.path, k.error);
        }
    }
    s
}

/// Writes `report.md`, `confusion.png` and `mistakes.png` into `dir`; `data_dir` is where item paths are.
pub fn write(
    dir: &Path,
    out: &EvalOutput,
    title: &str,
    data_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let io = |path: PathBuf| move |source| ReportError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let save = |img: &RgbImage, name: &str| {
        let path = dir.join(name);
        img.save(&path)
            .map_err(|source| ReportError::Image { path, source })
    };
    save(&confusion_picture(out), "confusion.png")?;
    let m = mistakes(out);
    save(
        &mistakes_picture(&m, out.margin, |p| {
            crate::frame::load(&data_dir.join(p)).ok()
        }),
        "mistakes.png",
    )?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown(out, title)).map_err(io(md.clone()))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn() {
        let mut img = RgbImage::new(40, 10);
        draw_text(&mut img, 0, 0, "A1", 1, Rgb([255, 255, 255]));
        let lit = img.pixels().filter(|p| p.0[0] == 255).count();
        assert!(lit > 10, "{lit} pixels lit");
        // nothing drawn past the two glyphs
        assert!((16..40).all(|x| (0..10).all(|y| img.get_pixel(x, y).0[0] == 0)));
    }

    #[test]
    fn truncation_keeps_the_end() {
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdefghijkl", 6), "..ijkl");
    }
}
