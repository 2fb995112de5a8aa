//! Region geometry (rectangles, quads, margins, clipping, degenerate input) and the stretch-triangle
//! resampling into the tensor, checked against hand-computed values.

use binwatch::region::{
    AxisWeights, PixelMap, Quad, Rect, Region, RegionError, RegionPlan, Scratch,
};
use image::{Rgb, RgbImage};

fn resample(img: &RgbImage, region: Region, w: usize, h: usize) -> Vec<f32> {
    let plan = RegionPlan::new(&region, img.width(), img.height(), w, h);
    let mut out = vec![0.0; 3 * w * h];
    let map = PixelMap {
        scale: [1.0; 3],
        bias: [0.0; 3],
    };
    plan.write(img, &map, &mut out, &mut Scratch::default());
    out
}

#[test]
fn rect_checks() {
    assert!(Rect::new(0.0, 0.0, 1.0, 1.0).is_ok());
    assert!(matches!(
        Rect::new(0.5, 0.0, 0.5, 1.0),
        Err(RegionError::EmptyWidth { .. })
    ));
    assert!(matches!(
        Rect::new(0.0, 0.7, 1.0, 0.2),
        Err(RegionError::EmptyHeight { .. })
    ));
    assert!(matches!(
        Rect::new(-0.1, 0.0, 1.0, 1.0),
        Err(RegionError::OutOfRange { .. })
    ));
    assert!(matches!(
        Rect::new(0.0, 0.0, f64::NAN, 1.0),
        Err(RegionError::OutOfRange { .. })
    ));
    assert_eq!(
        Rect::parse(" 0.1,0.2 , 0.3,0.4").unwrap(),
        Rect::new(0.1, 0.2, 0.3, 0.4).unwrap()
    );
    assert!(matches!(
        Rect::parse("0.1,0.2,0.3"),
        Err(RegionError::BadRectText(_))
    ));
}

#[test]
fn margin_widens_and_clips() {
    let r = Rect::new(0.4, 0.4, 0.6, 0.8)
        .unwrap()
        .with_margin(0.5)
        .unwrap();
    let want = [0.3, 0.2, 0.7, 1.0]; // y1 = 0.8 + 0.2 clipped at 1.0
    for (a, b) in r.to_array().iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{r:?}");
    }
    let r = Rect::new(0.0, 0.0, 0.5, 0.5)
        .unwrap()
        .with_margin(1.0)
        .unwrap();
    assert_eq!(r.to_array(), [0.0, 0.0, 1.0, 1.0]);
    assert_eq!(Rect::FULL.with_margin(0.0).unwrap(), Rect::FULL);
    assert!(matches!(
        Rect::FULL.with_margin(-0.1),
        Err(RegionError::BadMargin(_))
    ));
}

