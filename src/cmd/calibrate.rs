//! `binwatch calibrate snapshot|add|preview|check`: define a camera's bin regions from the command
//! line, see them, and know later whether the camera still looks where it did (see
//! [`crate::calibrate`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use image::RgbImage;

use crate::calibrate::compare::{CompareConfig, Reference};
use crate::calibrate::edit::{BinSpec, Shape, upsert_bin};
use crate::calibrate::geometry_check::{Finding, Severity};
use crate::calibrate::preview::{
    ModelCrop, PreviewBin, PreviewOptions, render_preview, save_preview,
};
use crate::calibrate::reference::{self, write_atomic};
use crate::calibrate::watch::{camera_regions, geometry};
use crate::classify::{Classifier, Options};
use crate::config::{self, Camera, Config};

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    #[command(subcommand)]
    pub command: CalibrateCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CalibrateCommand {
    /// Grab one frame from the camera and keep it as its reference (calibration/<camera>.ref.*).
    Snapshot(SnapshotArgs),
    /// Write or replace a bin's region in the config (comments and layout kept).
    Add(AddArgs),
    /// Render the reference (or a live frame) with each bin's outline, id and model crop.
    Preview(PreviewArgs),
    /// Check the regions' geometry and compare a live frame with the reference (moved, covered,
    /// defocused); exits 1 on any error.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// The config file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// The camera's name in the config.
    #[arg(long)]
    pub camera: String,
    /// Where to write the image (default: calibration/<camera>.ref.jpg or .png beside the config).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    #[arg(long)]
    pub camera: String,
    /// The bin's id (an existing bin with this id is replaced).
    #[arg(long)]
    pub bin: String,
    /// x0,y0,x1,y1 (normalised 0..1, or pixels of the reference with --pixels).
    #[arg(
        long,
        conflicts_with = "quad",
        required_unless_present = "quad",
        allow_hyphen_values = true
    )]
    pub rect: Option<String>,
    /// x1,y1,...,x4,y4: four corners clockwise from top-left (rectified by perspective).
    #[arg(long, allow_hyphen_values = true)]
    pub quad: Option<String>,
    /// The coordinates are pixels of the camera's reference image.
    #[arg(long)]
    pub pixels: bool,
    /// Context margin around the region (fraction of its size per side, 0..=5; default: the model's).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::config::parse_margin)]
    pub margin: Option<f64>,
    #[arg(long, allow_hyphen_values = true, requires = "lon")]
    pub lat: Option<f64>,
    #[arg(long, allow_hyphen_values = true, requires = "lat")]
    pub lon: Option<f64>,
    /// Street address for the work order.
    #[arg(long)]
    pub address: Option<String>,
    /// Print the new config instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PreviewArgs {
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    #[arg(long)]
    pub camera: String,
    /// The PNG to write.
    #[arg(long, short = 'o', default_value = "preview.png")]
    pub output: PathBuf,
    /// Classify each bin and show its level and p(full).
    #[arg(long)]
    pub classify: bool,
    /// Grab a live frame from the camera instead of using the reference.
    #[arg(long, conflicts_with = "frame")]
    pub live: bool,
    /// Use this image file as the frame.
    #[arg(long, value_name = "IMAGE")]
    pub frame: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Only this camera (default: every camera).
    #[arg(long)]
    pub camera: Option<String>,
    /// Compare this image file instead of grabbing a live frame (needs --camera).
    #[arg(
        long,
        value_name = "IMAGE",
        requires = "camera",
        conflicts_with = "no_live"
    )]
    pub frame: Option<PathBuf>,
    /// Geometry checks only (no live frame).
    #[arg(long)]
    pub no_live: bool,
}

pub fn run(args: &CalibrateArgs) -> Result<ExitCode> {
    match &args.command {
        CalibrateCommand::Snapshot(a) => snapshot(a),
        CalibrateCommand::Add(a) => add(a),
        CalibrateCommand::Preview(a) => preview(a),
        CalibrateCommand::Check(a) => check(a),
    }
}

fn base_of(config: &Path) -> &Path {
    config.parent().unwrap_or(Path::new(""))
}

