//! `calibrate add`: writes or replaces one `[[bins]]` entry of the config with `toml_edit`, so the
//! file keeps its comments, key order and layout; only the touched values change (a replaced
//! value keeps the comment that followed it on its line).

use thiserror::Error;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

/// A bin's shape as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// `x0, y0, x1, y1`.
    Rect([f64; 4]),
    /// Four `x, y` corners, clockwise from top-left.
    Quad([[f64; 2]; 4]),
}

impl Shape {
    /// Parses `x0,y0,x1,y1` (4 numbers) as a rect or `x1,y1,...,x4,y4` (8 numbers) as a quad.
    pub fn parse(text: &str, quad: bool) -> Result<Shape, EditError> {
        let nums: Option<Vec<f64>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
        match (quad, nums.as_deref()) {
            (false, Some(&[a, b, c, d])) => Ok(Shape::Rect([a, b, c, d])),
            (true, Some(&[a, b, c, d, e, f, g, h])) => {
                Ok(Shape::Quad([[a, b], [c, d], [e, f], [g, h]]))
            }
            (false, _) => Err(EditError::BadShape(format!(
                "--rect {text:?}: expected 4 comma-separated numbers x0,y0,x1,y1"
            ))),
            (true, _) => Err(EditError::BadShape(format!(
                "--quad {text:?}: expected 8 comma-separated numbers x1,y1,x2,y2,x3,y3,x4,y4"
            ))),
        }
    }

    /// Pixel coordinates of a `width` x `height` image to normalised 0..1 ones.
    pub fn from_pixels(self, width: u32, height: u32) -> Shape {
        let (w, h) = (f64::from(width), f64::from(height));
        match self {
            Shape::Rect([a, b, c, d]) => Shape::Rect([a / w, b / h, c / w, d / h]),
            Shape::Quad(q) => Shape::Quad(q.map(|[x, y]| [x / w, y / h])),
        }
    }

    /// Rounded to 4 decimals (0.4 px at 4000 px), as stored in the file.
    pub fn rounded(self) -> Shape {
        let r = |v: f64| (v * 1e4).round() / 1e4;
        match self {
            Shape::Rect(a) => Shape::Rect(a.map(r)),
            Shape::Quad(q) => Shape::Quad(q.map(|p| p.map(r))),
        }
    }

    /// The same corners, clockwise (on screen) from the top-left-most one: the order the config
    /// wants. Used to suggest a fix when a quad was typed in another order.
    pub fn quad_in_order(q: [[f64; 2]; 4]) -> [[f64; 2]; 4] {
        let cx = q.iter().map(|p| p[0]).sum::<f64>() / 4.0;
        let cy = q.iter().map(|p| p[1]).sum::<f64>() / 4.0;
        let mut v = q.to_vec();
        // y points down: increasing atan2 angle runs clockwise on screen.
        v.sort_by(|a, b| {
            (a[1] - cy)
                .atan2(a[0] - cx)
                .total_cmp(&(b[1] - cy).atan2(b[0] - cx))
        });
        let first = (0..4)
            .min_by(|&a, &b| (v[a][0] + v[a][1]).total_cmp(&(v[b][0] + v[b][1])))
            .unwrap_or(0);
        v.rotate_left(first);
        [v[0], v[1], v[2], v[3]]
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Rect(a) => write!(f, "rect {},{},{},{}", a[0], a[1], a[2], a[3]),
            Shape::Quad(q) => {
                let p: Vec<String> = q.iter().map(|[x, y]| format!("{x},{y}")).collect();
                write!(f, "quad {}", p.join(","))
            }
        }
    }
}

/// What `calibrate add` writes for one bin; `None` fields are left as they are in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct BinSpec {
    pub id: String,
    pub camera: String,
    pub shape: Shape,
    pub margin: Option<f64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
}

#[derive(Debug, Error, PartialEq)]
pub enum EditError {
    #[error("{0}")]
    BadShape(String),
    #[error("the config is not valid TOML, fix it first: {0}")]
    Syntax(String),
    #[error(
        "`bins` in the config is not a list of [[bins]] tables (it is {0}); calibrate add only edits [[bins]] tables"
    )]
    BinsNotTables(String),
}

/// The edited file.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    /// Index of the bin in the file's `[[bins]]` list (the key path `bins[i]` of config problems).
    pub index: usize,
    /// Whether an existing bin with this id was replaced (else one was appended).
    pub replaced: bool,
}

fn float_array(v: &[f64]) -> Array {
    let mut a: Array = v.iter().copied().collect();
    a.fmt();
    a
}

fn shape_value(shape: &Shape) -> (&'static str, Value) {
    match shape {
        Shape::Rect(r) => ("region", Value::Array(float_array(r))),
        Shape::Quad(q) => {
            let mut outer: Array = q.iter().map(|p| Value::Array(float_array(p))).collect();
            outer.fmt();
            ("quad", Value::Array(outer))
        }
    }
}