#[test]
fn quad_checks() {
    let ok = [[0.1, 0.1], [0.9, 0.2], [0.8, 0.9], [0.2, 0.8]];
    assert!(Quad::new(ok).is_ok());
    let counter = [[0.1, 0.1], [0.2, 0.8], [0.8, 0.9], [0.9, 0.2]];
    assert!(
        Quad::new(counter)
            .unwrap_err()
            .to_string()
            .contains("counter-clockwise")
    );
    let bowtie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]];
    assert!(
        Quad::new(bowtie)
            .unwrap_err()
            .to_string()
            .contains("self-intersecting")
    );
    let collinear = [[0.1, 0.1], [0.5, 0.1], [0.9, 0.1], [0.5, 0.1]];
    assert!(
        Quad::new(collinear)
            .unwrap_err()
            .to_string()
            .contains("degenerate")
    );
    let rotated = [[0.9, 0.2], [0.8, 0.9], [0.2, 0.8], [0.1, 0.1]];
    assert!(
        Quad::new(rotated)
            .unwrap_err()
            .to_string()
            .contains("top-left")
    );
    assert!(matches!(
        Quad::new([[0.1, 0.1], [1.2, 0.2], [0.8, 0.9], [0.2, 0.8]]),
        Err(RegionError::OutOfRange { .. })
    ));
    assert_eq!(
        Quad::parse("0.1,0.1,0.9,0.2,0.8,0.9,0.2,0.8")
            .unwrap()
            .points,
        ok
    );
    // margin scales about the centroid and clips
    let m = Quad::new([[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]])
        .unwrap()
        .with_margin(0.5)
        .unwrap();
    let want = [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]];
    for (a, b) in m.points.iter().flatten().zip(want.iter().flatten()) {
        assert!((a - b).abs() < 1e-12, "{m:?}");
    }
    let m = Quad::new(ok).unwrap().with_margin(3.0).unwrap();
    assert!(m.points.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn identity_resample_copies_pixels() {
    let img = RgbImage::from_fn(7, 5, |x, y| {
        Rgb([(x * 30) as u8, (y * 40) as u8, (x * y) as u8])
    });
    let out = resample(&img, Region::Rect(Rect::FULL), 7, 5);
    for y in 0..5 {
        for x in 0..7 {
            let p = img.get_pixel(x, y).0;
            for c in 0..3 {
                let v = out[c * 35 + (y * 7 + x) as usize];
                assert!(
                    (v - p[c] as f32).abs() < 1e-4,
                    "({x},{y},{c}): {v} vs {}",
                    p[c]
                );
            }
        }
    }
}

#[test]
fn constant_image_stays_constant() {
    let img = RgbImage::from_pixel(97, 61, Rgb([200, 17, 90]));
    for region in [
        Region::Rect(Rect::new(0.13, 0.2, 0.77, 0.95).unwrap()),
        Region::Rect(Rect::new(0.5, 0.5, 0.52, 0.51).unwrap()), // upscaling
        Region::Quad(Quad::new([[0.1, 0.1], [0.9, 0.2], [0.8, 0.9], [0.2, 0.8]]).unwrap()),
    ] {
        let out = resample(&img, region, 24, 16);
        let plane = 24 * 16;
        for (c, want) in [200.0f32, 17.0, 90.0].iter().enumerate() {
            assert!(
                out[c * plane..(c + 1) * plane]
                    .iter()
                    .all(|v| (v - want).abs() < 1e-3),
                "{region:?}"
            );
        }
    }
}

#[test]
fn known_downscale_hand_computed() {
    // 4x1 row [0, 100, 200, 255] -> 2x1. Weights (see CONTRACT.md step 4): output 0 centre 1.0, support 2:
    // pixels 0,1,2 weigh .75,.75,.25 -> (0*.75 + 100*.75 + 200*.25) / 1.75 = 71.428..
    // output 1 centre 3.0: pixels 1,2,3 weigh .25,.75,.75 -> (25 + 150 + 191.25) / 1.75 = 209.285..
    let px = [0u8, 100, 200, 255];
    let img = RgbImage::from_fn(4, 1, |x, _| Rgb([px[x as usize]; 3]));
    let out = resample(&img, Region::Rect(Rect::FULL), 2, 1);
    assert!((out[0] - 125.0 / 1.75).abs() < 1e-3, "{out:?}");
    assert!((out[1] - 366.25 / 1.75).abs() < 1e-3, "{out:?}");
}

#[test]
fn box_in_continuous_coordinates_is_not_rounded() {
    // a sub-pixel box: [1.25, 2.75] of a 4-pixel row to 1 output: centre 2.0, scale 1.5, support 1.5:
    // pixel 1 (d .5, w 2/3), pixel 2 (d .5, w 2/3); pixels 0 and 3 at d 1.5 get 0.
    let px = [0u8, 60, 120, 255];
    let w = AxisWeights::new(4, 1.25, 2.75, 1);
    assert_eq!(w.start[0], 1);
    let img = RgbImage::from_fn(4, 1, |x, _| Rgb([px[x as usize]; 3]));
    let out = resample(
        &img,
        Region::Rect(Rect::new(0.3125, 0.0, 0.6875, 1.0).unwrap()),
        1,
        1,
    );
    assert!((out[0] - 90.0).abs() < 1e-3, "{out:?}");
}

#[test]
fn rectangle_quad_equals_rect_when_no_oversampling() {
    // an axis-aligned quad the size of the output samples pixel centres bilinearly = identity
    let img = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 7]));
    let q = Quad::new([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).unwrap();
    let a = resample(&img, Region::Quad(q), 16, 16);
    let b = resample(&img, Region::Rect(Rect::FULL), 16, 16);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-3);
    }
}

#[test]
fn quad_rectifies_perspective() {
    // left half dark, right half bright; a trapezoid straddling the middle symmetrically keeps the split
    // in the middle column of the output
    let img = RgbImage::from_fn(
        200,
        200,
        |x, _| if x < 100 { Rgb([0; 3]) } else { Rgb([255; 3]) },
    );
    let q = Quad::new([[0.3, 0.2], [0.7, 0.2], [0.9, 0.8], [0.1, 0.8]]).unwrap();
    let out = resample(&img, Region::Quad(q), 20, 20);
    for row in 0..20 {
        assert!(
            out[row * 20 + 2] < 5.0 && out[row * 20 + 17] > 250.0,
            "row {row}"
        );
    }
}

#[test]
fn pixel_map_normalises() {
    let img = RgbImage::from_pixel(8, 8, Rgb([255, 0, 128]));
    let plan = RegionPlan::new(&Region::Rect(Rect::FULL), 8, 8, 2, 2);
    let mut out = vec![0.0; 12];
    plan.write(&img, &PixelMap::UNIT, &mut out, &mut Scratch::default());
    assert!(
        (out[0] - 1.0).abs() < 1e-6 && out[4].abs() < 1e-6 && (out[8] - 128.0 / 255.0).abs() < 1e-6
    );
    let map = PixelMap::normalized([0.5; 3], [0.25; 3]);
    plan.write(&img, &map, &mut out, &mut Scratch::default());
    assert!((out[0] - 2.0).abs() < 1e-5 && (out[4] + 2.0).abs() < 1e-5);
}
