//! Photos are decoded and written again: nothing of the original file but its pixels
//! reaches the other side (no EXIF, so no GPS position, camera serial or date; no XMP, no
//! text chunks). The orientation a phone recorded is applied to the pixels first. A
//! thumbnail (JPEG, at most 320 pixels a side) is made at the same time. Limits on size and
//! memory keep a decompression bomb from taking the server down.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The largest side a photo may have, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// The most memory decoding one photo may take.
pub const MAX_DECODE_BYTES: u64 = 384 * 1024 * 1024;
/// Thumbnails fit in this square.
pub const THUMB_SIDE: u32 = 320;

/// A photo written again.
#[derive(Debug)]
pub struct Processed {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub mime: &'static str,
    pub ext: &'static str,
    pub width: u32,
    pub height: u32,
    pub thumb: Vec<u8>,
    pub thumb_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("the photo could not be read: {0}")]
    Undecodable(String),
    #[error("the photo is too large to process (at most {MAX_SIDE} pixels a side)")]
    TooLarge,
    #[error("writing the photo: {0}")]
    Io(#[from] std::io::Error),
}

/// Counts and hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn decode(src: &Path, format: ImageFormat) -> Result<DynamicImage, PhotoError> {
    let mut reader = ImageReader::open(src)?;
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let refused = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => PhotoError::TooLarge,
        other => PhotoError::Undecodable(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(refused)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Decode the photo at `src` (sniffed as `mime`) and write it again next to it: JPEG stays
/// JPEG (quality 88), PNG stays PNG, WebP becomes PNG with transparency or JPEG without.
pub fn process(src: &Path, mime: &str) -> Result<Processed, PhotoError> {
    let format = match mime {
        "image/png" => ImageFormat::Png,
        "image/webp" => ImageFormat::WebP,
        _ => ImageFormat::Jpeg,
    };
    let img = decode(src, format)?;
    let (width, height) = (img.width(), img.height());
    let as_png = match format {
        ImageFormat::Png => true,
        ImageFormat::WebP => img.color().has_alpha(),
        _ => false,
    };
    let path = src.with_extension("clean");
    let file = std::fs::File::create(&path)?;
    let mut out = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        size: 0,
    };
    let written = if as_png {
        img.write_with_encoder(PngEncoder::new(&mut out))
    } else {
        // Without a copy when the pixels are RGB already (every JPEG): one photo in memory.
        match img.as_rgb8() {
            Some(rgb) => JpegEncoder::new_with_quality(&mut out, 88).encode_image(rgb),
            None => JpegEncoder::new_with_quality(&mut out, 88).encode_image(&img.to_rgb8()),
        }
    };
    written.map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    out.flush()?;
    let Hashing { inner, hash, size } = out;
    inner
        .into_inner()
        .map_err(|e| PhotoError::Io(e.into_error()))?
        .sync_all()?;
    let thumb_img = img.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut thumb = Vec::new();
    JpegEncoder::new_with_quality(&mut thumb, 75)
        .encode_image(&thumb_img)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    let thumb_sha256 = format!("{:x}", Sha256::digest(&thumb));
    let (mime, ext) = if as_png {
        ("image/png", "png")
    } else {
        ("image/jpeg", "jpg")
    };
    Ok(Processed {
        path,
        size,
        sha256: format!("{:x}", hash.finalize()),
        mime,
        ext,
        width,
        height,
        thumb,
        thumb_sha256,
    })
}
