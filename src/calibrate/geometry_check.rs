//! Static checks of one camera's bin regions against its reference frame size and the model's
//! input size: out of bounds, degenerate, self-intersecting / non-convex / counter-clockwise quads,
//! overlapping bins and regions too small (in pixels) for the classifier.
//!
//! Nothing here looks at pixels; [`check_regions`] returns every finding, errors first.

use std::fmt;

use super::region::{
    Outline, Point, convex_intersection_area, is_convex, quad_self_intersects,
    raster_intersection_area, signed_area,
};

/// How bad a finding is: errors make `binwatch calibrate check` fail, warnings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a finding is about (for programmatic use; the message carries the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    NotFinite,
    OutOfBounds,
    Degenerate,
    SelfIntersecting,
    NonConvex,
    CounterClockwise,
    NotStartingTopLeft,
    Overlap,
    TooSmall,
    Elongated,
    DuplicateId,
    BadFrameSize,
}

/// One problem found with a camera's regions.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub camera: String,
    /// The bin the finding is about (the first of a pair for overlaps); `None` for camera-wide ones.
    pub bin: Option<String>,
    /// Human-readable, with the measured values and the threshold that was crossed.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bin {
            Some(bin) => write!(
                f,
                "{}: camera '{}' bin '{}': {}",
                self.severity, self.camera, bin, self.message
            ),
            None => write!(
                f,
                "{}: camera '{}': {}",
                self.severity, self.camera, self.message
            ),
        }
    }
}

/// Thresholds of the geometry checks.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometryThresholds {
    /// The classifier's input side in pixels (crops are resampled to this square).
    pub model_input: u32,
    /// Shorter side (px of the reference frame) below which a region is an error: the crop would be
    /// upscaled more than 7x to the model input, which then sees mostly interpolation blur.
    pub min_side_error_px: f64,
    /// Shorter side (px) below which a region gets a warning (upscaled > 3.5x to 224).
    pub min_side_warn_px: f64,
    /// Long/short side ratio above which the squash to a square model input is warned about.
    pub max_aspect: f64,
    /// Overlap, as a fraction of the smaller region's area, above which a warning is given.
    pub overlap_warn: f64,
    /// Overlap fraction above which it is an error (likely the same bin entered twice).
    pub overlap_error: f64,
    /// How far outside 0..1 a coordinate may be (rounding of `--pixels` input) before it is an error.
    pub bounds_tolerance: f64,
    /// Area in px² below which a region is degenerate.
    pub min_area_px: f64,
}

impl Default for GeometryThresholds {
    fn default() -> Self {
        Self {
            model_input: 224,
            min_side_error_px: 32.0,
            min_side_warn_px: 64.0,
            max_aspect: 3.0,
            overlap_warn: 0.05,
            overlap_error: 0.5,
            bounds_tolerance: 1e-3,
            min_area_px: 1.0,
        }
    }
}