fn load_config(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

fn find_camera<'a>(cfg: &'a Config, name: &str) -> Result<&'a Camera> {
    cfg.cameras
        .iter()
        .find(|c| c.name == name)
        .with_context(|| {
            let names: Vec<&str> = cfg.cameras.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no camera `{name}` in the config; cameras: {}",
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            )
        })
}

fn print_findings(findings: &[Finding]) -> usize {
    for f in findings {
        println!("  {f}");
    }
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}

fn snapshot(a: &SnapshotArgs) -> Result<ExitCode> {
    let cfg = load_config(&a.config)?;
    let base = base_of(&a.config);
    let cam = find_camera(&cfg, &a.camera)?;
    let previous = reference::read_sidecar(&cam.name, base).ok().flatten();
    let grabbed = reference::grab(cam, base)?;
    let analysed = Reference::new(
        &cam.name,
        &grabbed.rgb,
        &camera_regions(&cfg, &cam.name),
        &CompareConfig::default(),
    )?;
    let (path, sc) = reference::store(
        &cam.name,
        base,
        &grabbed,
        a.output.as_deref(),
        analysed.sharpness(),
        analysed.focus_check_reliable(),
    )?;
    println!(
        "camera '{}': reference {} ({}x{}, sha256 {}, {} {})",
        cam.name,
        path.display(),
        sc.width,
        sc.height,
        &sc.sha256[..12],
        sc.source_kind,
        sc.source
    );
    println!(
        "  sidecar {}",
        reference::sidecar_path(base, &cam.name).display()
    );
    if let Some((_, old)) = previous
        && (old.width, old.height) != (sc.width, sc.height)
    {
        println!(
            "  note: the previous reference was {}x{}; regions are normalised, check them with `calibrate preview`",
            old.width, old.height
        );
    }
    if !sc.focus_check_reliable {
        println!(
            "  warning: this frame has little fine detail (sharpness {:.4}); `calibrate check` cannot tell a defocused camera from it. Take the reference in good light, in focus.",
            sc.sharpness
        );
    }
    let findings = geometry(&cfg, &cam.name, sc.width, sc.height);
    if !findings.is_empty() {
        println!("  the camera's bins at this resolution:");
        print_findings(&findings);
    }
    Ok(ExitCode::SUCCESS)
}

fn add(a: &AddArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read config {}", a.config.display()))?;
    let base = base_of(&a.config);
    let mut shape = match (&a.rect, &a.quad) {
        (Some(r), _) => Shape::parse(r, false)?,
        (None, Some(q)) => Shape::parse(q, true)?,
        (None, None) => bail!("give --rect x0,y0,x1,y1 or --quad x1,y1,...,x4,y4"),
    };
    if a.pixels {
        let Some((img, sc)) = reference::read_sidecar(&a.camera, base)? else {
            bail!(
                "--pixels needs camera '{}''s reference image to know its size; take it first with `binwatch calibrate snapshot --config {} --camera {}`",
                a.camera,
                a.config.display(),
                a.camera
            );
        };
        let px = shape;
        shape = shape.from_pixels(sc.width, sc.height);
        println!(
            "pixels {px} of {} ({}x{}) -> {}",
            img.display(),
            sc.width,
            sc.height,
            shape.rounded()
        );
    }
    let shape = shape.rounded();
    let spec = BinSpec {
        id: a.bin.clone(),
        camera: a.camera.clone(),
        shape,
        margin: a.margin,
        lat: a.lat,
        lon: a.lon,
        address: a.address.clone(),
    };
    let edited = upsert_bin(&text, &spec)?;
    // The core's checks, before and after: refuse anything the edit introduced.
    let (_, before) = config::check(&text, base);
    let (cfg, after) = config::check(&edited.text, base);
    let key = format!("bins[{}]", edited.index);
    let old: Vec<(&str, &str)> = before
        .iter()
        .map(|p| (p.key.as_str(), p.message.as_str()))
        .collect();
    let new_problems: Vec<&config::Problem> = after
        .iter()
        .filter(|p| {
            p.key == key
                || p.key.starts_with(&format!("{key}."))
                || !old.contains(&(p.key.as_str(), p.message.as_str()))
        })
        .collect();
    if !new_problems.is_empty() {
        for p in &new_problems {
            eprintln!("{}: {p}", a.config.display());
        }
        if let Shape::Quad(q) = shape {
            let ordered = Shape::quad_in_order(q);
            if ordered != q {
                let flat: Vec<String> = ordered.iter().flatten().map(|v| v.to_string()).collect();
                eprintln!(
                    "hint: the same corners clockwise from top-left are --quad {} (normalised)",
                    flat.join(",")
                );
            }
        }
        bail!(
            "bin '{}' not written: the config would have {} new problem(s)",
            a.bin,
            new_problems.len()
        );
    }
    // Pixel-level checks against the reference, if there is one.
    if let (Some(cfg), Some((_, sc))) = (cfg, reference::read_sidecar(&a.camera, base)?) {
        let findings: Vec<Finding> = geometry(&cfg, &a.camera, sc.width, sc.height)
            .into_iter()
            .filter(|f| {
                f.bin.as_deref() == Some(a.bin.as_str())
                    || f.message.contains(&format!("'{}'", a.bin))
            })
            .collect();
        let errors = print_findings(&findings);
        if errors > 0 {
            bail!(
                "bin '{}' not written: {errors} geometry error(s) in the {}x{} reference",
                a.bin,
                sc.width,
                sc.height
            );
        }
    }
    for p in &before {
        eprintln!("note (already in the file): {}: {p}", a.config.display());
    }
    if a.dry_run {
        print!("{}", edited.text);
        return Ok(ExitCode::SUCCESS);
    }
    write_atomic(&a.config, edited.text.as_bytes())
        .with_context(|| format!("cannot write {}", a.config.display()))?;
    println!(
        "{}: bin '{}' {} ({} on camera '{}')",
        a.config.display(),
        a.bin,
        if edited.replaced { "replaced" } else { "added" },
        shape,
        a.camera
    );
    Ok(ExitCode::SUCCESS)
}

