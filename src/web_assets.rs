//! The files of `web/` as they are sent: fingerprinted, compressed once, cached by browsers.
//!
//! - **Fingerprinted paths.** [`version`] is a hash of every file under `web/assets/`. Pages
//!   and assets refer to `/assets/<version>/<file>` (the references `"/assets/...`,
//!   `'/assets/...` and `(/assets/...` in HTML, JavaScript and CSS are rewritten when the
//!   file is first sent; relative imports such as `./api.js` then resolve inside the same
//!   version). Such a path is cached as `immutable` for a year: a revisit downloads and
//!   revalidates none of them, and a new release has a new version, hence new paths.
//!   `/assets/<file>` keeps working, revalidated each time (`no-cache` with an ETag), and so
//!   does an old version's path (it gets today's file, not cached).
//! - **Compressed once.** Text files are compressed with gzip and brotli the first time
//!   they are asked for and kept in memory (the whole of `web/` is about 100 KB); each
//!   request gets the best encoding its `Accept-Encoding` allows, with `Vary`.
//!
//! Debug builds read `web/` from disk on each request (rust-embed), and the cache is keyed
//! by each file's content hash, so an edited file is sent as edited.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use rust_embed::RustEmbed;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

#[derive(RustEmbed)]
#[folder = "web/"]
pub(crate) struct Assets;

/// How a response body is encoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// The best encoding `Accept-Encoding` allows: brotli, then gzip, else none. A coding with
/// `q=0` is refused.
pub fn negotiate(headers: &HeaderMap) -> Encoding {
    let accept = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let allows = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case(name) || coding == "*") && !refused
        })
    };
    if allows("br") {
        Encoding::Brotli
    } else if allows("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of this build's assets: 10 hex digits of a SHA-256 over every file
/// under `web/assets/` (name and content hash), in name order.
pub fn version() -> String {
    if cfg!(debug_assertions) {
        // Files are read from disk in debug builds: they may have changed.
        return compute_version();
    }
    static VERSION: LazyLock<String> = LazyLock::new(compute_version);
    VERSION.clone()
}

fn compute_version() -> String {
    use sha2::{Digest, Sha256};
    {
        let mut names: Vec<_> = Assets::iter()
            .filter(|p| p.starts_with("assets/"))
            .collect();
        names.sort();
        let mut h = Sha256::new();
        for name in names {
            if let Some(f) = Assets::get(&name) {
                h.update(name.as_bytes());
                h.update([0]);
                h.update(f.metadata.sha256_hash());
            }
        }
        hex(&h.finalize()[..5])
    }
}

/// Whether a path segment is a version (10 lowercase hex digits).
pub fn is_version(segment: &str) -> bool {
    segment.len() == 10
        && segment
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One file ready to send: its body in each encoding and its validator.
pub struct Prepared {
    pub identity: Bytes,
    pub gzip: Option<Bytes>,
    pub brotli: Option<Bytes>,
    /// Without quotes or encoding suffix.
    pub tag: String,
    pub content_type: String,
}

impl Prepared {
    /// The body in `enc`, or as is when that encoding was not worth making.
    pub fn body(&self, enc: Encoding) -> (Bytes, Encoding) {
        match enc {
            Encoding::Brotli => match &self.brotli {
                Some(b) => (b.clone(), Encoding::Brotli),
                None => self.body(Encoding::Gzip),
            },
            Encoding::Gzip => match &self.gzip {
                Some(b) => (b.clone(), Encoding::Gzip),
                None => (self.identity.clone(), Encoding::Identity),
            },
            Encoding::Identity => (self.identity.clone(), Encoding::Identity),
        }
    }
}

fn is_text(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(ext, "html" | "js" | "mjs" | "css" | "svg" | "json" | "txt")
}

fn content_type(path: &str, file: &rust_embed::EmbeddedFile) -> String {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8".to_owned(),
        "js" | "mjs" => "text/javascript; charset=utf-8".to_owned(),
        "css" => "text/css; charset=utf-8".to_owned(),
        "svg" => "image/svg+xml".to_owned(),
        "json" => "application/json".to_owned(),
        _ => file.metadata.mimetype().to_owned(),
    }
}

/// `"/assets/x` → `"/assets/<version>/x` (also after `'` and `(`), in text that refers to
/// assets by absolute path.
pub fn fingerprint_references(text: &str, version: &str) -> String {
    let mut out = text.to_owned();
    for quote in ['"', '\'', '('] {
        out = out.replace(
            &format!("{quote}/assets/"),
            &format!("{quote}/assets/{version}/"),
        );
    }
    out
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok().map(Bytes::from)
}

fn brotli(data: &[u8]) -> Option<Bytes> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut std::io::Cursor::new(data), &mut out, &params).ok()?;
    Some(Bytes::from(out))
}

