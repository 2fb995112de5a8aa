//! Decoding a camera frame or photo into 8-bit RGB, with the checks a frame must pass before it reaches
//! the classifier (readable, a known format, a sane size). No EXIF rotation (schema 1 of the model contract).
//!
//! JPEG goes through libjpeg-turbo's decoder (as built by `mozjpeg-sys`, whose decoding side is
//! libjpeg-turbo's): a full decode gives the same pixels as the training code's Pillow, bit for bit, which
//! the 1e-3 parity between the Rust and Python pipelines needs (image-rs's pure-Rust JPEG decoder differs by
//! 1-2 levels in colour images). Other formats (PNG) go through the `image` crate.
//!
//! A JPEG that libjpeg can only decode by inventing pixels (truncated: "Premature end of JPEG file";
//! garbled: "Corrupt JPEG data: bad Huffman code" and the like, which libjpeg reports as warnings and
//! fills with grey) is a [`FrameError::Jpeg`], on every decode path, so it is skipped and counted like any
//! unreadable frame. Extraneous bytes before a marker, common from IP cameras, are accepted.
//!
//! [`JpegDecoder`] does less work when less is needed: a decode at a DCT scale `n/8` (libjpeg's scaled
//! inverse DCT: 1/2 of the size costs about a third of the time), optionally of a window only (whole rows
//! outside it are skipped with `jpeg_skip_scanlines`, columns are cropped with `jpeg_crop_scanline`), and a
//! luma-only decode for thumbnails (at 1/8 scale that is the DC coefficient of every 8x8 block). Its buffers
//! are kept between frames.

use std::path::{Path, PathBuf};

use image::{ImageReader, Limits, RgbImage};
use mozjpeg_sys as ffi;

use crate::region::{FrameView, PixelRect};
use thiserror::Error;

/// Smallest frame side we accept: below this a region cannot hold a recognisable bin.
pub const MIN_SIDE: u32 = 8;
/// Largest frame side we accept (decompression-bomb guard).
pub const MAX_SIDE: u32 = 16_384;

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode {path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("cannot decode JPEG {path}: {message}")]
    Jpeg { path: PathBuf, message: String },
    #[error("{path}: image is {width}x{height}, expected each side in {MIN_SIDE}..={MAX_SIDE}")]
    Size {
        path: PathBuf,
        width: u32,
        height: u32,
    },
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l
}

fn check(path: &Path, img: RgbImage) -> Result<RgbImage, FrameError> {
    let (width, height) = img.dimensions();
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(FrameError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(img)
}

/// A DCT-domain scale factor of libjpeg: the image is decoded at `n/8` of its size, `n` in 1..=8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scale(u8);

impl Scale {
    /// No scaling.
    pub const FULL: Scale = Scale(8);
    /// 1/8: one pixel per 8x8 block (the DC coefficient only).
    pub const EIGHTH: Scale = Scale(1);

    /// `n/8`; `None` unless `n` is in 1..=8.
    pub fn eighths(n: u8) -> Option<Scale> {
        (1..=8).contains(&n).then_some(Scale(n))
    }

    /// The numerator over 8.
    pub fn eighths_num(self) -> u8 {
        self.0
    }

    /// A side of `side` pixels at this scale, rounded up as libjpeg does.
    pub fn apply(self, side: u32) -> u32 {
        (side as u64 * self.0 as u64).div_ceil(8) as u32
    }

    /// The decoded size of a `w x h` JPEG at this scale.
    pub fn size(self, w: u32, h: u32) -> (u32, u32) {
        (self.apply(w), self.apply(h))
    }
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            8 => f.write_str("1"),
            4 => f.write_str("1/2"),
            2 => f.write_str("1/4"),
            n => write!(f, "{n}/8"),
        }
    }
}

/// Whether the bytes start like a JPEG.
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Output of a JPEG decode: interleaved samples (RGB, or luma only) of `window` of an image that is
/// `width x height` at the decode's scale. Kept by [`JpegDecoder`] and reused from frame to frame.
#[derive(Debug, Default)]
pub struct Decoded {
    data: Vec<u8>,
    channels: usize,
    width: usize,
    height: usize,
    window: PixelRect,
    scale: Option<Scale>,
}