/// The model's default margin and classifier, if it loads.
fn load_classifier(cfg: &Config, base: &Path) -> Result<Classifier> {
    let opts = Options {
        ort_lib: cfg.model.onnxruntime.as_ref().map(|p| base.join(p)),
        threads: cfg.model.threads,
    };
    Ok(Classifier::load(&cfg.model_path(base), &opts)?)
}

fn preview(a: &PreviewArgs) -> Result<ExitCode> {
    let cfg = load_config(&a.config)?;
    let base = base_of(&a.config);
    let cam = find_camera(&cfg, &a.camera)?;
    let (frame, what): (RgbImage, String) = if let Some(f) = &a.frame {
        (crate::frame::load(f)?, f.display().to_string())
    } else if a.live {
        let g = reference::grab(cam, base)?;
        (g.rgb, format!("live {}", g.origin))
    } else {
        let (img, path, sc) = reference::load(&cam.name, base)?;
        (
            img,
            format!("reference {} ({})", path.display(), sc.taken_at),
        )
    };
    let bins: Vec<&config::Bin> = cfg.bins.iter().filter(|b| b.camera == cam.name).collect();
    let mut classifier = if a.classify {
        Some(load_classifier(&cfg, base).context("--classify needs the model")?)
    } else {
        None
    };
    let default_margin = classifier
        .as_ref()
        .and_then(|c| c.info().default_margin)
        .unwrap_or(DEFAULT_MARGIN);
    let mut pbins: Vec<PreviewBin> = bins
        .iter()
        .filter_map(|b| {
            Some(PreviewBin {
                id: b.id.clone(),
                region: b.region()?,
                margin: b.margin.unwrap_or(default_margin),
                caption: None,
            })
        })
        .collect();
    if let Some(c) = classifier.as_mut() {
        let regions: Vec<crate::region::Region> = pbins
            .iter()
            .map(|b| b.region.with_margin(b.margin).unwrap_or(b.region))
            .collect();
        let preds = c.classify(&frame, &regions)?;
        let info = c.info().clone();
        let alert_name = info
            .alert
            .iter()
            .map(|&i| info.classes[i].as_str())
            .collect::<Vec<_>>()
            .join("+");
        for (b, p) in pbins.iter_mut().zip(&preds) {
            let p_alert: f32 = info.alert.iter().map(|&i| p.probabilities[i]).sum();
            b.caption = Some(format!("{} p({alert_name})={p_alert:.2}", p.level(&info)));
            println!(
                "bin '{}': {} p({alert_name})={p_alert:.3}",
                b.id,
                p.level(&info)
            );
        }
    } else {
        for b in pbins.iter_mut() {
            b.caption = Some(format!("margin {:.2}", b.margin));
        }
    }
    let size = classifier
        .as_ref()
        .map(|c| c.info().width as u32)
        .unwrap_or(224);
    let opts = PreviewOptions {
        title: Some(format!(
            "camera {}   {}x{}   {} bin{}",
            cam.name,
            frame.width(),
            frame.height(),
            pbins.len(),
            if pbins.len() == 1 { "" } else { "s" }
        )),
        ..PreviewOptions::default()
    };
    let img = render_preview(
        &cam.name,
        &frame,
        &pbins,
        &ModelCrop {
            frame: &frame,
            size,
        },
        &opts,
    )?;
    save_preview(&cam.name, &img, &a.output)?;
    println!(
        "{}: {}x{} preview of camera '{}' ({what}), {} bin(s)",
        a.output.display(),
        img.width(),
        img.height(),
        cam.name,
        pbins.len()
    );
    let findings = geometry(&cfg, &cam.name, frame.width(), frame.height());
    print_findings(&findings);
    Ok(ExitCode::SUCCESS)
}