type Cache = Mutex<HashMap<(String, [u8; 32], String), Arc<Prepared>>>;
static CACHE: LazyLock<Cache> = LazyLock::new(Mutex::default);

/// `path` in `web/` ready to send (references fingerprinted, compressed), or `None` when
/// there is no such file. Made once per file content and kept.
pub fn prepared(path: &str) -> Option<Arc<Prepared>> {
    let file = Assets::get(path)?;
    let sha = file.metadata.sha256_hash();
    let version = version();
    let key = (path.to_owned(), sha, version.clone());
    if let Ok(cache) = CACHE.lock()
        && let Some(p) = cache.get(&key)
    {
        return Some(p.clone());
    }
    let text = is_text(path);
    let refers = [".html", ".js", ".css"].iter().any(|e| path.ends_with(e));
    let identity: Bytes = match std::str::from_utf8(&file.data) {
        Ok(s) if refers => Bytes::from(fingerprint_references(s, &version)),
        _ => Bytes::from(file.data.clone().into_owned()),
    };
    // Small files are not worth it; the headers would outweigh the saving.
    let squeeze = text && identity.len() >= 256;
    let prepared = Arc::new(Prepared {
        gzip: squeeze.then(|| gzip(&identity)).flatten(),
        brotli: squeeze.then(|| brotli(&identity)).flatten(),
        tag: format!("{}{}", hex(&sha[..6]), &version[..6]),
        content_type: content_type(path, &file),
        identity,
    });
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(key, prepared.clone());
    }
    Some(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(v).expect("value"),
        );
        h
    }

    #[test]
    fn the_best_allowed_encoding_is_chosen() {
        assert_eq!(
            negotiate(&accept("gzip, deflate, br, zstd")),
            Encoding::Brotli
        );
        assert_eq!(negotiate(&accept("gzip")), Encoding::Gzip);
        assert_eq!(negotiate(&accept("br;q=0, gzip;q=0.5")), Encoding::Gzip);
        assert_eq!(negotiate(&accept("identity")), Encoding::Identity);
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(negotiate(&accept("*")), Encoding::Brotli);
    }

    #[test]
    fn references_are_fingerprinted_and_files_compressed() {
        assert_eq!(
            fingerprint_references(
                r#"<link href="/assets/app.css"><img src='/assets/icon.svg'> url(/assets/x.svg) /assets/plain"#,
                "0123456789"
            ),
            r#"<link href="/assets/0123456789/app.css"><img src='/assets/0123456789/icon.svg'> url(/assets/0123456789/x.svg) /assets/plain"#
        );
        let v = version();
        assert!(is_version(&v), "{v}");
        let page = prepared("admin.html").expect("admin page");
        let html = std::str::from_utf8(&page.identity).expect("utf-8");
        assert!(html.contains(&format!("/assets/{v}/app.css")), "{html}");
        let css = prepared("assets/app.css").expect("css");
        let br = css.brotli.as_ref().expect("brotli");
        let gz = css.gzip.as_ref().expect("gzip");
        assert!(br.len() < gz.len() && gz.len() < css.identity.len());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut std::io::Cursor::new(&br[..]), &mut back).expect("br");
        assert_eq!(back, css.identity);
        assert!(prepared("assets/nope.js").is_none());
    }
}