/// Checks one camera's regions (`(bin id, region)` in config order) for a reference frame of
/// `frame_w` x `frame_h` pixels. Findings are sorted errors first, then by bin order.
pub fn check_regions(
    camera: &str,
    frame_w: u32,
    frame_h: u32,
    regions: &[(String, Outline)],
    t: &GeometryThresholds,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, kind, bin: Option<&str>, message: String| {
        out.push(Finding {
            severity,
            kind,
            camera: camera.to_string(),
            bin: bin.map(str::to_string),
            message,
        })
    };
    if frame_w == 0 || frame_h == 0 {
        push(
            Severity::Error,
            FindingKind::BadFrameSize,
            None,
            format!("reference frame size {frame_w}x{frame_h} is empty"),
        );
        return out;
    }
    // Per region: the pixel polygon if it is usable for pairwise overlap checks, plus whether convex.
    let mut usable: Vec<Option<(Vec<Point>, bool)>> = Vec::with_capacity(regions.len());

    for (i, (bin, region)) in regions.iter().enumerate() {
        let bin = bin.as_str();
        if regions[..i].iter().any(|(b, _)| b == bin) {
            push(
                Severity::Error,
                FindingKind::DuplicateId,
                Some(bin),
                "bin id is used more than once for this camera".to_string(),
            );
        }
        let poly = region.polygon();
        if poly.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            push(
                Severity::Error,
                FindingKind::NotFinite,
                Some(bin),
                format!("coordinates are not finite numbers: {}", fmt_region(region)),
            );
            usable.push(None);
            continue;
        }
        // Out of bounds.
        let tol = t.bounds_tolerance;
        let outside: Vec<String> = poly
            .iter()
            .flat_map(|p| [("x", p.x), ("y", p.y)])
            .filter(|(_, v)| *v < -tol || *v > 1.0 + tol)
            .map(|(axis, v)| format!("{axis}={v:.4}"))
            .collect();
        if !outside.is_empty() {
            push(
                Severity::Error,
                FindingKind::OutOfBounds,
                Some(bin),
                format!(
                    "region {} leaves the frame (coordinates must be within 0..1): {}",
                    fmt_region(region),
                    outside.join(", ")
                ),
            );
        }
        let px = region.pixel_polygon(frame_w, frame_h);
        let area_px = signed_area(&px);
        // Degenerate / orientation / shape.
        match region {
            Outline::Rect([x0, y0, x1, y1]) => {
                if x0 >= x1 || y0 >= y1 {
                    push(
                        Severity::Error,
                        FindingKind::Degenerate,
                        Some(bin),
                        format!(
                            "rect needs x0 < x1 and y0 < y1, got x0={x0:.4} x1={x1:.4} y0={y0:.4} y1={y1:.4}"
                        ),
                    );
                    usable.push(None);
                    continue;
                }
                if area_px.abs() < t.min_area_px {
                    push(
                        Severity::Error,
                        FindingKind::Degenerate,
                        Some(bin),
                        format!("rect covers {:.2} px², i.e. nothing", area_px.abs()),
                    );
                    usable.push(None);
                    continue;
                }
            }
            Outline::Quad(q) => {
                if quad_self_intersects(q) {
                    push(
                        Severity::Error,
                        FindingKind::SelfIntersecting,
                        Some(bin),
                        format!(
                            "quad {} is self-intersecting (a bow-tie): two of its edges cross; list the corners clockwise from top-left",
                            fmt_region(region)
                        ),
                    );
                    usable.push(Some((px, false)));
                    continue;
                }
                if area_px.abs() < t.min_area_px {
                    push(
                        Severity::Error,
                        FindingKind::Degenerate,
                        Some(bin),
                        format!(
                            "quad {} covers {:.2} px², i.e. nothing",
                            fmt_region(region),
                            area_px.abs()
                        ),
                    );
                    usable.push(None);
                    continue;
                }
                let convex = is_convex(&px);
                if !convex {
                    push(
                        Severity::Error,
                        FindingKind::NonConvex,
                        Some(bin),
                        format!(
                            "quad {} is not convex: it cannot be rectified to a rectangle",
                            fmt_region(region)
                        ),
                    );
                }
                if area_px < 0.0 {
                    push(
                        Severity::Error,
                        FindingKind::CounterClockwise,
                        Some(bin),
                        format!(
                            "quad {} runs counter-clockwise; the crop would be mirrored (list the corners clockwise from top-left)",
                            fmt_region(region)
                        ),
                    );
                } else {
                    // First point should be the top-left-most (smallest x + y), else the crop is rotated.
                    let first = px[0].x + px[0].y;
                    let best =
                        (0..4).min_by(|&a, &b| (px[a].x + px[a].y).total_cmp(&(px[b].x + px[b].y)));
                    if let Some(best) = best
                        && best != 0
                        && px[best].x + px[best].y < first - 1.0
                    {
                        push(
                            Severity::Warning,
                            FindingKind::NotStartingTopLeft,
                            Some(bin),
                            format!(
                                "quad {} starts at corner {} but corner {} is nearer the top-left; the crop will be rotated",
                                fmt_region(region),
                                1,
                                best + 1
                            ),
                        );
                    }
                }
                if !convex {
                    usable.push(Some((px, false)));
                    continue;
                }
            }
        }
        // Size in pixels: rect sides, or the mean of opposite quad edges.
        let (w, h) = side_lengths(&px);
        let short = w.min(h);
        let long = w.max(h);
        let m = f64::from(t.model_input);
        if short < t.min_side_error_px {
            push(
                Severity::Error,
                FindingKind::TooSmall,
                Some(bin),
                format!(
                    "region is {w:.0}x{h:.0} px in the {frame_w}x{frame_h} reference; shorter side {short:.0} px < {:.0} px: it would be upscaled {:.1}x to the model's {m:.0}x{m:.0} input",
                    t.min_side_error_px,
                    m / short.max(1e-9)
                ),
            );
        } else if short < t.min_side_warn_px {
            push(
                Severity::Warning,
                FindingKind::TooSmall,
                Some(bin),
                format!(
                    "region is {w:.0}x{h:.0} px in the {frame_w}x{frame_h} reference; shorter side {short:.0} px < {:.0} px: upscaled {:.1}x to the model's {m:.0}x{m:.0} input, expect weaker predictions",
                    t.min_side_warn_px,
                    m / short
                ),
            );
        }
        if short > 0.0 && long / short > t.max_aspect {
            push(
                Severity::Warning,
                FindingKind::Elongated,
                Some(bin),
                format!(
                    "region is {w:.0}x{h:.0} px, aspect {:.1}:1 > {:.1}:1; squashing it to the square model input distorts the bin",
                    long / short,
                    t.max_aspect
                ),
            );
        }
        usable.push(Some((px, true)));
    }

    // Pairwise overlaps.
    for i in 0..regions.len() {
        for j in i + 1..regions.len() {
            let (Some((a, ca)), Some((b, cb))) = (&usable[i], &usable[j]) else {
                continue;
            };
            let inter = if *ca && *cb {
                convex_intersection_area(a, b)
            } else {
                raster_intersection_area(a, b, 256)
            };
            let (area_a, area_b) = (signed_area(a).abs(), signed_area(b).abs());
            let smaller = area_a.min(area_b);
            if smaller <= 0.0 || inter <= 0.0 {
                continue;
            }
            let frac = inter / smaller;
            let severity = if frac > t.overlap_error {
                Severity::Error
            } else if frac > t.overlap_warn {
                Severity::Warning
            } else {
                continue;
            };
            let limit = if severity == Severity::Error {
                t.overlap_error
            } else {
                t.overlap_warn
            };
            push(
                severity,
                FindingKind::Overlap,
                Some(&regions[i].0),
                format!(
                    "overlaps bin '{}' by {:.0} px², {:.1}% of the smaller region (limit {:.0}%; {} of '{}', {} of '{}'){}",
                    regions[j].0,
                    inter,
                    frac * 100.0,
                    limit * 100.0,
                    pct(inter / area_a),
                    regions[i].0,
                    pct(inter / area_b),
                    regions[j].0,
                    if *ca && *cb { "" } else { " [raster estimate]" }
                ),
            );
        }
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Approximate width and height of a 4-point outline: mean lengths of its opposite edges.
fn side_lengths(px: &[Point]) -> (f64, f64) {
    let d = |a: Point, b: Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
    let w = (d(px[0], px[1]) + d(px[3], px[2])) / 2.0;
    let h = (d(px[1], px[2]) + d(px[0], px[3])) / 2.0;
    (w, h)
}

/// The region as an installer would type it, e.g. `rect 0.100,0.200,0.300,0.400`.
pub fn fmt_region(r: &Outline) -> String {
    match r {
        Outline::Rect([a, b, c, d]) => format!("rect {a:.3},{b:.3},{c:.3},{d:.3}"),
        Outline::Quad(q) => {
            let pts: Vec<String> = q.iter().map(|p| format!("{:.3},{:.3}", p.x, p.y)).collect();
            format!("quad {}", pts.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(id: &str, r: [f64; 4]) -> (String, Outline) {
        (id.to_string(), Outline::Rect(r))
    }

    fn quad(id: &str, p: [(f64, f64); 4]) -> (String, Outline) {
        (
            id.to_string(),
            Outline::Quad(p.map(|(x, y)| Point::new(x, y))),
        )
    }

    fn kinds(f: &[Finding]) -> Vec<(Severity, FindingKind, Option<&str>)> {
        f.iter()
            .map(|f| (f.severity, f.kind, f.bin.as_deref()))
            .collect()
    }

    #[test]
    fn clean_layout_has_no_findings() {
        let regions = vec![
            rect("a", [0.1, 0.2, 0.4, 0.8]),
            quad("b", [(0.5, 0.2), (0.9, 0.25), (0.85, 0.8), (0.55, 0.75)]),
        ];
        let f = check_regions("cam", 1920, 1080, &regions, &GeometryThresholds::default());
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn each_problem_is_named() {
        let regions = vec![
            rect("oob", [0.8, 0.1, 1.2, 0.5]),
            rect("flat", [0.3, 0.3, 0.2, 0.6]),
            quad("bow", [(0.1, 0.1), (0.3, 0.3), (0.3, 0.1), (0.1, 0.3)]),
            quad("ccw", [(0.5, 0.5), (0.5, 0.7), (0.7, 0.7), (0.7, 0.5)]),
            quad("dart", [(0.1, 0.6), (0.3, 0.6), (0.15, 0.65), (0.1, 0.9)]),
        ];
        let f = check_regions("cam", 1920, 1080, &regions, &GeometryThresholds::default());
        let k = kinds(&f);
        assert!(
            k.contains(&(Severity::Error, FindingKind::OutOfBounds, Some("oob"))),
            "{k:?}"
        );
        assert!(
            k.contains(&(Severity::Error, FindingKind::Degenerate, Some("flat"))),
            "{k:?}"
        );
        assert!(
            k.contains(&(Severity::Error, FindingKind::SelfIntersecting, Some("bow"))),
            "{k:?}"
        );
        assert!(
            k.contains(&(Severity::Error, FindingKind::CounterClockwise, Some("ccw"))),
            "{k:?}"
        );
        assert!(
            k.contains(&(Severity::Error, FindingKind::NonConvex, Some("dart"))),
            "{k:?}"
        );
        let oob = f
            .iter()
            .find(|f| f.kind == FindingKind::OutOfBounds)
            .unwrap();
        assert!(oob.to_string().contains("x=1.2000"), "{oob}");
        assert!(oob.to_string().contains("camera 'cam' bin 'oob'"), "{oob}");
    }

    #[test]
    fn overlap_fraction_and_severity() {
        // b overlaps a by half of b's width: 50% of b's area -> warning (limit for error is > 50%).
        let regions = vec![
            rect("a", [0.0, 0.0, 0.5, 0.5]),
            rect("b", [0.4, 0.0, 0.6, 0.5]),
        ];
        let f = check_regions("cam", 1000, 1000, &regions, &GeometryThresholds::default());
        assert_eq!(
            kinds(&f),
            vec![(Severity::Warning, FindingKind::Overlap, Some("a"))]
        );
        assert!(
            f[0].message.contains("50.0% of the smaller"),
            "{}",
            f[0].message
        );
        let regions = vec![
            rect("a", [0.0, 0.0, 0.5, 0.5]),
            rect("b", [0.1, 0.1, 0.4, 0.4]),
        ];
        let f = check_regions("cam", 1000, 1000, &regions, &GeometryThresholds::default());
        assert_eq!(
            kinds(&f),
            vec![(Severity::Error, FindingKind::Overlap, Some("a"))]
        );
        assert!(
            f[0].message.contains("100.0% of the smaller"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn small_regions_warn_then_fail() {
        let t = GeometryThresholds::default();
        // 50 px tall on a 1000 px frame: warning.
        let f = check_regions("cam", 1000, 1000, &[rect("s", [0.1, 0.1, 0.3, 0.15])], &t);
        assert!(
            kinds(&f).contains(&(Severity::Warning, FindingKind::TooSmall, Some("s"))),
            "{f:?}"
        );
        // 20 px: error.
        let f = check_regions("cam", 1000, 1000, &[rect("t", [0.1, 0.1, 0.12, 0.3])], &t);
        assert!(
            kinds(&f).contains(&(Severity::Error, FindingKind::TooSmall, Some("t"))),
            "{f:?}"
        );
        assert!(f[0].message.contains("20 px < 32 px"), "{}", f[0].message);
    }

    #[test]
    fn duplicate_ids_and_empty_frame() {
        let t = GeometryThresholds::default();
        let f = check_regions(
            "cam",
            1000,
            1000,
            &[
                rect("x", [0.0, 0.0, 0.2, 0.2]),
                rect("x", [0.5, 0.5, 0.7, 0.7]),
            ],
            &t,
        );
        assert!(kinds(&f).contains(&(Severity::Error, FindingKind::DuplicateId, Some("x"))));
        let f = check_regions("cam", 0, 1000, &[rect("x", [0.0, 0.0, 0.2, 0.2])], &t);
        assert_eq!(f[0].kind, FindingKind::BadFrameSize);
    }
}