impl Decoded {
    /// The decoded image's size (the whole image at the scale, not only the window).
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub fn scale(&self) -> Option<Scale> {
        self.scale
    }

    /// The pixels held: every pixel of the image unless a window was asked for.
    pub fn window(&self) -> PixelRect {
        self.window
    }

    /// Samples per pixel: 3 (RGB) or 1 (luma).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The samples of the window, rows `channels * window.width()` bytes apart.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The RGB decode as a view for [`crate::region::RegionPlan::write_view`]; `None` for a luma decode
    /// or before any decode.
    pub fn view(&self) -> Option<FrameView<'_>> {
        if self.channels != 3 {
            return None;
        }
        FrameView::window(&self.data, self.width, self.height, self.window)
    }

    /// A copy as an image (the window's pixels; for evidence and tests, not the per-frame path).
    pub fn to_rgb_image(&self) -> Option<RgbImage> {
        (self.channels == 3).then(|| {
            RgbImage::from_raw(
                self.window.width() as u32,
                self.window.height() as u32,
                self.data.clone(),
            )
        })?
    }
}

/// What to decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeRequest {
    pub scale: Scale,
    /// RGB, or luma only.
    pub luma: bool,
    /// Only these pixels (in the scaled image's coordinates); `None` = all. The decode may hold a little
    /// more (column crops are widened to whole iMCUs), never less.
    pub window: Option<PixelRect>,
}

impl DecodeRequest {
    /// Full-size RGB: what the model contract's preprocessing starts from.
    pub const FULL_RGB: DecodeRequest = DecodeRequest {
        scale: Scale::FULL,
        luma: false,
        window: None,
    };
}

/// Facts from a JPEG's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegHeader {
    pub width: u32,
    pub height: u32,
}

/// libjpeg-turbo's decompressor with buffers kept between frames. One per thread.
#[derive(Debug, Default)]
pub struct JpegDecoder {
    rows: Vec<*mut u8>,
}

// SAFETY: `rows` only holds pointers into a `Decoded` during one decode call; they are never read
// outside it, so moving the decoder to another thread is sound.
unsafe impl Send for JpegDecoder {}

/// libjpeg's message for its last error or warning, formatted.
///
/// # Safety
/// `cinfo.err` must point to a valid error manager (libjpeg's callbacks are called with one).
unsafe fn format_message(cinfo: &mut ffi::jpeg_common_struct) -> String {
    let mut buffer = [0u8; 80];
    // SAFETY: per the caller, `cinfo.err` is valid
    unsafe {
        let err = &*cinfo.err;
        match err.format_message {
            Some(fmt) => {
                // format_message writes into the buffer; the binding declares it `&[u8; 80]`
                fmt(cinfo, &*(buffer.as_mut_ptr() as *const [u8; 80]));
                let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
                String::from_utf8_lossy(&buffer[..end]).into_owned()
            }
            None => format!("libjpeg error code {}", err.msg_code),
        }
    }
}

/// libjpeg's error_exit: unwinds out of the C code with libjpeg's message (the C side is built with
/// unwind tables: mozjpeg-sys' `unwinding` feature). `resume_unwind` does not run the panic hook.
extern "C-unwind" fn error_exit(cinfo: &mut ffi::jpeg_common_struct) {
    // SAFETY: libjpeg calls error_exit with a valid common struct whose `err` is our error manager.
    let msg = unsafe { format_message(cinfo) };
    std::panic::resume_unwind(Box::new(msg));
}

/// Whether a libjpeg warning leaves the pixels intact, so the decode may go on. Judged by libjpeg's own
/// text, not its message code: the codes' numbering depends on how the library was configured.
/// `JWRN_EXTRANEOUS_DATA` ("extraneous bytes before marker") is written harmlessly by many IP cameras;
/// an unknown Adobe colour-transform code or JFIF revision is header trivia. Everything else
/// (`JWRN_JPEG_EOF` "Premature end of JPEG file", `JWRN_HIT_MARKER`, `JWRN_HUFF_BAD_CODE`,
/// `JWRN_MUST_RESYNC`, ...) means libjpeg is inventing pixels (grey for missing data) and is an error.
fn harmless_warning(message: &str) -> bool {
    message.contains("extraneous bytes before marker")
        || message.starts_with("Unknown Adobe color transform code")
        || message.starts_with("Warning: unknown JFIF revision number")
}

