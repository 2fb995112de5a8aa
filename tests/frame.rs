//! The JPEG decoder on real pool photos that were damaged: a truncated file and one with bytes garbled
//! through its entropy-coded data are decode errors on every decode path (full, DCT-scaled, windowed,
//! luma thumbnail), naming the file and libjpeg's message; extraneous bytes before a marker (written by
//! many IP cameras) are accepted and decode to the same pixels as the clean file.

use std::path::{Path, PathBuf};

use binwatch::frame::{self, DecodeRequest, Decoded, FrameError, JpegDecoder, Scale};
use binwatch::region::PixelRect;

mod damaged_support;
use damaged_support::{extraneous, garbled, truncated};

fn datasets() -> PathBuf {
    match std::env::var_os("BINWATCH_DATASETS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
    }
}

fn photo() -> Vec<u8> {
    let p = datasets().join(damaged_support::PHOTO);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (set BINWATCH_DATASETS)", p.display()))
}

fn requests(width: u32, height: u32) -> Vec<DecodeRequest> {
    let half = Scale::eighths(4).unwrap();
    let (w, h) = half.size(width, height);
    vec![
        DecodeRequest::FULL_RGB,
        DecodeRequest {
            scale: half,
            luma: false,
            window: None,
        },
        // a window over the lower part (the truncated file has lost it)
        DecodeRequest {
            scale: half,
            luma: false,
            window: Some(PixelRect {
                x0: w as usize / 4,
                y0: h as usize / 2,
                x1: w as usize * 3 / 4,
                y1: h as usize,
            }),
        },
        // the daemon's skip thumbnail
        DecodeRequest {
            scale: Scale::EIGHTH,
            luma: true,
            window: None,
        },
    ]
}

fn assert_corrupt(name: &str, bytes: &[u8]) {
    let path = Path::new("cam/damaged.jpg");
    let (width, height) = frame::probe(path, bytes).expect("the header is intact");
    let mut decoder = JpegDecoder::new();
    let mut out = Decoded::default();
    for req in requests(width, height) {
        let err = decoder.decode(path, bytes, &req, &mut out).unwrap_err();
        assert!(
            matches!(err, FrameError::Jpeg { .. }),
            "{name} {req:?}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("cam/damaged.jpg"), "{name}: {text}");
        assert!(
            text.contains("Corrupt JPEG data") || text.contains("Premature end of JPEG file"),
            "{name}: libjpeg's message expected: {text}"
        );
    }
    let err = frame::decode_bytes(path, bytes).unwrap_err();
    assert!(matches!(err, FrameError::Jpeg { .. }), "{name}: {err}");
    // the decoder is still usable for the next, intact frame
    decoder
        .decode(path, &photo(), &DecodeRequest::FULL_RGB, &mut out)
        .expect("intact photo after a corrupt one");
}

#[test]
fn a_truncated_real_photo_is_a_decode_error_on_every_path() {
    let bytes = truncated(&photo());
    assert_corrupt("truncated", &bytes);
    let err = frame::decode_bytes(Path::new("t.jpg"), &bytes).unwrap_err();
    assert!(
        err.to_string().contains("Premature end of JPEG file"),
        "{err}"
    );
}

#[test]
fn a_garbled_real_photo_is_a_decode_error_on_every_path() {
    assert_corrupt("garbled", &garbled(&photo()));
}

#[test]
fn extraneous_bytes_before_a_marker_are_accepted_with_identical_pixels() {
    let clean = frame::decode_bytes(Path::new("a.jpg"), &photo()).unwrap();
    let bytes = extraneous(&photo());
    let junk = frame::decode_bytes(Path::new("b.jpg"), &bytes).expect("extraneous bytes accepted");
    assert_eq!(clean.dimensions(), junk.dimensions());
    assert!(clean.as_raw() == junk.as_raw(), "pixels differ");
    let (w, h) = clean.dimensions();
    let mut decoder = JpegDecoder::new();
    let mut out = Decoded::default();
    for req in requests(w, h) {
        decoder
            .decode(Path::new("b.jpg"), &bytes, &req, &mut out)
            .unwrap_or_else(|e| panic!("{req:?}: {e}"));
    }
}
