//! Labelled photos for evaluation: `DIR/<label>/*.jpg` folders, or a regions file (JSON list of
//! `{"path", "label", "regions": [[x0,y0,x1,y1], ...]}`, paths relative to DIR) where each region is a
//! sample; and the mapping of data labels onto model classes (a label is a class, or an alias for a set
//! of classes given as `LABEL=CLASS[,CLASS]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::region::{Rect, Region, RegionError};

/// Image file extensions taken from label folders (case-insensitive).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("cannot read data folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data folder {0} has no label sub-folders with images (expected DIR/<label>/*.jpg)")]
    Empty(PathBuf),
    #[error("cannot read regions file {path}: {source}")]
    ReadRegions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("regions file {path}: {message}")]
    ParseRegions { path: PathBuf, message: String },
    #[error("regions file {path}: entry {index} ({entry}) has no regions (`\"regions\": []`)")]
    NoRegions {
        path: PathBuf,
        index: usize,
        entry: String,
    },
    #[error(
        "regions file {0} lists no entries (expected [{{\"path\", \"label\", \"regions\"}}, ...])"
    )]
    NoEntries(PathBuf),
    #[error("regions file {path}: entry {index} ({entry}): {source}")]
    BadRegion {
        path: PathBuf,
        index: usize,
        entry: String,
        #[source]
        source: RegionError,
    },
    #[error("--alias {0:?}: expected LABEL=CLASS[,CLASS...]")]
    AliasSyntax(String),
    #[error("--alias {alias:?}: `{class}` is not a model class; the model's classes are {classes}")]
    AliasClass {
        alias: String,
        class: String,
        classes: String,
    },
    #[error(
        "--alias {alias:?} mixes alert classes ({alert}) with others: a label must be all alert or all not"
    )]
    AliasMixed { alias: String, alert: String },
    #[error(
        "label `{label}` (e.g. {example}) is neither a model class nor an alias; known labels: {known}. Add --alias {label}=CLASS[,CLASS]"
    )]
    UnknownLabel {
        label: String,
        example: String,
        known: String,
    },
}

/// One thing to classify.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Absolute (or DIR-joined) path of the image.
    pub path: PathBuf,
    /// Path as shown in output: relative to DIR.
    pub display: String,
    pub label: String,
    /// The region as given (before the margin).
    pub region: Region,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DatasetError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// `DIR/<label>/*.{jpg,jpeg,png}`, sorted, whole image as the region.
