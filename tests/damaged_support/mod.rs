//! Damaged copies of real JPEG photos, shared by the tests of the decoder, `eval`, `classify` and the
//! daemon: truncated (libjpeg: "Premature end of JPEG file"), garbled through the entropy-coded data
//! ("Corrupt JPEG data: ..."), and with harmless extraneous bytes before a marker.

#![allow(dead_code)]

/// A real photo of the pool (relative to it) whose damaged copies the tests use.
pub const PHOTO: &str = "street-cn/full/0.jpg";

/// Offset of the first byte of entropy-coded data (after the SOS segment).
pub fn scan_start(b: &[u8]) -> usize {
    let mut i = 2;
    while i + 4 <= b.len() {
        assert_eq!(b[i], 0xFF, "marker expected at {i}");
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if marker == 0xDA {
            return i + 2 + len;
        }
        i += 2 + len;
    }
    panic!("no SOS marker");
}

pub fn truncated(photo: &[u8]) -> Vec<u8> {
    let mut b = photo.to_vec();
    b.truncate(3000.max(scan_start(&b) + 1000));
    b
}

/// Every 50th byte of the entropy-coded data flipped.
pub fn garbled(photo: &[u8]) -> Vec<u8> {
    let mut b = photo.to_vec();
    let start = scan_start(&b);
    let end = b.len() - 2;
    for i in (start..end).step_by(50) {
        b[i] ^= 0x5A;
    }
    b
}

/// Eight junk bytes between the first header segment and the next marker (libjpeg:
/// JWRN_EXTRANEOUS_DATA).
pub fn extraneous(photo: &[u8]) -> Vec<u8> {
    let b = photo;
    let after_app0 = 4 + u16::from_be_bytes([b[4], b[5]]) as usize;
    let mut out = b[..after_app0].to_vec();
    out.extend_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
    out.extend_from_slice(&b[after_app0..]);
    out
}
