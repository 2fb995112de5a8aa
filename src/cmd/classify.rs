//! `binwatch classify IMAGE`: the level and class probabilities of one photo, or of one region of it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::classify::Classifier;
use crate::cmd::ModelArgs;
use crate::region::{Quad, Rect, Region};

#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// The photo (JPEG or PNG).
    pub image: PathBuf,
    /// Region x0,y0,x1,y1 in 0..1 (default: the whole image).
    #[arg(long, conflicts_with = "quad", allow_hyphen_values = true)]
    pub rect: Option<String>,
    /// Quad x1,y1,...,x4,y4 in 0..1, clockwise from top-left, rectified by perspective.
    #[arg(long, allow_hyphen_values = true)]
    pub quad: Option<String>,
    /// Context margin around the region (fraction of its width/height per side); default: the model's
    /// `default_margin` for a region, 0 for the whole image. 0..=5, as config key bins.margin.
    #[arg(long, allow_hyphen_values = true, value_parser = crate::config::parse_margin)]
    pub margin: Option<f64>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ClassifyArgs) -> Result<ExitCode> {
    let region = match (&args.rect, &args.quad) {
        (Some(r), _) => Region::Rect(Rect::parse(r).context("--rect")?),
        (_, Some(q)) => Region::Quad(Quad::parse(q).context("--quad")?),
        _ => Region::Rect(Rect::FULL),
    };
    let mut classifier = Classifier::load(&args.model.model_path()?, &args.model.options())?;
    let info = classifier.info().clone();
    let is_region = args.rect.is_some() || args.quad.is_some();
    let margin = args.margin.unwrap_or(if is_region {
        info.default_margin.unwrap_or(0.0)
    } else {
        0.0
    });
    let widened = region.with_margin(margin).context("--margin")?;
    let frame = crate::frame::load(&args.image)?;
    let pred = classifier.classify(&frame, &[widened])?.remove(0);
    let level = pred.level(&info);
    if args.json {
        let probs: serde_json::Map<String, serde_json::Value> = info
            .classes
            .iter()
            .zip(&pred.probabilities)
            .map(|(c, p)| (c.clone(), serde_json::json!(p)))
            .collect();
        let v = serde_json::json!({
            "image": args.image.display().to_string(),
            "region": region.coords(),
            "margin": margin,
            "level": level,
            "alert": pred.alert,
            "probabilities": probs,
            "model": {"path": info.path.display().to_string(), "sha256": info.sha256, "model_version": info.model_version},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: {level}{}",
            args.image.display(),
            if pred.alert { " (needs cleaning)" } else { "" }
        );
        for (c, p) in info.classes.iter().zip(&pred.probabilities) {
            println!("  {c:>10} {p:.4}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