pub fn from_folders(dir: &Path) -> Result<Vec<Sample>, DatasetError> {
    let mut out = Vec::new();
    for sub in read_dir_sorted(dir)? {
        if !sub.is_dir() {
            continue;
        }
        let Some(label) = sub.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        for f in read_dir_sorted(&sub)? {
            if f.is_file() && is_image(&f) {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push(Sample {
                    display: format!("{label}/{name}"),
                    path: f,
                    label: label.clone(),
                    region: Region::Rect(Rect::FULL),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(DatasetError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionsEntry {
    path: String,
    label: String,
    regions: Vec<[f64; 4]>,
}

/// The samples of a regions file: one per region, paths relative to `dir`.
pub fn from_regions_file(dir: &Path, file: &Path) -> Result<Vec<Sample>, DatasetError> {
    let text = std::fs::read_to_string(file).map_err(|source| DatasetError::ReadRegions {
        path: file.to_path_buf(),
        source,
    })?;
    let entries: Vec<RegionsEntry> =
        serde_json::from_str(&text).map_err(|e| DatasetError::ParseRegions {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
    if entries.is_empty() {
        return Err(DatasetError::NoEntries(file.to_path_buf()));
    }
    let mut out = Vec::new();
    for (index, e) in entries.into_iter().enumerate() {
        if e.regions.is_empty() {
            return Err(DatasetError::NoRegions {
                path: file.to_path_buf(),
                index,
                entry: e.path.clone(),
            });
        }
        for r in &e.regions {
            let rect = Rect::from_array(*r).map_err(|source| DatasetError::BadRegion {
                path: file.to_path_buf(),
                index,
                entry: e.path.clone(),
                source,
            })?;
            out.push(Sample {
                path: dir.join(&e.path),
                display: e.path.clone(),
                label: e.label.clone(),
                region: Region::Rect(rect),
            });
        }
    }
    Ok(out)
}

/// What a data label means in terms of model classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Class indices that count as a correct prediction.
    pub classes: Vec<usize>,
    /// Whether the label means "needs cleaning".
    pub alert: bool,
}

/// Model classes plus aliases.
#[derive(Debug, Clone)]
pub struct LabelMap {
    classes: Vec<String>,
    alert: Vec<usize>,
    aliases: BTreeMap<String, Vec<usize>>,
}

impl LabelMap {
    pub fn new(classes: &[String], alert: &[usize]) -> LabelMap {
        LabelMap {
            classes: classes.to_vec(),
            alert: alert.to_vec(),
            aliases: BTreeMap::new(),
        }
    }

    /// Adds `LABEL=CLASS[,CLASS]`.
    pub fn add_alias(&mut self, spec: &str) -> Result<(), DatasetError> {
        let (label, classes) = spec
            .split_once('=')
            .ok_or_else(|| DatasetError::AliasSyntax(spec.into()))?;
        let label = label.trim();
        if label.is_empty() {
            return Err(DatasetError::AliasSyntax(spec.into()));
        }
        let mut idx = Vec::new();
        for c in classes.split(',').map(str::trim) {
            match self.classes.iter().position(|k| k == c) {
                Some(i) => idx.push(i),
                None => {
                    return Err(DatasetError::AliasClass {
                        alias: spec.into(),
                        class: c.into(),
                        classes: self.classes.join(", "),
                    });
                }
            }
        }
        let n_alert = idx.iter().filter(|i| self.alert.contains(i)).count();
        if n_alert != 0 && n_alert != idx.len() {
            return Err(DatasetError::AliasMixed {
                alias: spec.into(),
                alert: self
                    .alert
                    .iter()
                    .map(|&i| self.classes[i].as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
        self.aliases.insert(label.to_string(), idx);
        Ok(())
    }

    /// Every label this map knows: classes, then aliases.
    pub fn known(&self) -> Vec<String> {
        let mut k = self.classes.clone();
        k.extend(
            self.aliases
                .keys()
                .filter(|a| !self.classes.contains(a))
                .cloned(),
        );
        k
    }

    pub fn truth(&self, label: &str) -> Option<Truth> {
        let classes = match self.aliases.get(label) {
            Some(c) => c.clone(),
            None => vec![self.classes.iter().position(|c| c == label)?],
        };
        let alert = classes.iter().all(|i| self.alert.contains(i));
        Some(Truth { classes, alert })
    }

    /// Checks every sample's label; the first unknown label is an error listing the known ones.
    pub fn check(&self, samples: &[Sample]) -> Result<(), DatasetError> {
        for s in samples {
            if self.truth(&s.label).is_none() {
                return Err(DatasetError::UnknownLabel {
                    label: s.label.clone(),
                    example: s.display.clone(),
                    known: self.known().join(", "),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> LabelMap {
        let classes: Vec<String> = ["empty", "partial", "full"].map(String::from).to_vec();
        LabelMap::new(&classes, &[2])
    }

    #[test]
    fn aliases_map_labels_to_classes() {
        let mut m = map();
        m.add_alias("not_full=empty,partial").unwrap();
        m.add_alias("dirty=full").unwrap();
        assert_eq!(
            m.truth("not_full"),
            Some(Truth {
                classes: vec![0, 1],
                alert: false
            })
        );
        assert_eq!(
            m.truth("dirty"),
            Some(Truth {
                classes: vec![2],
                alert: true
            })
        );
        assert_eq!(
            m.truth("partial"),
            Some(Truth {
                classes: vec![1],
                alert: false
            })
        );
        assert_eq!(m.truth("clean"), None);
    }

    #[test]
    fn bad_aliases() {
        let mut m = map();
        assert!(matches!(
            m.add_alias("x"),
            Err(DatasetError::AliasSyntax(_))
        ));
        let e = m.add_alias("x=nope").unwrap_err().to_string();
        assert!(
            e.contains("nope") && e.contains("empty, partial, full"),
            "{e}"
        );
        assert!(matches!(
            m.add_alias("x=partial,full"),
            Err(DatasetError::AliasMixed { .. })
        ));
    }

    #[test]
    fn unknown_label_lists_known_ones() {
        let mut m = map();
        m.add_alias("clean=empty,partial").unwrap();
        let s = Sample {
            path: "d/dirty/a.jpg".into(),
            display: "dirty/a.jpg".into(),
            label: "dirty".into(),
            region: Region::Rect(Rect::FULL),
        };
        let e = m.check(&[s]).unwrap_err().to_string();
        assert!(
            e.contains("`dirty`") && e.contains("empty, partial, full, clean"),
            "{e}"
        );
    }
}
