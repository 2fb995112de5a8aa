//! `binwatch eval`: classify labelled photos (label folders, or a regions file) and report how well the
//! model judges them: alert precision/recall, confusion matrix, latency, mistakes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};

use crate::classify::Classifier;
use crate::cmd::ModelArgs;
use crate::dataset::{self, LabelMap, Sample};
use crate::eval::{
    AlertCounts, Confusion, EvalOutput, Item, Latency, ModelSummary, Skipped, SkippedItem,
    percentile,
};
use crate::frame::{DecodeRequest, Decoded, FrameError, JpegDecoder, Scale};
use crate::pipeline::choose_scale;
use crate::region::RegionPlan;

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Data folder: DIR/<label>/*.jpg, or the folder the regions file's paths are relative to.
    #[arg(long)]
    pub data: PathBuf,
    /// LABEL=CLASS[,CLASS]: a data label that stands for a set of model classes (repeatable).
    #[arg(long = "alias", value_name = "LABEL=CLASS[,CLASS]")]
    pub aliases: Vec<String>,
    /// JSON list of {"path", "label", "regions": [[x0,y0,x1,y1], ...]}: one sample per region.
    #[arg(long)]
    pub regions: Option<PathBuf>,
    /// Context margin around each region, as a fraction of its width and height on each side (0..=5).
    #[arg(
        long,
        default_value_t = 0.0,
        allow_hyphen_values = true,
        value_parser = crate::config::parse_margin
    )]
    pub margin: f64,
    /// Write the results as JSON here.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Write report.md, confusion.png and mistakes.png into this folder.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Samples per inference run.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// `full`: decode every photo at full size (the model contract's preprocessing); `scaled`: decode
    /// JPEG at the DCT scale the daemon uses for the sample's region (the smallest n/8 that keeps the
    /// region at least --scale-ratio times the model's input size).
    #[arg(long, value_enum, default_value_t = DecodeMode::Full)]
    pub decode: DecodeMode,
    /// With `--decode scaled`: how many times the model's input size a region keeps (>= 1).
    #[arg(long, default_value_t = crate::pipeline::DEFAULT_SCALE_RATIO)]
    pub scale_ratio: f64,
}

/// How `binwatch eval` decodes photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecodeMode {
    Full,
    Scaled,
}

pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    let out = evaluate(args)?;
    print_summary(&out);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&out)?;
        std::fs::write(path, text)
            .with_context(|| format!("cannot write --json {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(dir) = &args.report {
        let title = match &args.regions {
            Some(r) => format!("{} (regions {})", args.data.display(), r.display()),
            None => args.data.display().to_string(),
        };
        let md = crate::report::write(dir, &out, &title, &args.data)?;
        eprintln!("wrote {}", md.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the evaluation and returns its results (no output written).
pub fn evaluate(args: &EvalArgs) -> Result<EvalOutput> {
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        args.scale_ratio.is_finite() && args.scale_ratio >= 1.0,
        "--scale-ratio {} must be a number >= 1",
        args.scale_ratio
    );
    anyhow::ensure!(
        args.margin.is_finite() && args.margin >= 0.0,
        "--margin {} must be a number >= 0",
        args.margin
    );
    let mut classifier = Classifier::load(&args.model.model_path()?, &args.model.options())?;
    let info = classifier.info().clone();
    let mut labels = LabelMap::new(&info.classes, &info.alert);
    for a in &args.aliases {
        labels.add_alias(a)?;
    }
    let samples = match &args.regions {
        Some(file) => dataset::from_regions_file(&args.data, file)?,
        None => dataset::from_folders(&args.data)?,
    };
    labels.check(&samples)?;

    let mut label_names: Vec<String> = Vec::new();
    for s in &samples {
        if !label_names.contains(&s.label) {
            label_names.push(s.label.clone());
        }
    }
    let known = labels.known();
    label_names.sort_by_key(|l| known.iter().position(|k| k == l).unwrap_or(usize::MAX));

    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(samples.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };

    let mut confusion = Confusion::new(label_names.clone(), info.classes.clone());
    let mut alert = AlertCounts::default();
    let mut items = Vec::with_capacity(samples.len());
    let mut skipped = Skipped::default();
    let mut latencies = Vec::new();
    let mut decode_ms = Vec::new();
    let mut correct = 0usize;

    // Samples of one photo are consecutive (regions file order); decode each photo once (per scale) and
    // share it.
    let mut cache: Option<(PathBuf, Scale, Rc<RgbImage>)> = None;
    let mut decoder = JpegDecoder::new();
    let input = (info.width, info.height);
    for chunk in samples.chunks(args.batch) {
        let mut frames: Vec<(usize, Rc<RgbImage>)> = Vec::with_capacity(chunk.len());
        for (k, s) in chunk.iter().enumerate() {
            let region = s.region.with_margin(args.margin)?;
            let t = Instant::now();
            let bytes = match std::fs::read(&s.path) {
                Ok(b) => b,
                Err(e) => {
                    let e = FrameError::Io {
                        path: s.path.clone(),
                        source: e,
                    };
                    progress.suspend(|| eprintln!("skipped {}: {e}", s.display));
                    skipped.items.push(SkippedItem {
                        path: s.display.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let scale = match args.decode {
                DecodeMode::Scaled if crate::frame::is_jpeg(&bytes) => decoder
                    .header(&s.path, &bytes)
                    .map(|h| choose_scale([&region], h.width, h.height, input, args.scale_ratio))
                    .unwrap_or(Scale::FULL),
                _ => Scale::FULL,
            };
            if let Some((p, sc, img)) = &cache
                && *p == s.path
                && *sc == scale
            {
                frames.push((k, Rc::clone(img)));
                continue;
            }
            let decoded = if scale == Scale::FULL {
                crate::frame::decode_bytes(&s.path, &bytes)
            } else {
                decode_scaled(&mut decoder, &s.path, &bytes, scale)
            };
            match decoded {
                Ok(img) => {
                    decode_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    let img = Rc::new(img);
                    cache = Some((s.path.clone(), scale, Rc::clone(&img)));
                    frames.push((k, img));
                }
                Err(e) => {
                    progress.suspend(|| eprintln!("skipped {}: {e}", s.display));
                    skipped.items.push(SkippedItem {
                        path: s.display.clone(),
                        error: e.to_string(),
                    });
                }
            }
        }
        progress.inc(chunk.len() as u64);
        if frames.is_empty() {
            continue;
        }
        let t = Instant::now();
        let plans: Vec<RegionPlan> = frames
            .iter()
            .map(|(k, img)| Ok(classifier.plan(&chunk[*k].region.with_margin(args.margin)?, img)))
            .collect::<Result<_>>()?;
        let batch: Vec<(&RgbImage, &RegionPlan)> =
            frames.iter().map(|(_, img)| &**img).zip(&plans).collect();
        let preds = classifier.classify_planned(&batch).with_context(|| {
            format!(
                "classifying {} and the rest of its batch",
                chunk[frames[0].0].display
            )
        })?;
        let per = t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64;
        for ((k, _), p) in frames.iter().zip(preds) {
            latencies.push(per);
            let s: &Sample = &chunk[*k];
            let truth = labels.truth(&s.label).expect("labels checked above");
            let row = label_names
                .iter()
                .position(|l| *l == s.label)
                .expect("label listed");
            confusion.add(row, p.class);
            alert.add(truth.alert, p.alert);
            let ok = truth.classes.contains(&p.class);
            correct += ok as usize;
            items.push(Item {
                path: s.display.clone(),
                region: s.region.coords(),
                label: s.label.clone(),
                predicted: info.classes[p.class].clone(),
                correct: ok,
                alert_truth: truth.alert,
                alert_predicted: p.alert,
                probabilities: info.classes.iter().cloned().zip(p.probabilities).collect(),
            });
        }
    }
    progress.finish_and_clear();
    skipped.count = skipped.items.len();
    if items.is_empty() {
        anyhow::bail!(no_usable_samples(&args.data, &skipped));
    }

    let aliases: BTreeMap<String, Vec<String>> = args
        .aliases
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(l, c)| {
            (
                l.trim().to_string(),
                c.split(',').map(|x| x.trim().to_string()).collect(),
            )
        })
        .collect();
    Ok(EvalOutput {
        model: ModelSummary {
            path: info.path.display().to_string(),
            sha256: info.sha256.clone(),
            classes: info.classes.clone(),
            alert_classes: info
                .alert
                .iter()
                .map(|&i| info.classes[i].clone())
                .collect(),
            model_version: info.model_version.clone(),
            quantization: info.quantization.clone(),
        },
        data: args.data.display().to_string(),
        regions_file: args.regions.as_ref().map(|r| r.display().to_string()),
        margin: args.margin,
        aliases,
        samples: items.len(),
        alert: alert.stats(),
        accuracy: if items.is_empty() {
            0.0
        } else {
            correct as f64 / items.len() as f64
        },
        confusion,
        latency_ms: Latency {
            p50: percentile(&latencies, 50.0),
            p95: percentile(&latencies, 95.0),
            decode_p50: percentile(&decode_ms, 50.0),
            decode_p95: percentile(&decode_ms, 95.0),
            batch: args.batch,
            threads: args.model.threads.max(1),
        },
        skipped,
        items,
    })
}

/// The error of a run where nothing could be scored: how many were skipped, and the first few of them.
fn no_usable_samples(data: &std::path::Path, skipped: &Skipped) -> String {
    const SHOWN: usize = 3;
    let mut msg = format!(
        "no usable samples in {}: {} skipped",
        data.display(),
        skipped.count
    );
    for item in skipped.items.iter().take(SHOWN) {
        msg.push_str(&format!("\n  {}: {}", item.path, item.error));
    }
    if skipped.count > SHOWN {
        msg.push_str(&format!("\n  ... and {} more", skipped.count - SHOWN));
    }
    msg
}

/// A JPEG decoded at `scale` as an image.
fn decode_scaled(
    decoder: &mut JpegDecoder,
    path: &std::path::Path,
    bytes: &[u8],
    scale: Scale,
) -> Result<RgbImage, FrameError> {
    let mut out = Decoded::default();
    let req = DecodeRequest {
        scale,
        luma: false,
        window: None,
    };
    decoder.decode(path, bytes, &req, &mut out)?;
    out.to_rgb_image().ok_or_else(|| FrameError::Jpeg {
        path: path.to_path_buf(),
        message: "short scanline data".into(),
    })
}

fn print_summary(out: &EvalOutput) {
    let a = &out.alert;
    println!(
        "model {} (version {}{})",
        out.model.path,
        out.model.model_version,
        out.model
            .quantization
            .as_deref()
            .map(|q| format!(", quantization {q}"))
            .unwrap_or_default()
    );
    println!(
        "{}: {} samples ({} skipped); alert precision {:.3} recall {:.3} F1 {:.3} balanced accuracy {:.3} (tp {} fp {} tn {} fn {}); label accuracy {:.3}; latency p50 {:.2} ms p95 {:.2} ms",
        out.data,
        out.samples,
        out.skipped.count,
        a.precision,
        a.recall,
        a.f1,
        a.balanced_accuracy,
        a.tp,
        a.fp,
        a.tn,
        a.fn_,
        out.accuracy,
        out.latency_ms.p50,
        out.latency_ms.p95
    );
    let c = &out.confusion;
    println!(
        "  {:>12} {}",
        "label\\pred",
        c.classes
            .iter()
            .map(|k| format!("{k:>9}"))
            .collect::<String>()
    );
    for (l, row) in c.labels.iter().zip(&c.matrix) {
        println!(
            "  {l:>12} {}",
            row.iter().map(|n| format!("{n:>9}")).collect::<String>()
        );
    }
}
