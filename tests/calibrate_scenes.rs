//! `calibrate check` on real street scenes (montevideo pool, read from `BINWATCH_DATASETS`):
//! unchanged scenes pass (also with noise, lighting drift and changed bin contents); shifted,
//! covered, blacked-out and blurred copies are flagged; geometry checks flag hand-made mistakes
//! on a real scene's boxes.

mod calibrate_support;

use binwatch::calibrate::compare::{CompareConfig, Comparison, Reference, Verdict};
use binwatch::calibrate::geometry_check::{
    FindingKind, GeometryThresholds, Severity, check_regions,
};
use binwatch::calibrate::reference::Sidecar;
use binwatch::calibrate::{CameraWatch, Outline, Point, WatchOutcome};
use calibrate_support::*;
use image::RgbImage;

/// Ten scenes spread over the list (clean and dirty, day and night, one and two bins).
fn picked() -> Vec<(usize, Scene, RgbImage)> {
    scenes()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 6 == 0)
        .take(10)
        .map(|(i, s)| {
            let img = s.load();
            (i, s, img)
        })
        .collect()
}

fn reference(s: &Scene, img: &RgbImage) -> Reference {
    Reference::new(s.name(), img, &s.bins(), &CompareConfig::default()).unwrap()
}

fn check(r: &Reference, live: &RgbImage) -> Comparison {
    r.compare(live).unwrap()
}

#[test]
fn unchanged_scenes_pass_with_noise_lighting_and_changed_bins() {
    let scenes = picked();
    assert_eq!(scenes.len(), 10);
    for (k, (i, s, img)) in scenes.iter().enumerate() {
        let r = reference(s, img);
        let other = &scenes[(k + 1) % scenes.len()].2;
        let biggest = *s
            .regions
            .iter()
            .max_by(|a, b| {
                ((a[2] - a[0]) * (a[3] - a[1])).total_cmp(&((b[2] - b[0]) * (b[3] - b[1])))
            })
            .unwrap();
        let cases: Vec<(&str, RgbImage)> = vec![
            ("re-encoded", reencode(img)),
            ("noise x0.85", gain_noise(img, 0.85, 4.0, *i as u64)),
            ("noise x1.15", gain_noise(img, 1.15, 4.0, *i as u64 + 1)),
            (
                "bin contents changed",
                reencode(&swap_region(img, other, biggest)),
            ),
        ];
        for (what, live) in cases {
            let c = check(&r, &live);
            assert_eq!(
                c.verdict,
                Verdict::Ok,
                "{what} of {}:\n{}",
                s.path,
                c.explanation
            );
        }
    }
}

#[test]
fn shifted_scenes_are_moved_with_the_true_dx() {
    for (_, s, img) in picked() {
        let r = reference(&s, &img);
        let truth = (img.width() as f64 * 0.05).round();
        let c = check(&r, &reencode(&translate(&img, truth as i64, 0)));
        let Verdict::Moved { dx, dy } = c.verdict else {
            panic!("{}: expected moved:\n{}", s.path, c.explanation)
        };
        assert!(
            (dx - truth).abs() <= 0.005 * img.width() as f64,
            "{}: dx {dx} vs {truth}",
            s.path
        );
        assert!(
            dy.abs() <= 0.005 * img.height() as f64,
            "{}: dy {dy}",
            s.path
        );
        assert!((c.shift.dx_frac - 0.05).abs() < 0.005, "{}", c.explanation);
        // And the other way, diagonally.
        let d = (img.width() as f64 * 0.03).round();
        let c = check(&r, &reencode(&translate(&img, -(d as i64), d as i64)));
        let Verdict::Moved { dx, dy } = c.verdict else {
            panic!("{}: expected moved:\n{}", s.path, c.explanation)
        };
        assert!(
            (dx + d).abs() <= 0.005 * img.width() as f64,
            "{}: dx {dx} vs {}",
            s.path,
            -d
        );
        assert!(
            (dy - d).abs() <= 0.005 * img.height() as f64,
            "{}: dy {dy} vs {d}",
            s.path
        );
    }
}

#[test]
fn covered_and_black_scenes_are_covered() {
    for (i, s, img) in picked() {
        let r = reference(&s, &img);
        for (what, live) in [
            (
                "60% grey patch",
                uniform_patch(&img, 0.6, i, [118, 118, 118]),
            ),
            (
                "60% dark patch",
                uniform_patch(&img, 0.6, i + 2, [20, 22, 25]),
            ),
            ("nearly black", nearly_black(&img, i as u64)),
        ] {
            let c = check(&r, &live);
            assert_eq!(
                c.verdict,
                Verdict::Covered,
                "{what} over {}:\n{}",
                s.path,
                c.explanation
            );
        }
    }
}

