//! binwatch's side of `benches/compare.sh`: the daemon's frame pipeline (`binwatch::pipeline`: header,
//! thumbnail signatures and skip decisions, scaled and windowed JPEG decode, resampling, one batched
//! inference, a result per bin) over a workload made by `benches/workloads.py`.
//!
//! ```text
//! cargo bench --bench frames -- --workload target/bench/a.json [--model M] [--threads 1] [--json OUT]
//!     [--no-skip] [--full-decode] [--no-window] [--scale-ratio R] [--skip-threshold T] [--skip-max-age-s S]
//! ```
//!
//! Every frame is read into memory first; one untimed warm-up frame; then each frame is processed in
//! order, at its simulated capture time (`time_s`), and timed. Prints and writes JSON: frames/s, latency
//! p50/p95 per frame, CPU seconds per frame (getrusage), peak RSS (ru_maxrss), the per-stage breakdown,
//! skipped inferences, Rust-side heap allocations per frame, and every bin's decision per frame.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use binwatch::classify::{Classifier, Options};
use binwatch::pipeline::{
    CameraBins, DEFAULT_SCALE_RATIO, FrameData, FramePipeline, FrameReport, PipelineOptions,
    StageTimes,
};
use binwatch::region::{Rect, Region};
use binwatch::skip::SkipRule;
use binwatch::timestamp::Timestamp;
use clap::Parser;
use serde_json::{Value, json};