/// libjpeg's emit_message. Level -1 is a warning: a corrupt-data warning unwinds like an error (so a
/// truncated or garbled frame is an error, not a frame half filled with grey); harmless ones are logged
/// at debug level. Levels 0 and up are trace messages, ignored.
extern "C-unwind" fn emit_message(cinfo: &mut ffi::jpeg_common_struct, level: std::os::raw::c_int) {
    if level >= 0 {
        return;
    }
    // SAFETY: libjpeg calls emit_message with a valid common struct whose `err` is our error manager.
    let msg = unsafe { format_message(cinfo) };
    if harmless_warning(&msg) {
        tracing::debug!("libjpeg warning (accepted): {msg}");
        return;
    }
    std::panic::resume_unwind(Box::new(msg));
}

/// Destroys the decompressor however the decode ends (also when libjpeg unwinds).
struct Destroy<'a>(&'a mut ffi::jpeg_decompress_struct);

impl Drop for Destroy<'_> {
    fn drop(&mut self) {
        // SAFETY: created with jpeg_create_decompress; destroy is valid in any state, also after an error.
        unsafe { ffi::jpeg_destroy_decompress(self.0) }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "corrupt JPEG data".into())
}

impl JpegDecoder {
    pub fn new() -> JpegDecoder {
        JpegDecoder::default()
    }

