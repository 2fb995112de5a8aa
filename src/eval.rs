//! Pure evaluation metrics: confusion matrix (labels x model classes), the alert decision ("needs
//! cleaning") as a binary classifier (precision, recall, F1, balanced accuracy) and latency percentiles.
//! No I/O here; `cmd/eval.rs` feeds it and `report.rs` shows it.

use serde::Serialize;

/// Counts of the alert decision against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AlertCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl AlertCounts {
    pub fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }

    pub fn stats(&self) -> AlertStats {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        let specificity = ratio(self.tn, self.tn + self.fp);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        // With only one kind of truth present, balanced accuracy is the rate on that kind.
        let balanced_accuracy = match (self.tp + self.fn_ > 0, self.tn + self.fp > 0) {
            (true, true) => (recall + specificity) / 2.0,
            (true, false) => recall,
            (false, true) => specificity,
            (false, false) => 0.0,
        };
        AlertStats {
            tp: self.tp,
            fp: self.fp,
            tn: self.tn,
            fn_: self.fn_,
            precision,
            recall,
            f1,
            balanced_accuracy,
        }
    }
}

/// The alert decision's figures. Ratios with a zero denominator are 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertStats {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub balanced_accuracy: f64,
}

/// Rows: the data's labels (folder names or aliases); columns: the model's classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub classes: Vec<String>,
    pub matrix: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(labels: Vec<String>, classes: Vec<String>) -> Confusion {
        let matrix = vec![vec![0; classes.len()]; labels.len()];
        Confusion {
            labels,
            classes,
            matrix,
        }
    }

    /// Counts one sample; `label` and `class` are indices.
    pub fn add(&mut self, label: usize, class: usize) {
        self.matrix[label][class] += 1;
    }

    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }

    pub fn row_total(&self, label: usize) -> u64 {
        self.matrix[label].iter().sum()
    }
}

/// Percentile by linear interpolation between closest ranks (`p` in 0..=100); 0 for no data.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_stats_hand_made() {
        // 8 true alerts, 6 caught; 12 clean, 2 false alarms
        let c = AlertCounts {
            tp: 6,
            fn_: 2,
            tn: 10,
            fp: 2,
        };
        let s = c.stats();
        assert_eq!(s.precision, 0.75);
        assert_eq!(s.recall, 0.75);
        assert!((s.f1 - 0.75).abs() < 1e-12);
        assert!((s.balanced_accuracy - (0.75 + 10.0 / 12.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn alert_stats_degenerate() {
        let s = AlertCounts::default().stats();
        assert_eq!(
            (s.precision, s.recall, s.f1, s.balanced_accuracy),
            (0.0, 0.0, 0.0, 0.0)
        );
        let mut c = AlertCounts::default();
        c.add(false, false);
        c.add(false, true);
        let s = c.stats();
        assert_eq!(s.precision, 0.0);
        assert_eq!(s.balanced_accuracy, 0.5);
    }

    #[test]
    fn confusion_counts() {
        let mut m = Confusion::new(
            vec!["clean".into(), "dirty".into()],
            vec!["empty".into(), "partial".into(), "full".into()],
        );
        m.add(0, 0);
        m.add(0, 2);
        m.add(1, 2);
        m.add(1, 2);
        assert_eq!(m.matrix, vec![vec![1, 0, 1], vec![0, 0, 2]]);
        assert_eq!(m.total(), 4);
        assert_eq!(m.row_total(1), 2);
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert!((percentile(&v, 95.0) - 4.8).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}

/// What `binwatch eval --json` writes (the shape, plus a few extra keys).
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutput {
    pub model: ModelSummary,
    /// The data folder and, if any, the regions file.
    pub data: String,
    pub regions_file: Option<String>,
    pub margin: f64,
    /// Alias label -> model classes.
    pub aliases: std::collections::BTreeMap<String, Vec<String>>,
    /// Samples classified (skipped ones not included).
    pub samples: usize,
    pub alert: AlertStats,
    /// Share of samples whose predicted class is one of their label's classes.
    pub accuracy: f64,
    pub confusion: Confusion,
    pub latency_ms: Latency,
    pub skipped: Skipped,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub path: String,
    pub sha256: String,
    pub classes: Vec<String>,
    pub alert_classes: Vec<String>,
    pub model_version: String,
    /// Metadata `quantization` of the model (absent for a float model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
}

/// Per-sample times in milliseconds. `p50`/`p95`: resampling + inference, a batch's time divided by its
/// size; `decode_*`: JPEG/PNG decode of the photo.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub decode_p50: f64,
    pub decode_p95: f64,
    pub batch: usize,
    pub threads: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Skipped {
    pub count: usize,
    pub items: Vec<SkippedItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedItem {
    pub path: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub path: String,
    /// The region as given (before the margin): 4 numbers for a rectangle, 8 for a quad.
    pub region: Vec<f64>,
    pub label: String,
    pub predicted: String,
    pub correct: bool,
    pub alert_truth: bool,
    pub alert_predicted: bool,
    pub probabilities: std::collections::BTreeMap<String, f32>,
}