/// The context margin shown when the model is not loaded (models/CONTRACT.md, `default_margin`).
const DEFAULT_MARGIN: f64 = 0.5;

fn check(a: &CheckArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read config {}", a.config.display()))?;
    let base = base_of(&a.config);
    let (cfg, problems) = config::check(&text, base);
    for p in &problems {
        println!("error: {}:{p}", a.config.display());
    }
    let Some(cfg) = cfg else {
        println!(
            "{}: {} config problem(s); fix them first (`binwatch check-config`)",
            a.config.display(),
            problems.len()
        );
        return Ok(ExitCode::FAILURE);
    };
    let cameras: Vec<&Camera> = match &a.camera {
        Some(n) => vec![find_camera(&cfg, n)?],
        None => cfg.cameras.iter().collect(),
    };
    let mut failed = 0usize;
    for cam in cameras {
        let mut errors = 0usize;
        println!("camera '{}'", cam.name);
        let reference = match reference::load(&cam.name, base) {
            Ok(r) => Some(r),
            Err(e) => {
                println!("  error: {e}");
                errors += 1;
                None
            }
        };
        let Some((ref_img, ref_path, sc)) = reference else {
            failed += 1;
            println!("camera '{}': FAILED", cam.name);
            continue;
        };
        println!(
            "  reference {} ({}x{}, taken {})",
            ref_path.display(),
            sc.width,
            sc.height,
            sc.taken_at
        );
        let findings = geometry(&cfg, &cam.name, sc.width, sc.height);
        if findings.is_empty() {
            println!(
                "  geometry: ok ({} bin(s))",
                cfg.bins.iter().filter(|b| b.camera == cam.name).count()
            );
        }
        errors += print_findings(&findings);
        if !a.no_live {
            let live = match &a.frame {
                Some(f) => crate::frame::load(f)
                    .map(|img| (img, f.display().to_string()))
                    .map_err(anyhow::Error::from),
                None => reference::grab(cam, base)
                    .map(|g| (g.rgb, g.origin))
                    .map_err(anyhow::Error::from),
            };
            match live.and_then(|(img, origin)| {
                let r = Reference::new(
                    &cam.name,
                    &ref_img,
                    &camera_regions(&cfg, &cam.name),
                    &CompareConfig::default(),
                )?;
                Ok((r.compare(&img)?, origin))
            }) {
                Ok((c, origin)) => {
                    println!("  live frame {origin}:");
                    for line in c.explanation.lines() {
                        println!("  {line}");
                    }
                    if !c.verdict.is_ok() {
                        println!("  error: camera '{}' {}", cam.name, c.verdict);
                        errors += 1;
                    }
                }
                Err(e) => {
                    println!(
                        "  error: live comparison: {}",
                        crate::errtext::chain_anyhow(&e)
                    );
                    errors += 1;
                }
            }
        }
        if errors > 0 {
            failed += 1;
            println!("camera '{}': FAILED ({errors} error(s))", cam.name);
        } else {
            println!("camera '{}': OK", cam.name);
        }
    }
    Ok(if failed > 0 || !problems.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
