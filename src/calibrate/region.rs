//! Bin regions in normalised frame coordinates, and the small polygon maths the checks need.
//!
//! Coordinates are fractions of the frame: x from 0 (left) to 1 (right), y from 0 (top) to 1
//! (bottom). [`Outline`] is the *unchecked* polygon of a region: the core's [`crate::region::Region`]
//! can only hold valid regions, while the geometry checks must also describe broken ones (bow-ties,
//! coordinates off the frame). Converting a core region is a field copy.

/// A point in normalised (0..1) or pixel coordinates, depending on context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }
}

/// A bin's region in normalised frame coordinates, as written (not necessarily valid).
#[derive(Debug, Clone, PartialEq)]
pub enum Outline {
    /// Axis-aligned rectangle `[x0, y0, x1, y1]` (top-left, bottom-right).
    Rect([f64; 4]),
    /// Quadrilateral, 4 points clockwise (on screen, y down) starting from the top-left.
    Quad([Point; 4]),
}

impl From<&crate::region::Region> for Outline {
    fn from(r: &crate::region::Region) -> Self {
        match r {
            crate::region::Region::Rect(r) => Outline::Rect(r.to_array()),
            crate::region::Region::Quad(q) => {
                Outline::Quad(q.points.map(|[x, y]| Point::new(x, y)))
            }
        }
    }
}

impl From<crate::region::Region> for Outline {
    fn from(r: crate::region::Region) -> Self {
        Outline::from(&r)
    }
}

impl Outline {
    /// The outline of a config bin as written (`region` or `quad`), even when it is invalid;
    /// `None` when the bin has neither or both.
    pub fn of_bin(bin: &crate::config::Bin) -> Option<Outline> {
        match (bin.region, bin.quad) {
            (Some(r), None) => Some(Outline::Rect(r)),
            (None, Some(q)) => Some(Outline::Quad(q.map(|[x, y]| Point::new(x, y)))),
            _ => None,
        }
    }

    /// The region's outline as a polygon in normalised coordinates (rects clockwise from top-left).
    pub fn polygon(&self) -> Vec<Point> {
        match self {
            Outline::Rect([x0, y0, x1, y1]) => vec![
                Point::new(*x0, *y0),
                Point::new(*x1, *y0),
                Point::new(*x1, *y1),
                Point::new(*x0, *y1),
            ],
            Outline::Quad(p) => p.to_vec(),
        }
    }

    /// The region's outline in pixel coordinates of a `width` x `height` frame.
    pub fn pixel_polygon(&self, width: u32, height: u32) -> Vec<Point> {
        self.polygon()
            .into_iter()
            .map(|p| Point::new(p.x * f64::from(width), p.y * f64::from(height)))
            .collect()
    }

    /// Bounding box `[x0, y0, x1, y1]` in normalised coordinates.
    pub fn bbox(&self) -> [f64; 4] {
        let poly = self.polygon();
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for p in poly {
            b[0] = b[0].min(p.x);
            b[1] = b[1].min(p.y);
            b[2] = b[2].max(p.x);
            b[3] = b[3].max(p.y);
        }
        b
    }
}

/// Signed shoelace area; positive when the polygon runs clockwise on screen (y pointing down).
pub fn signed_area(poly: &[Point]) -> f64 {
    let n = poly.len();
    let mut s = 0.0;
    for i in 0..n {
        let a = poly[i];
        let b = poly[(i + 1) % n];
        s += a.x * b.y - b.x * a.y;
    }
    s / 2.0
}

fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Whether segments `p1-p2` and `p3-p4` cross at a point interior to both (touching ends do not count).
pub fn segments_cross(p1: Point, p2: Point, p3: Point, p4: Point) -> bool {
    let d1 = cross(p3, p4, p1);
    let d2 = cross(p3, p4, p2);
    let d3 = cross(p1, p2, p3);
    let d4 = cross(p1, p2, p4);
    ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
}

/// Whether a simple quad's edges cross each other (a "bow-tie").
pub fn quad_self_intersects(q: &[Point]) -> bool {
    q.len() == 4
        && (segments_cross(q[0], q[1], q[2], q[3]) || segments_cross(q[1], q[2], q[3], q[0]))
}

/// Whether the polygon is convex (all turns the same way; collinear points allowed).
pub fn is_convex(poly: &[Point]) -> bool {
    let n = poly.len();
    let mut sign = 0.0f64;
    for i in 0..n {
        let c = cross(poly[i], poly[(i + 1) % n], poly[(i + 2) % n]);
        if c.abs() < 1e-12 {
            continue;
        }
        if sign == 0.0 {
            sign = c.signum();
        } else if c.signum() != sign {
            return false;
        }
    }
    true
}