#[test]
fn blurred_scenes_are_defocused() {
    for (_, s, img) in picked() {
        let r = reference(&s, &img);
        let c = check(&r, &defocus(&img));
        assert_eq!(
            c.verdict,
            Verdict::Defocused,
            "{}:\n{}",
            s.path,
            c.explanation
        );
    }
}

#[test]
fn another_scene_is_not_ok() {
    let scenes = picked();
    for (k, (_, s, img)) in scenes.iter().enumerate() {
        let r = reference(s, img);
        let other = &scenes[(k + 3) % scenes.len()].2;
        let other = image::imageops::resize(
            other,
            img.width(),
            img.height(),
            image::imageops::FilterType::Triangle,
        );
        let c = check(&r, &other);
        assert!(
            !c.verdict.is_ok(),
            "{} vs another scene:\n{}",
            s.path,
            c.explanation
        );
    }
}

#[test]
fn geometry_checks_flag_mistakes_on_a_real_scene() {
    let all = scenes();
    let s = &all[0];
    let img = s.load();
    let (w, h) = img.dimensions();
    let t = GeometryThresholds::default();
    let real: Vec<(String, Outline)> = s
        .bins()
        .into_iter()
        .map(|(b, r)| (b, Outline::from(r)))
        .collect();
    assert!(
        check_regions("mvd-0", w, h, &real, &t)
            .iter()
            .all(|f| f.severity == Severity::Warning),
        "the dataset's own box should have no errors"
    );
    let b = s.regions[0];
    let mut regions = real.clone();
    // Overlapping pair: the same bin shifted by a quarter of its width.
    let q = (b[2] - b[0]) / 4.0;
    regions.push((
        "overlap".into(),
        Outline::Rect([b[0] + q, b[1], (b[2] + q).min(1.0), b[3]]),
    ));
    regions.push((
        "bowtie".into(),
        Outline::Quad([
            Point::new(0.02, 0.02),
            Point::new(0.2, 0.2),
            Point::new(0.2, 0.02),
            Point::new(0.02, 0.2),
        ]),
    ));
    regions.push(("off-frame".into(), Outline::Rect([0.9, 0.7, 1.15, 0.95])));
    regions.push(("tiny".into(), Outline::Rect([0.02, 0.9, 0.06, 0.94])));
    let f = check_regions("mvd-0", w, h, &regions, &t);
    for line in &f {
        println!("{line}");
    }
    let has = |kind: FindingKind, bin: &str| {
        f.iter()
            .any(|x| x.kind == kind && x.bin.as_deref() == Some(bin))
    };
    let overlap = f
        .iter()
        .find(|x| x.kind == FindingKind::Overlap)
        .expect("overlap flagged");
    assert!(overlap.message.contains("'overlap'"), "{overlap}");
    assert!(
        overlap.message.contains("75.0% of the smaller")
            || overlap.message.contains("% of the smaller"),
        "{overlap}"
    );
    assert_eq!(overlap.severity, Severity::Error, "{overlap}");
    assert!(has(FindingKind::SelfIntersecting, "bowtie"), "{f:#?}");
    assert!(has(FindingKind::OutOfBounds, "off-frame"), "{f:#?}");
    assert!(has(FindingKind::TooSmall, "tiny"), "{f:#?}");
}

fn sidecar(s: &Scene, img: &RgbImage) -> Sidecar {
    Sidecar {
        camera: s.name().into(),
        image: s.file(),
        width: img.width(),
        height: img.height(),
        sha256: String::new(),
        taken_at: "2026-12-03T20:00:00Z".into(),
        source_kind: "folder".into(),
        source: s.path.clone(),
        sharpness: 0.0,
        focus_check_reliable: true,
        binwatch_version: "test".into(),
    }
}

/// The daemon's periodic check: one bad frame is not enough, two in a row emit `camera.moved`
/// once, and the camera recovers when it passes again.
#[test]
fn camera_watch_emits_moved_once_after_two_failures_and_recovers() {
    let all = scenes();
    let s = &all[7];
    let img = s.load();
    let mut w = CameraWatch::new(reference(s, &img), sidecar(s, &img));
    let shifted = reencode(&translate(&img, (img.width() / 20) as i64, 0));
    let same = reencode(&img);
    let kinds: Vec<&str> = [
        &same, &shifted, &same, &shifted, &shifted, &shifted, &same, &same,
    ]
    .into_iter()
    .map(|f| match w.observe(f).expect("compare") {
        WatchOutcome::Ok(_) => "ok",
        WatchOutcome::Failing(_) => "failing",
        WatchOutcome::Moved(c) => {
            assert!(
                matches!(c.verdict, Verdict::Moved { .. }),
                "{}",
                c.explanation
            );
            "moved"
        }
        WatchOutcome::Recovered(_) => "recovered",
    })
    .collect();
    assert_eq!(
        kinds,
        [
            "ok",
            "failing",
            "ok",
            "failing",
            "moved",
            "failing",
            "recovered",
            "ok"
        ]
    );
}