/// Sets `key` to `value`, keeping the old value's decoration (spacing and a trailing comment).
fn set_keep_decor(t: &mut Table, key: &str, mut value: Value) {
    if let Some(old) = t.get(key).and_then(Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    t.insert(key, Item::Value(value));
}

/// Writes `spec` into the config text: replaces the `[[bins]]` table whose `id` matches (only the
/// keys `spec` sets change; `region`/`quad` swap if the shape kind changed), or appends a new
/// table after the last bin.
pub fn upsert_bin(text: &str, spec: &BinSpec) -> Result<Edited, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Syntax(e.to_string().trim().to_string()))?;
    let root = doc.as_table_mut();
    if !root.contains_key("bins") {
        root.insert("bins", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let bins = match root.get_mut("bins") {
        Some(Item::ArrayOfTables(a)) => a,
        Some(other) => return Err(EditError::BinsNotTables(other.type_name().to_string())),
        None => unreachable!("inserted above"),
    };
    let existing = bins
        .iter()
        .position(|t| t.get("id").and_then(Item::as_str) == Some(spec.id.as_str()));
    let (key, value) = shape_value(&spec.shape);
    let other = if key == "region" { "quad" } else { "region" };
    let index = match existing {
        Some(i) => {
            let t = bins.get_mut(i).expect("index from position");
            if t.get("camera").and_then(Item::as_str) != Some(spec.camera.as_str()) {
                set_keep_decor(t, "camera", Value::from(spec.camera.as_str()));
            }
            // A swap of kind takes the old key's place in the table (and its comment).
            if t.contains_key(other) && !t.contains_key(key) {
                let old_decor = t
                    .get(other)
                    .and_then(Item::as_value)
                    .map(|v| v.decor().clone());
                let pos = t.get_key_value(other).map(|(k, _)| k.clone());
                let mut value = value.clone();
                if let Some(d) = old_decor {
                    *value.decor_mut() = d;
                }
                // Rebuild the key order with the new key where the old one was.
                let names: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
                let entries: Vec<(toml_edit::Key, Item)> = names
                    .iter()
                    .filter_map(|n| t.get_key_value(n).map(|(k, v)| (k.clone(), v.clone())))
                    .collect();
                t.clear();
                for (k, v) in entries {
                    if Some(&k) == pos.as_ref() {
                        let mut nk = toml_edit::Key::new(key);
                        *nk.leaf_decor_mut() = k.leaf_decor().clone();
                        t.insert_formatted(&nk, Item::Value(value.clone()));
                    } else {
                        t.insert_formatted(&k, v);
                    }
                }
            } else {
                t.remove(other);
                set_keep_decor(t, key, value);
            }
            i
        }
        None => {
            let mut t = Table::new();
            t.insert("id", toml_edit::value(spec.id.as_str()));
            t.insert("camera", toml_edit::value(spec.camera.as_str()));
            t.insert(key, Item::Value(value));
            bins.push(t);
            bins.len() - 1
        }
    };
    let t = bins.get_mut(index).expect("just written");
    if let Some(m) = spec.margin {
        set_keep_decor(t, "margin", Value::from(m));
    }
    if let Some(v) = spec.lat {
        set_keep_decor(t, "lat", Value::from(v));
    }
    if let Some(v) = spec.lon {
        set_keep_decor(t, "lon", Value::from(v));
    }
    if let Some(a) = &spec.address {
        set_keep_decor(t, "address", Value::from(a.as_str()));
    }
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(Edited {
        text,
        index,
        replaced: existing.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"# site config
[[cameras]]
name = "a"   # the corner camera
source = { kind = "folder", path = "frames" }

[[bins]]
id = "a-1"
camera = "a"
region = [0.1, 0.2, 0.3, 0.4]   # x0, y0, x1, y1
margin = 0.5   # context

# trailing comment about sinks
[debounce]
min_frames = 3
"#;

    fn spec(id: &str, shape: Shape) -> BinSpec {
        BinSpec {
            id: id.into(),
            camera: "a".into(),
            shape,
            margin: None,
            lat: None,
            lon: None,
            address: None,
        }
    }

    #[test]
    fn replacing_keeps_comments_and_other_keys() {
        let e = upsert_bin(CFG, &spec("a-1", Shape::Rect([0.15, 0.25, 0.35, 0.45]))).unwrap();
        assert!(e.replaced);
        assert_eq!(e.index, 0);
        let want = CFG.replace("[0.1, 0.2, 0.3, 0.4]", "[0.15, 0.25, 0.35, 0.45]");
        assert_eq!(e.text, want);
    }

    #[test]
    fn appending_goes_after_the_last_bin() {
        let mut s = spec(
            "a-2",
            Shape::Quad([[0.5, 0.1], [0.9, 0.15], [0.85, 0.8], [0.55, 0.75]]),
        );
        s.margin = Some(0.25);
        s.address = Some("Calle 1".into());
        let e = upsert_bin(CFG, &s).unwrap();
        assert!(!e.replaced);
        assert_eq!(e.index, 1);
        assert!(
            e.text.starts_with(&CFG[..CFG.find("# trailing").unwrap()]),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("[[bins]]\nid = \"a-2\"\ncamera = \"a\"\nquad = [[0.5, 0.1], [0.9, 0.15], [0.85, 0.8], [0.55, 0.75]]\nmargin = 0.25\naddress = \"Calle 1\"\n"),
            "{}",
            e.text
        );
        assert!(
            e.text.find("a-2").unwrap() < e.text.find("[debounce]").unwrap(),
            "{}",
            e.text
        );
    }

    #[test]
    fn swapping_rect_for_quad_takes_its_place_and_comment() {
        let e = upsert_bin(
            CFG,
            &spec(
                "a-1",
                Shape::Quad([[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]]),
            ),
        )
        .unwrap();
        assert!(
            e.text.contains("camera = \"a\"\nquad = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]]   # x0, y0, x1, y1\nmargin = 0.5   # context\n"),
            "{}",
            e.text
        );
        assert!(!e.text.contains("region ="));
    }

    #[test]
    fn parse_pixels_and_order() {
        assert_eq!(
            Shape::parse("10,20,30,40", false)
                .unwrap()
                .from_pixels(100, 200),
            Shape::Rect([0.1, 0.1, 0.3, 0.2])
        );
        assert!(Shape::parse("1,2,3", false).is_err());
        assert!(
            Shape::parse("1,2,3,4", true)
                .unwrap_err()
                .to_string()
                .contains("8 comma")
        );
        let bow = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        assert_eq!(
            Shape::quad_in_order(bow),
            [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
        );
    }
}