/// Counts the Rust side's heap allocations (ONNX Runtime and libjpeg allocate through malloc directly
/// and are not counted).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug, Parser)]
struct Args {
    /// Workload file written by benches/workloads.py (its frames are relative to its folder).
    #[arg(long)]
    workload: Option<PathBuf>,
    #[arg(long, default_value = "models/bin-fill.onnx")]
    model: PathBuf,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the results here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the model on every bin of every frame.
    #[arg(long)]
    no_skip: bool,
    /// Decode at full size.
    #[arg(long)]
    full_decode: bool,
    /// Decode whole frames (no window).
    #[arg(long)]
    no_window: bool,
    #[arg(long, default_value_t = DEFAULT_SCALE_RATIO)]
    scale_ratio: f64,
    #[arg(long, default_value_t = binwatch::config::DEFAULT_SKIP_THRESHOLD)]
    skip_threshold: f64,
    #[arg(long, default_value_t = binwatch::config::DEFAULT_SKIP_MAX_AGE_S)]
    skip_max_age_s: f64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Usage {
    cpu: Duration,
    max_rss_kb: i64,
}

fn usage() -> Usage {
    // SAFETY: getrusage fills the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kb: ru.ru_maxrss,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

struct Frame {
    file: String,
    bytes: Vec<u8>,
    time: Timestamp,
    ids: Vec<String>,
    labels: Vec<String>,
    regions: Vec<Region>,
}

fn load(workload: &Path) -> (String, Vec<Frame>) {
    let text = std::fs::read_to_string(workload)
        .unwrap_or_else(|e| panic!("{}: {e} (run benches/workloads.py)", workload.display()));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", workload.display()));
    let dir = workload.parent().unwrap_or(Path::new("."));
    let t0 = Timestamp::from_unix_secs(1_800_000_000);
    let frames = v["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no `frames` list", workload.display()))
        .iter()
        .map(|f| {
            let file = f["file"].as_str().expect("frame file").to_string();
            let path = dir.join(&file);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let bins = f["bins"].as_array().expect("bins");
            let regions = bins
                .iter()
                .map(|b| {
                    let r: Vec<f64> = b["region"]
                        .as_array()
                        .expect("region")
                        .iter()
                        .map(|x| x.as_f64().expect("number"))
                        .collect();
                    Region::Rect(
                        Rect::new(r[0], r[1], r[2], r[3])
                            .unwrap_or_else(|e| panic!("{file}: bin {}: {e}", b["id"])),
                    )
                })
                .collect();
            Frame {
                time: t0.plus(Duration::from_secs_f64(f["time_s"].as_f64().unwrap_or(0.0))),
                ids: bins
                    .iter()
                    .map(|b| b["id"].as_str().unwrap_or("?").to_string())
                    .collect(),
                labels: bins
                    .iter()
                    .map(|b| b["label"].as_str().unwrap_or("?").to_string())
                    .collect(),
                regions,
                file,
                bytes,
            }
        })
        .collect();
    (v["workload"].as_str().unwrap_or("?").to_string(), frames)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args = Args::parse();
    let Some(workload) = &args.workload else {
        eprintln!("frames: no --workload given; see benches/compare.sh (nothing to run)");
        return;
    };
    let (name, frames) = load(workload);
    let frame_bytes: usize = frames.iter().map(|f| f.bytes.len()).sum();
    let classifier = Classifier::load(
        &args.model,
        &Options {
            ort_lib: None,
            threads: args.threads,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let info = classifier.info().clone();
    let rule = SkipRule {
        threshold: args.skip_threshold as f32,
        max_age: Duration::from_secs_f64(args.skip_max_age_s),
    };
    let options = PipelineOptions {
        skip: (!args.no_skip).then_some(rule),
        scaled_decode: (!args.full_decode).then_some(args.scale_ratio),
        window_decode: !args.no_window,
    };
    let mut pipe = FramePipeline::new(classifier, options);
    let mut report = FrameReport::default();

    // warm-up (untimed): the first frame once, then its state is forgotten
    {
        let f = &frames[0];
        let mut bins = CameraBins::new(f.regions.clone(), options.skip);
        pipe.process(
            &mut bins,
            Path::new(&f.file),
            FrameData::Encoded(&f.bytes),
            f.time,
            &mut report,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    // a camera's bins stay while the regions stay (workload B); workload A changes them every frame
    let mut bins: Option<CameraBins> = None;
    let mut latencies = Vec::with_capacity(frames.len());
    let mut stages = StageTimes::default();
    let mut skipped = 0usize;
    let mut inferred = 0usize;
    let mut scales: HashMap<String, usize> = HashMap::new();
    let mut decisions = Vec::with_capacity(frames.len());
    let mut work = Duration::ZERO;
    // heap allocations inside FramePipeline::process (the harness's own bookkeeping is left out)
    let (mut allocs, mut alloc_bytes) = (0u64, 0u64);
    let before = usage();
    let wall = Instant::now();
    for f in &frames {
        let t = Instant::now();
        if bins
            .as_ref()
            .is_none_or(|b| b.regions() != f.regions.as_slice())
        {
            bins = Some(CameraBins::new(f.regions.clone(), options.skip));
        }
        let b = bins.as_mut().expect("set above");
        let allocs0 = ALLOCS.load(Ordering::Relaxed);
        let bytes0 = ALLOC_BYTES.load(Ordering::Relaxed);
        pipe.process(
            b,
            Path::new(&f.file),
            FrameData::Encoded(&f.bytes),
            f.time,
            &mut report,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        allocs += ALLOCS.load(Ordering::Relaxed) - allocs0;
        alloc_bytes += ALLOC_BYTES.load(Ordering::Relaxed) - bytes0;
        let dt = t.elapsed();
        work += dt;
        latencies.push(ms(dt));
        stages.add(&report.times);
        skipped += report.skipped();
        inferred += report.inferred.len() - report.skipped();
        let scale = report
            .decoded
            .map(|(s, _, _)| s.to_string())
            .unwrap_or_else(|| "none".into());
        *scales.entry(scale).or_default() += 1;
        decisions.push(json!({
            "file": f.file,
            "bins": f.ids.iter().zip(&f.labels).zip(&report.predictions).zip(&report.inferred)
                .map(|(((id, label), p), inf)| json!({
                    "id": id,
                    "label": label,
                    "alert": p.alert,
                    "p_alert": info.alert.iter().map(|&i| p.probabilities[i]).sum::<f32>(),
                    "inferred": inf,
                }))
                .collect::<Vec<_>>(),
        }));
    }
    let wall = wall.elapsed();
    let after = usage();
    let n = frames.len() as f64;
    latencies.sort_by(f64::total_cmp);
    let per = |d: Duration| ms(d) / n;
    let out = json!({
        "side": "binwatch",
        "workload": name,
        "model": args.model.display().to_string(),
        "model_version": info.model_version,
        "quantization": info.quantization,
        "threads": args.threads,
        "options": {
            "skip": options.skip.map(|r| json!({"threshold": r.threshold, "max_age_s": r.max_age.as_secs_f64()})),
            "scaled_decode_ratio": options.scaled_decode,
            "window_decode": options.window_decode,
        },
        "frames": frames.len(),
        "frames_mb": frame_bytes as f64 / 1048576.0,
        "fps": n / wall.as_secs_f64(),
        "latency_ms": {"p50": percentile(&latencies, 50.0), "p95": percentile(&latencies, 95.0),
                       "mean": ms(work) / n},
        "cpu_s_per_frame": (after.cpu - before.cpu).as_secs_f64() / n,
        "peak_rss_mb": after.max_rss_kb as f64 / 1024.0,
        "stages_ms_per_frame": {
            "thumbnail": per(stages.thumbnail),
            "signature": per(stages.signature),
            "decode": per(stages.decode),
            "resample": per(stages.resample),
            "inference": per(stages.inference),
            "rest": per(stages.rest()) + per(work.saturating_sub(stages.total)),
            "total": ms(work) / n,
        },
        "inferred": inferred,
        "skipped": skipped,
        "decode_scales": scales,
        "rust_allocations_per_frame": allocs as f64 / n,
        "rust_allocated_kb_per_frame": alloc_bytes as f64 / 1024.0 / n,
        "decisions": decisions,
    });
    let s = &out["stages_ms_per_frame"];
    println!(
        "binwatch {name} {}: {:.2} frames/s, p50 {:.1} ms, p95 {:.1} ms, CPU {:.1} ms/frame, peak RSS {:.0} MB; \
         per frame: thumbnail {:.2} signature {:.3} decode {:.2} resample {:.2} inference {:.2} rest {:.3} ms; \
         {inferred} inferred, {skipped} skipped; scales {}; {:.1} Rust heap allocations ({:.1} KB) per frame",
        args.model.display(),
        out["fps"].as_f64().unwrap_or(0.0),
        out["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        out["latency_ms"]["p95"].as_f64().unwrap_or(0.0),
        out["cpu_s_per_frame"].as_f64().unwrap_or(0.0) * 1e3,
        out["peak_rss_mb"].as_f64().unwrap_or(0.0),
        s["thumbnail"].as_f64().unwrap_or(0.0),
        s["signature"].as_f64().unwrap_or(0.0),
        s["decode"].as_f64().unwrap_or(0.0),
        s["resample"].as_f64().unwrap_or(0.0),
        s["inference"].as_f64().unwrap_or(0.0),
        s["rest"].as_f64().unwrap_or(0.0),
        out["decode_scales"],
        out["rust_allocations_per_frame"].as_f64().unwrap_or(0.0),
        out["rust_allocated_kb_per_frame"].as_f64().unwrap_or(0.0),
    );
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&out).expect("json"))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}