/// Even-odd point-in-polygon test.
pub fn contains(poly: &[Point], p: Point) -> bool {
    let n = poly.len();
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Intersection area of two convex polygons (Sutherland-Hodgman clipping). Orientation-agnostic.
pub fn convex_intersection_area(a: &[Point], b: &[Point]) -> f64 {
    let mut clip = b.to_vec();
    if signed_area(&clip) < 0.0 {
        clip.reverse();
    }
    let mut out = a.to_vec();
    let n = clip.len();
    for i in 0..n {
        if out.is_empty() {
            return 0.0;
        }
        let (c0, c1) = (clip[i], clip[(i + 1) % n]);
        // Clockwise on screen == positive shoelace; "inside" is where cross(c0, c1, p) >= 0.
        let inside = |p: Point| cross(c0, c1, p) >= 0.0;
        let input = std::mem::take(&mut out);
        let m = input.len();
        for k in 0..m {
            let cur = input[k];
            let prev = input[(k + m - 1) % m];
            let (ci, pi) = (inside(cur), inside(prev));
            if ci {
                if !pi {
                    out.push(line_intersection(prev, cur, c0, c1));
                }
                out.push(cur);
            } else if pi {
                out.push(line_intersection(prev, cur, c0, c1));
            }
        }
    }
    if out.len() < 3 {
        0.0
    } else {
        signed_area(&out).abs()
    }
}

fn line_intersection(p: Point, q: Point, a: Point, b: Point) -> Point {
    let (r, s) = (
        Point::new(q.x - p.x, q.y - p.y),
        Point::new(b.x - a.x, b.y - a.y),
    );
    let denom = r.x * s.y - r.y * s.x;
    if denom.abs() < 1e-15 {
        return q;
    }
    let t = ((a.x - p.x) * s.y - (a.y - p.y) * s.x) / denom;
    Point::new(p.x + t * r.x, p.y + t * r.y)
}

/// Intersection area of two arbitrary polygons, estimated on a `grid` x `grid` raster of their joint
/// bounding box (for non-convex or self-intersecting outlines, where clipping does not apply).
pub fn raster_intersection_area(a: &[Point], b: &[Point], grid: usize) -> f64 {
    let all = a.iter().chain(b.iter());
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in all {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    let (cw, ch) = ((x1 - x0) / grid as f64, (y1 - y0) / grid as f64);
    if cw <= 0.0 || ch <= 0.0 {
        return 0.0;
    }
    let mut hits = 0usize;
    for j in 0..grid {
        for i in 0..grid {
            let p = Point::new(x0 + (i as f64 + 0.5) * cw, y0 + (j as f64 + 0.5) * ch);
            if contains(a, p) && contains(b, p) {
                hits += 1;
            }
        }
    }
    hits as f64 * cw * ch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Point> {
        Outline::Rect([x0, y0, x1, y1]).polygon()
    }

    #[test]
    fn clockwise_rect_has_positive_area() {
        assert!((signed_area(&sq(0.0, 0.0, 1.0, 2.0)) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn intersection_of_overlapping_squares() {
        let a = sq(0.0, 0.0, 2.0, 2.0);
        let b = sq(1.0, 1.0, 3.0, 3.0);
        assert!((convex_intersection_area(&a, &b) - 1.0).abs() < 1e-9);
        let mut rb = b.clone();
        rb.reverse();
        assert!((convex_intersection_area(&a, &rb) - 1.0).abs() < 1e-9);
        assert!((raster_intersection_area(&a, &b, 300) - 1.0).abs() < 0.03);
        assert_eq!(convex_intersection_area(&a, &sq(5.0, 5.0, 6.0, 6.0)), 0.0);
    }

    #[test]
    fn bow_tie_is_self_intersecting_and_square_is_not() {
        let bow = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(1.0, 0.0),
            Point::new(0.0, 1.0),
        ];
        assert!(quad_self_intersects(&bow));
        assert!(!quad_self_intersects(&sq(0.0, 0.0, 1.0, 1.0)));
        assert!(is_convex(&sq(0.0, 0.0, 1.0, 1.0)));
        let dart = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 0.0),
            Point::new(0.3, 0.3),
            Point::new(0.0, 1.0),
        ];
        assert!(!is_convex(&dart));
    }
}