    /// Runs `f` on a decompressor whose header has been read from `bytes`; libjpeg errors become
    /// `FrameError::Jpeg` naming `path`.
    fn with_header<T>(
        path: &Path,
        bytes: &[u8],
        f: impl FnOnce(&mut ffi::jpeg_decompress_struct) -> Result<T, FrameError>,
    ) -> Result<T, FrameError> {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<T, FrameError> {
                // SAFETY: the error manager and the decompressor live on this frame for the whole decode
                // and are not moved; the source buffer `bytes` outlives the decompressor (destroyed by
                // `Destroy` before this closure returns or unwinds).
                unsafe {
                    let mut err: ffi::jpeg_error_mgr = std::mem::zeroed();
                    ffi::jpeg_std_error(&mut err);
                    err.error_exit = Some(error_exit);
                    err.emit_message = Some(emit_message);
                    let mut cinfo: ffi::jpeg_decompress_struct = std::mem::zeroed();
                    cinfo.common.err = &mut err;
                    ffi::jpeg_create_decompress(&mut cinfo);
                    let guard = Destroy(&mut cinfo);
                    ffi::jpeg_mem_src(
                        guard.0,
                        bytes.as_ptr(),
                        bytes.len() as std::os::raw::c_ulong,
                    );
                    ffi::jpeg_read_header(guard.0, 1);
                    f(guard.0)
                }
            }));
        match result {
            Ok(r) => r,
            Err(payload) => Err(FrameError::Jpeg {
                path: path.to_path_buf(),
                message: panic_message(payload),
            }),
        }
    }

    /// Reads the header only (size); cheap.
    pub fn header(&self, path: &Path, bytes: &[u8]) -> Result<JpegHeader, FrameError> {
        Self::with_header(path, bytes, |cinfo| {
            Ok(JpegHeader {
                width: cinfo.image_width,
                height: cinfo.image_height,
            })
        })
    }

    /// Decodes `bytes` as asked into `out` (its buffer is reused). libjpeg's islow DCT and fancy
    /// upsampling (its and Pillow's defaults). The image must be `MIN_SIDE..=MAX_SIDE` at full scale.
    pub fn decode(
        &mut self,
        path: &Path,
        bytes: &[u8],
        req: &DecodeRequest,
        out: &mut Decoded,
    ) -> Result<(), FrameError> {
        let rows = &mut self.rows;
        let mut data = std::mem::take(&mut out.data);
        let outcome = Self::with_header(path, bytes, |cinfo| {
            let (w, h) = (cinfo.image_width, cinfo.image_height);
            if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
                return Err(FrameError::Size {
                    path: path.to_path_buf(),
                    width: w,
                    height: h,
                });
            }
            cinfo.scale_num = req.scale.eighths_num() as std::os::raw::c_uint;
            cinfo.scale_denom = 8;
            cinfo.dct_method = ffi::J_DCT_METHOD::JDCT_ISLOW;
            cinfo.do_fancy_upsampling = 1;
            cinfo.out_color_space = if req.luma {
                ffi::J_COLOR_SPACE::JCS_GRAYSCALE
            } else {
                ffi::J_COLOR_SPACE::JCS_RGB
            };
            // SAFETY: the header was read; start, crop, skip and read follow libjpeg's documented order, and
            // every row pointer handed to jpeg_read_scanlines points into `data`, sized for the window.
            unsafe {
                ffi::jpeg_start_decompress(cinfo);
                let (ow, oh) = (cinfo.output_width as usize, cinfo.output_height as usize);
                let channels = cinfo.output_components as usize;
                let full = PixelRect {
                    x0: 0,
                    y0: 0,
                    x1: ow,
                    y1: oh,
                };
                let want = match req.window {
                    Some(r) if r.x0 < r.x1 && r.y0 < r.y1 => PixelRect {
                        x0: r.x0.min(ow - 1),
                        y0: r.y0.min(oh - 1),
                        x1: r.x1.min(ow).max(r.x0.min(ow - 1) + 1),
                        y1: r.y1.min(oh).max(r.y0.min(oh - 1) + 1),
                    },
                    _ => full,
                };
                let mut x0 = want.x0 as ffi::JDIMENSION;
                let mut cw = want.width() as ffi::JDIMENSION;
                if want.x0 > 0 || want.x1 < ow {
                    // moves x0 left to an iMCU boundary and widens accordingly
                    ffi::jpeg_crop_scanline(cinfo, &mut x0, &mut cw);
                }
                let window = PixelRect {
                    x0: x0 as usize,
                    y0: want.y0,
                    x1: x0 as usize + cw as usize,
                    y1: want.y1,
                };
                let line = window.width() * channels;
                data.clear();
                data.resize(line * window.height(), 0);
                if window.y0 > 0 {
                    ffi::jpeg_skip_scanlines(cinfo, window.y0 as ffi::JDIMENSION);
                }
                let mut done = 0usize;
                while done < window.height() {
                    let n = (window.height() - done).min(16);
                    rows.clear();
                    rows.extend((0..n).map(|k| data.as_mut_ptr().add((done + k) * line)));
                    let got =
                        ffi::jpeg_read_scanlines(cinfo, rows.as_mut_ptr(), n as ffi::JDIMENSION)
                            as usize;
                    rows.clear();
                    if got == 0 {
                        return Err(FrameError::Jpeg {
                            path: path.to_path_buf(),
                            message: format!(
                                "decoder stopped at row {} of {}",
                                window.y0 + done,
                                window.y1
                            ),
                        });
                    }
                    done += got;
                }
                // the rest of the image is not needed: no trailing checks
                ffi::jpeg_abort_decompress(cinfo);
                Ok((ow, oh, channels, window))
            }
        });
        out.data = data;
        let (ow, oh, channels, window) = outcome?;
        out.width = ow;
        out.height = oh;
        out.channels = channels;
        out.window = window;
        out.scale = Some(req.scale);
        Ok(())
    }
}

/// Decodes a JPEG with libjpeg-turbo at full size (islow DCT and fancy upsampling, libjpeg's and Pillow's
/// defaults).
fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<RgbImage, FrameError> {
    let mut out = Decoded::default();
    JpegDecoder::new().decode(path, bytes, &DecodeRequest::FULL_RGB, &mut out)?;
    let (w, h) = out.size();
    let img = RgbImage::from_raw(w as u32, h as u32, out.data).ok_or_else(|| FrameError::Jpeg {
        path: path.to_path_buf(),
        message: "short scanline data".into(),
    })?;
    check(path, img)
}

/// Decodes encoded bytes (JPEG or PNG); `path` only names the source in errors.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<RgbImage, FrameError> {
    if is_jpeg(bytes) {
        return decode_jpeg(path, bytes);
    }
    let decode = |source| FrameError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| FrameError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.limits(limits());
    let img = reader.decode().map_err(decode)?;
    check(path, img.into_rgb8())
}

