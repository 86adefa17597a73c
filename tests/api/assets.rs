//! What a browser downloads: the widget loader and the widget's first open, compressed and
//! small; fingerprinted files cached as immutable, so a revisit asks for none of them.

use crate::support::*;
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;

struct Got {
    status: StatusCode,
    encoding: Option<String>,
    cache: Option<String>,
    etag: Option<String>,
    body: Vec<u8>,
}

async fn fetch(c: &Client, path: &str, accept: &str, if_none: Option<&str>) -> Got {
    let mut rb = c
        .request(Method::GET, path)
        .header("accept-encoding", accept);
    if let Some(tag) = if_none {
        rb = rb.header("if-none-match", tag);
    }
    let r = rb.send().await.expect("request");
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, encoding, cache, etag) = (
        r.status(),
        h("content-encoding"),
        h("cache-control"),
        h("etag"),
    );
    let body = r.bytes().await.expect("body").to_vec();
    Got {
        status,
        encoding,
        cache,
        etag,
        body,
    }
}

fn unbrotli(b: &[u8]) -> String {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut std::io::Cursor::new(b), &mut out).expect("brotli");
    String::from_utf8(out).expect("utf-8")
}

/// `/assets/...` paths referred to by absolute path, and `./x.js` imports (made absolute
/// against `dir`).
fn references(text: &str, dir: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for quote in ['"', '\'', '('] {
        for start in ["/assets/", "./"] {
            let open = format!("{quote}{start}");
            for (at, _) in text.match_indices(&open) {
                // `import('./x.js')` loads on demand (a file picked, a chat rated): not
                // part of the first open. The browser test measures what really transfers.
                if text[..at].ends_with("import") || text[..at].ends_with("import(") {
                    continue;
                }
                let rest = &text[at + 1..];
                let end = rest
                    .find(|c: char| c == '"' || c == '\'' || c == ')' || c.is_whitespace())
                    .unwrap_or(rest.len());
                let found = &rest[..end];
                match found.strip_prefix("./") {
                    Some(rel) if rel.ends_with(".js") => {
                        out.insert(format!("{dir}{rel}"));
                    }
                    Some(_) => {}
                    None => {
                        out.insert(found.to_owned());
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_widget_downloads_little_once_and_nothing_again() {
    let s = TestServer::start().await;
    let c = s.anon();
    let br = "gzip, deflate, br, zstd";

    // The loader every page of the host site includes: ≤ 3 KB, kept for minutes.
    let loader = fetch(&c, "/widget.js", br, None).await;
    assert_eq!(loader.status, StatusCode::OK);
    assert_eq!(loader.encoding.as_deref(), Some("br"));
    assert!(
        loader.body.len() <= 3 * 1024,
        "loader {} bytes",
        loader.body.len()
    );
    assert_eq!(loader.cache.as_deref(), Some("public, max-age=300"));

    // The widget's first open: the page, then every file it and its modules refer to.
    let page = fetch(&c, "/widget", br, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.cache.as_deref(), Some("no-cache"));
    let html = match page.encoding.as_deref() {
        Some("br") => unbrotli(&page.body),
        _ => String::from_utf8(page.body.clone()).expect("utf-8"),
    };
    let mut todo: Vec<String> = references(&html, "").into_iter().collect();
    assert!(!todo.is_empty(), "{html}");
    let mut seen = BTreeSet::new();
    let mut total = loader.body.len() + page.body.len();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let parts: Vec<&str> = path.split('/').collect();
        assert!(
            parts.len() == 4 && parts[2].len() == 10,
            "fingerprinted: {path}"
        );
        let got = fetch(&c, &path, br, None).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(
            got.cache.as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        total += got.body.len();
        if path.ends_with(".js") || path.ends_with(".css") {
            assert_eq!(got.encoding.as_deref(), Some("br"), "{path}");
            let text = unbrotli(&got.body);
            let dir = &path[..=path.rfind('/').expect("slash")];
            todo.extend(references(&text, dir));
            // A revisit that did ask would get a 304, not the file again.
            let again = fetch(&c, &path, br, got.etag.as_deref()).await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        }
    }
    assert!(
        seen.iter().any(|p| p.ends_with("/chat-view.js")),
        "imports followed: {seen:?}"
    );
    println!("first widget open: {} files, {total} bytes", seen.len() + 2);
    assert!(total <= 30 * 1024, "first open {total} bytes");

    // Without brotli: gzip, and the same text; without either: the text itself.
    let css_path = seen
        .iter()
        .find(|p| p.ends_with("/app.css"))
        .expect("css")
        .clone();
    let plain = fetch(&c, &css_path, "identity", None).await;
    assert_eq!(plain.encoding, None);
    let gz = fetch(&c, &css_path, "gzip", None).await;
    assert_eq!(gz.encoding.as_deref(), Some("gzip"));
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut text)
        .expect("gunzip");
    assert_eq!(text, plain.body);
    assert!(gz.body.len() * 3 < plain.body.len());
    assert_ne!(gz.etag, plain.etag, "each encoding its own validator");

    // Unversioned paths still work, and are asked about every time.
    let old = fetch(&c, "/assets/app.css", br, None).await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.cache.as_deref(), Some("no-cache"));
    let missing = fetch(&c, "/assets/0123456789/nope.js", br, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