/// Checks that encoded bytes look like a frame binwatch can decode (a JPEG or PNG header of a size in
/// `MIN_SIDE..=MAX_SIDE`) without decoding the pixels; returns the size. Corruption further into the
/// data is found by the decode itself.
pub fn probe(path: &Path, bytes: &[u8]) -> Result<(u32, u32), FrameError> {
    let (width, height) = if is_jpeg(bytes) {
        let h = JpegDecoder::new().header(path, bytes)?;
        (h.width, h.height)
    } else {
        let reader = ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|source| FrameError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        reader
            .into_dimensions()
            .map_err(|source| FrameError::Decode {
                path: path.to_path_buf(),
                source,
            })?
    };
    let ok = |v: u32| (MIN_SIDE..=MAX_SIDE).contains(&v);
    if !ok(width) || !ok(height) {
        return Err(FrameError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok((width, height))
}

/// Reads and decodes an image file.
pub fn load(path: &Path) -> Result<RgbImage, FrameError> {
    let bytes = std::fs::read(path).map_err(|source| FrameError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error_naming_the_file() {
        let err = decode_bytes(Path::new("cam/x.jpg"), b"not an image").unwrap_err();
        assert!(matches!(err, FrameError::Decode { .. }));
        assert!(err.to_string().contains("cam/x.jpg"), "{err}");
    }

    #[test]
    fn truncated_jpeg_is_an_error_not_a_crash() {
        let err = decode_bytes(
            Path::new("cam/broken.jpg"),
            b"\xff\xd8\xff\xe0 not really a jpeg",
        )
        .unwrap_err();
        assert!(matches!(err, FrameError::Jpeg { .. }), "{err}");
        assert!(err.to_string().contains("cam/broken.jpg"), "{err}");
    }

    #[test]
    fn jpeg_round_trip() {
        let img = RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, 128])
        });
        let mut buf = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut buf),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let back = decode_bytes(Path::new("t.jpg"), &buf).unwrap();
        assert_eq!(back.dimensions(), (40, 30));
        let diff: i32 = img
            .pixels()
            .zip(back.pixels())
            .map(|(a, b)| (a.0[0] as i32 - b.0[0] as i32).abs())
            .max()
            .unwrap();
        assert!(diff < 16, "{diff}");
    }

    /// A JPEG with texture at several scales and chroma detail (4:2:0, like camera frames).
    fn textured_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            let v = ((x as f32 / 7.0).sin() * (y as f32 / 5.0).cos() * 100.0 + 128.0) as u8;
            image::Rgb([v, ((x * 3 + y) % 256) as u8, ((x ^ y) % 256) as u8])
        });
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(&img)
            .unwrap();
        buf
    }

    #[test]
    fn scaled_decode_has_libjpeg_sizes() {
        let bytes = textured_jpeg(203, 117);
        let mut d = JpegDecoder::new();
        let mut out = Decoded::default();
        for n in 1..=8u8 {
            let s = Scale::eighths(n).unwrap();
            let req = DecodeRequest {
                scale: s,
                luma: false,
                window: None,
            };
            d.decode(Path::new("t.jpg"), &bytes, &req, &mut out)
                .unwrap();
            assert_eq!(
                out.size(),
                (
                    (203 * n as usize).div_ceil(8),
                    (117 * n as usize).div_ceil(8)
                )
            );
            assert_eq!(
                out.size(),
                (s.apply(203) as usize, s.apply(117) as usize),
                "{s}"
            );
            assert_eq!(out.data().len(), out.size().0 * out.size().1 * 3);
        }
        assert_eq!(Scale::eighths(0), None);
        assert_eq!(Scale::eighths(9), None);
    }

    #[test]
    fn a_window_holds_the_same_pixels_as_the_whole_decode() {
        let bytes = textured_jpeg(640, 360);
        let mut d = JpegDecoder::new();
        for n in [8u8, 4, 3, 2] {
            let scale = Scale::eighths(n).unwrap();
            let mut whole = Decoded::default();
            let req = DecodeRequest {
                scale,
                luma: false,
                window: None,
            };
            d.decode(Path::new("t.jpg"), &bytes, &req, &mut whole)
                .unwrap();
            let (w, h) = whole.size();
            for (fx0, fy0, fx1, fy1) in [
                (0.3, 0.2, 0.55, 0.7),
                (0.0, 0.5, 0.4, 1.0),
                (0.61, 0.0, 1.0, 0.33),
            ] {
                let want = PixelRect {
                    x0: (fx0 * w as f64) as usize,
                    y0: (fy0 * h as f64) as usize,
                    x1: (fx1 * w as f64) as usize,
                    y1: (fy1 * h as f64) as usize,
                };
                // the pipeline asks for a few pixels more than the plans read: compare inside that
                let asked = want.grown(4, w, h);
                let mut part = Decoded::default();
                let req = DecodeRequest {
                    scale,
                    luma: false,
                    window: Some(asked),
                };
                d.decode(Path::new("t.jpg"), &bytes, &req, &mut part)
                    .unwrap();
                assert_eq!(part.size(), (w, h));
                let got = part.window();
                assert!(got.contains(&asked), "{got:?} does not hold {asked:?}");
                let (wv, pv) = (whole.view().unwrap(), part.view().unwrap());
                for y in want.y0..want.y1 {
                    for x in want.x0..want.x1 {
                        let a = &wv.data()[(y * w + x) * 3..][..3];
                        let i = ((y - got.y0) * got.width() + (x - got.x0)) * 3;
                        let b = &pv.data()[i..i + 3];
                        assert_eq!(a, b, "scale {scale}, window {asked:?}, pixel ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn luma_decode_is_one_byte_per_pixel() {
        let bytes = textured_jpeg(160, 80);
        let mut out = Decoded::default();
        let req = DecodeRequest {
            scale: Scale::EIGHTH,
            luma: true,
            window: None,
        };
        JpegDecoder::new()
            .decode(Path::new("t.jpg"), &bytes, &req, &mut out)
            .unwrap();
        assert_eq!((out.size(), out.channels()), ((20, 10), 1));
        assert_eq!(out.data().len(), 200);
        assert!(out.view().is_none(), "a luma decode is no RGB view");
    }

    #[test]
    fn header_and_size_errors_name_the_file() {
        let bytes = textured_jpeg(50, 40);
        let d = JpegDecoder::new();
        let h = d.header(Path::new("t.jpg"), &bytes).unwrap();
        assert_eq!((h.width, h.height), (50, 40));
        let err = d
            .header(Path::new("cam/bad.jpg"), b"\xff\xd8\xff\xe0 nope")
            .unwrap_err();
        assert!(err.to_string().contains("cam/bad.jpg"), "{err}");
        let tiny = textured_jpeg(5, 40);
        let err = JpegDecoder::new()
            .decode(
                Path::new("cam/tiny.jpg"),
                &tiny,
                &DecodeRequest::FULL_RGB,
                &mut Decoded::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("5x40"), "{err}");
    }

    #[test]
    fn probe_reads_headers_only_and_names_the_file() {
        let jpeg = textured_jpeg(64, 48);
        assert_eq!(probe(Path::new("a.jpg"), &jpeg).unwrap(), (64, 48));
        let mut png = Vec::new();
        RgbImage::new(30, 20)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(probe(Path::new("a.png"), &png).unwrap(), (30, 20));
        for bad in [&b"not an image"[..], &b"\xff\xd8\xff\xe0 broken header"[..]] {
            let err = probe(Path::new("cam/x.jpg"), bad).unwrap_err();
            assert!(err.to_string().contains("cam/x.jpg"), "{err}");
        }
        let err = probe(Path::new("t.jpg"), &textured_jpeg(4, 40)).unwrap_err();
        assert!(err.to_string().contains("4x40"), "{err}");
    }

    #[test]
    fn tiny_image_is_refused() {
        let mut buf = Vec::new();
        RgbImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
            .unwrap();
        let err = decode_bytes(Path::new("t.png"), &buf).unwrap_err();
        assert!(err.to_string().contains("4x4"), "{err}");
    }

    #[test]
    fn missing_file_is_io_error() {
        let err = load(Path::new("/nonexistent/binwatch.jpg")).unwrap_err();
        assert!(matches!(err, FrameError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/binwatch.jpg"));
    }
}
