//! Attachments: a photo goes from a customer to the worker without its metadata (no GPS),
//! turned the way the phone held it, with a thumbnail, live on the worker's socket; only
//! the chat's participants download it; every refusal (disguised type, HEIC, oversize,
//! over quota, not a participant, guessed id, expired guest, another's upload, a scanner
//! that is down, EICAR through a real clamd) is a clear error that keeps nothing. Runs on
//! every backend the suite is pointed at (files in the database on PostgreSQL and MariaDB).

use crate::support::*;
use crate::wsclient::Ws;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A JPEG of `w`×`h` whose EXIF says: rotate 90° to show it (orientation 6), a GPS
/// position, and a description that must never reach anyone.
pub fn phone_photo(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 5 % 256) as u8, (y * 5 % 256) as u8, 128])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .expect("encode");
    // TIFF, little endian: IFD0 (description, orientation, GPS pointer), the GPS IFD
    // (latitude N 48° 8' 30"), then their data.
    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, ty: u16, count: u32, value: [u8; 4]| {
        t.extend(tag.to_le_bytes());
        t.extend(ty.to_le_bytes());
        t.extend(count.to_le_bytes());
        t.extend(value);
    };
    let (gps_ifd, desc, lat) = (8 + 2 + 3 * 12 + 4, 80u32, 96u32);
    t.extend(3u16.to_le_bytes());
    entry(&mut t, 0x010E, 2, 16, desc.to_le_bytes());
    entry(&mut t, 0x0112, 3, 1, [6, 0, 0, 0]);
    entry(&mut t, 0x8825, 4, 1, (gps_ifd as u32).to_le_bytes());
    t.extend(0u32.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, lat.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    assert_eq!(t.len(), desc as usize);
    t.extend(b"NATI-GPS-SECRET\0");
    for (num, den) in [(48u32, 1u32), (8, 1), (30, 1)] {
        t.extend(num.to_le_bytes());
        t.extend(den.to_le_bytes());
    }
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend(((2 + 6 + t.len()) as u16).to_be_bytes());
    app1.extend(b"Exif\0\0");
    app1.extend(t);
    let mut out = jpeg[..2].to_vec();
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

/// A small valid PDF.
pub fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n% {text}\ntrailer<</Root 1 0 R>>\n%%EOF\n")
        .into_bytes()
}

/// The standard antivirus test file.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

pub async fn upload(
    c: &Client,
    chat: i64,
    client_id: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let path = format!(
        "/api/chat/attachments?chat_id={chat}&client_id={client_id}&name={}",
        name.replace(' ', "%20")
    );
    c.post_raw(&path, content_type, bytes).await
}

async fn download(
    c: &Client,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut rb = c.request(Method::GET, path);
    if let Some(r) = range {
        rb = rb.header("range", r);
    }
    let resp = rb.send().await.expect("request");
    let st = resp.status();
    let h = resp.headers().clone();
    (st, h, resp.bytes().await.expect("body").to_vec())
}

/// Send uploads in a message without a caption (`private`: a note for the staff).
async fn send_files(c: &Client, chat: i64, ids: &[&str], private: bool) -> (StatusCode, Value) {
    c.post(
        "/api/chat/send_message",
        json!({"chat_id": chat, "attachments": ids, "private": private}),
    )
    .await
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_phone_photo_reaches_the_worker_without_its_location() {
    let d = Desk::new().await;
    let mut worker = Ws::connect(&d.server.base, d.w1.token.as_deref().expect("token"), "").await;
    let photo = phone_photo(40, 20);
    assert!(contains(&photo, b"NATI-GPS-SECRET"));

    // The name and the header say nothing: the bytes do.
    let (st, meta) = upload(
        &d.u1,
        d.chat_u1,
        "p-1",
        "warning light.bin",
        "text/plain",
        photo.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    assert_eq!(meta["kind"], "image");
    assert_eq!(meta["mime"], "image/jpeg");
    assert_eq!(meta["name"], "warning light.bin");
    assert_eq!(meta["thumb"], true);
    // Turned as the phone held it: 40×20 with orientation 6 is 20 wide, 40 high.
    assert_eq!(
        (meta["width"].as_i64(), meta["height"].as_i64()),
        (Some(20), Some(40))
    );
    let id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);

    // A retry with the same client id is the same file.
    let (st, again) = upload(
        &d.u1,
        d.chat_u1,
        "p-1",
        "warning light.bin",
        "image/jpeg",
        photo,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.as_str());

    // Before it is sent, only its uploader has it.
    let file = format!("/api/chat/attachments/{id}");
    assert_eq!(download(&d.w1, &file, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        download(&d.admin, &file, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(download(&d.u1, &file, None).await.0, StatusCode::OK);

    // Sent without a caption, over the socket as well as HTTP answers.
    let (st, sent) =
        d.u1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "attachments": [id], "client_id": "m-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["message"]["message"], "");
    assert_eq!(sent["message"]["attachments"][0]["id"], id.as_str());
    let live = loop {
        let f = worker.next_of("message.created").await;
        if f["data"]["attachments"][0]["id"] == id.as_str() {
            break f;
        }
    };
    assert_eq!(live["data"]["attachments"][0]["thumb"], true);

    // The worker downloads it: a JPEG with no EXIF, no GPS, no description; inline,
    // sandboxed, not sniffed.
    let (st, h, bytes) = download(&d.w1, &file, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .expect("csp")
            .starts_with("sandbox")
    );
    assert!(
        h["content-disposition"]
            .to_str()
            .expect("cd")
            .starts_with("inline")
    );
    assert!(h["cache-control"].to_str().expect("cc").contains("private"));
    assert!(!contains(&bytes, b"Exif"), "EXIF is gone");
    assert!(
        !contains(&bytes, b"NATI-GPS-SECRET"),
        "the description is gone"
    );
    let img = image::load_from_memory(&bytes).expect("a photo");
    assert_eq!((img.width(), img.height()), (20, 40));
    assert_eq!(bytes.len() as i64, meta["size"].as_i64().expect("size"));
    let (st, h, thumb) = download(&d.w1, &format!("{file}/thumb"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["content-type"], "image/jpeg");
    assert!(image::load_from_memory(&thumb).is_ok());
    // The second visit costs nothing.
    let etag = h["etag"].to_str().expect("etag").to_owned();
    let resp =
        d.w1.request(Method::GET, &format!("{file}/thumb"))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // History carries the files; the admin sees them; nobody else, whatever the id.
    let msgs = d.all_messages(d.chat_u1).await;
    assert!(
        msgs.iter()
            .any(|m| m["attachments"][0]["id"] == id.as_str())
    );
    assert_eq!(download(&d.admin, &file, None).await.0, StatusCode::OK);
    // Chat lists preview a message of files only by what it holds, for both sides.
    for who in [&d.u1, &d.w1] {
        let (_, list) = who.get("/api/chat/list").await;
        let row = list["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .find(|c| c["chat_id"] == d.chat_u1)
            .expect("the chat")
            .clone();
        assert_eq!(row["last_message"], "📎 A photo", "{row}");
    }
    for stranger in [&d.u2, &d.w2, &d.guest] {
        let (st, _, body) = download(stranger, &file, None).await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            download(stranger, &format!("{file}/thumb"), None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        download(&d.server.anon(), &file, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    for guessed in [
        "00000000000000000000000000000000",
        "../../etc/passwd",
        "x",
        &id[..31],
    ] {
        let (st, _, _) = download(&d.w1, &format!("/api/chat/attachments/{guessed}"), None).await;
        assert!(st == StatusCode::NOT_FOUND, "{guessed}: {st}");
    }
}

#[tokio::test]
async fn documents_download_as_files_with_ranges() {
    let d = Desk::new().await;
    let body = pdf("invoice 2026-118");
    let (st, meta) = upload(
        &d.w1,
        d.chat_u1,
        "inv-1",
        "Invoice <2026>.pdf",
        "application/pdf",
        body.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    assert_eq!(meta["kind"], "pdf");
    assert_eq!(meta["thumb"], false);
    let id = meta["id"].as_str().expect("id").to_owned();
    let (st, sent) =
        d.w1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "message": "Your invoice", "attachments": [id]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sent}");
    let file = format!("/api/chat/attachments/{id}");
    let (st, h, got) = download(&d.u1, &file, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, body, "stored as sent");
    assert_eq!(h["content-type"], "application/pdf");
    let cd = h["content-disposition"].to_str().expect("cd");
    assert!(
        cd.starts_with("attachment; filename=\"Invoice 2026.pdf\""),
        "{cd}"
    );
    assert_eq!(h["accept-ranges"], "bytes");
    let (st, h, part) = download(&d.u1, &file, Some("bytes=0-4")).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, b"%PDF-");
    assert_eq!(
        h["content-range"],
        format!("bytes 0-4/{}", body.len()).as_str()
    );
    let (st, _, tail) = download(&d.u1, &file, Some("bytes=-6")).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail, b"%%EOF\n");
    let (st, h, _) = download(&d.u1, &file, Some("bytes=99999-")).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        h["content-range"],
        format!("bytes */{}", body.len()).as_str()
    );
    // No thumbnail for a document.
    assert_eq!(
        download(&d.u1, &format!("{file}/thumb"), None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_refusal_is_clear_and_keeps_nothing() {
    let server = TestServer::start_with(|s| {
        s.attachment_max_bytes = 4000;
        s.attachment_message_max_bytes = 6000;
        s.attachment_daily_quota_bytes = 9000;
    })
    .await;
    let d = Desk::on(server).await;
    let up = |c: &Client, cid: &'static str, name: &'static str, bytes: Vec<u8>| {
        let c = c.clone();
        let chat = d.chat_u1;
        async move { upload(&c, chat, cid, name, "image/jpeg", bytes).await }
    };
    // A page disguised as a photo by its name and header.
    let got = up(
        &d.u1,
        "a",
        "photo.jpg",
        b"<html><script>alert(1)</script>".to_vec(),
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    let got = up(
        &d.u1,
        "b",
        "img.jpg",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    let got = up(&d.u1, "c", "setup.pdf", b"MZ\x90\0\x03\0\0\0".to_vec()).await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    // HEIC: refused with what to do instead.
    let got = up(
        &d.u1,
        "d",
        "IMG_0001.HEIC",
        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(),
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    assert!(
        got.1["error"]["message"]
            .as_str()
            .expect("m")
            .contains("JPEG"),
        "{}",
        got.1
    );
    // A broken photo.
    let got = up(
        &d.u1,
        "e",
        "broken.jpg",
        b"\xFF\xD8\xFF\xE0 not really a jpeg".to_vec(),
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    // Empty.
    let got = up(&d.u1, "f", "empty.pdf", Vec::new()).await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_refused",
    );
    // Too large: by its declared length and, streamed, by its bytes.
    let got = up(&d.u1, "g", "big.pdf", pdf(&"x".repeat(5000))).await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    let status = chunked_upload(&d, 10, 1000).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // Strangers and bad parameters.
    let got = upload(&d.u2, d.chat_u1, "i", "a.pdf", "application/pdf", pdf("x")).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = upload(&d.w2, d.chat_u1, "i", "a.pdf", "application/pdf", pdf("x")).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = upload(&d.u1, 999_999, "i", "a.pdf", "application/pdf", pdf("x")).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = upload(
        &d.u1,
        d.chat_u1,
        "bad%20id",
        "a.pdf",
        "application/pdf",
        pdf("x"),
    )
    .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let got = upload(
        &d.server.anon(),
        d.chat_u1,
        "i",
        "a.pdf",
        "application/pdf",
        pdf("x"),
    )
    .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED);

    // Nothing of the above counts: the whole quota is still there. Two files of 3.5 KB
    // fit in it; a third does not.
    let big = |t: &str| pdf(&format!("{t}{}", "y".repeat(3400)));
    let (st, a) = upload(&d.u1, d.chat_u1, "q1", "a.pdf", "application/pdf", big("a")).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, b) = upload(&d.u1, d.chat_u1, "q2", "b.pdf", "application/pdf", big("b")).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let got = upload(&d.u1, d.chat_u1, "q3", "c.pdf", "application/pdf", big("c")).await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    // Another account has its own quota.
    let (st, _) = upload(&d.w1, d.chat_u1, "q3", "c.pdf", "application/pdf", big("c")).await;
    assert_eq!(st, StatusCode::CREATED);

    // Sending: together over the per-message limit; another's upload; an unknown id; an
    // upload for another chat. Each refused, nothing stored.
    let before = d.chat_snapshot(d.chat_u1).await;
    let send = |c: &Client, chat: i64, ids: Vec<&str>| {
        let c = c.clone();
        let ids: Vec<String> = ids.into_iter().map(String::from).collect();
        async move {
            c.post(
                "/api/chat/send_message",
                json!({"chat_id": chat, "attachments": ids}),
            )
            .await
        }
    };
    let (ida, idb) = (a["id"].as_str().expect("a"), b["id"].as_str().expect("b"));
    let got = send(&d.u1, d.chat_u1, vec![ida, idb]).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let got = send(&d.w1, d.chat_u1, vec![ida]).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = send(&d.u1, d.chat_u1, vec!["0123456789abcdef0123456789abcdef"]).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (st, other) = upload(&d.u2, d.chat_u2, "o1", "o.pdf", "application/pdf", pdf("o")).await;
    assert_eq!(st, StatusCode::CREATED);
    let got = send(&d.u2, d.chat_u1, vec![other["id"].as_str().expect("id")]).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let many: Vec<&str> = vec![ida; 11];
    let got = send(&d.u1, d.chat_u1, many).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let got =
        d.u1.post("/api/chat/send_message", json!({"chat_id": d.chat_u1}))
            .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        d.chat_snapshot(d.chat_u1).await,
        before,
        "refusals change nothing"
    );
    // The other's file is still not downloadable by u1.
    let oid = other["id"].as_str().expect("id");
    let (st, _, _) = download(&d.u1, &format!("/api/chat/attachments/{oid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // One file is fine.
    let got = send(&d.u1, d.chat_u1, vec![ida]).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

#[tokio::test]
async fn an_expired_guest_cannot_upload_or_download() {
    let server = TestServer::start_with(|s| s.guest_inactivity_secs = 1).await;
    let (guest, chat, _) = server.guest_chat("Gina", "hello").await;
    let (st, meta) = upload(
        &guest,
        chat,
        "g1",
        "light.jpg",
        "image/jpeg",
        phone_photo(16, 16),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    let file = format!("/api/chat/attachments/{}", meta["id"].as_str().expect("id"));
    assert_eq!(download(&guest, &file, None).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let got = upload(
        &guest,
        chat,
        "g2",
        "light.jpg",
        "image/jpeg",
        phone_photo(16, 16),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "guest_expired");
    assert_eq!(
        download(&guest, &file, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn private_note_files_stay_with_the_staff() {
    let d = Desk::new().await;
    let (st, meta) = upload(
        &d.w1,
        d.chat_u1,
        "n1",
        "diag.pdf",
        "application/pdf",
        pdf("internal"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let id = meta["id"].as_str().expect("id");
    let (st, b) = send_files(&d.w1, d.chat_u1, &[id], true).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let file = format!("/api/chat/attachments/{id}");
    assert_eq!(download(&d.admin, &file, None).await.0, StatusCode::OK);
    assert_eq!(download(&d.w1, &file, None).await.0, StatusCode::OK);
    assert_eq!(download(&d.u1, &file, None).await.0, StatusCode::NOT_FOUND);
    let msgs =
        d.u1.get(&format!("/api/chat/messages?chat_id={}", d.chat_u1))
            .await
            .1;
    assert!(
        !msgs.to_string().contains(id),
        "the customer's history has no trace"
    );
}

#[tokio::test]
async fn a_refused_message_leaves_its_files_unsent() {
    let d = Desk::new().await;
    let (st, meta) = upload(
        &d.w1,
        d.chat_u1,
        "r1",
        "quote.pdf",
        "application/pdf",
        pdf("quote"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    let id = meta["id"].as_str().expect("id").to_owned();
    let file = format!("/api/chat/attachments/{id}");
    // The chat is closed: the worker's message is refused, and its file stays the
    // worker's alone (an upload the sweep may take), not a sent file nobody sees.
    let (st, b) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_u1}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let send = json!({"chat_id": d.chat_u1, "attachments": [id], "client_id": "q-1"});
    let (st, b) = d.w1.post("/api/chat/send_message", send.clone()).await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(download(&d.u1, &file, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        download(&d.admin, &file, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(download(&d.w1, &file, None).await.0, StatusCode::OK);
    // Reopened, the same send goes through, and the customer gets the file.
    let (st, b) =
        d.w1.post("/api/chat/reopen", json!({"chat_id": d.chat_u1}))
            .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = d.w1.post("/api/chat/send_message", send).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(download(&d.u1, &file, None).await.0, StatusCode::OK);
    // Sent again in a private note, a file the customer has stays theirs; a note's file
    // sent again in the conversation becomes the customer's too.
    let (st, b) = send_files(&d.w1, d.chat_u1, &[&id], true).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(download(&d.u1, &file, None).await.0, StatusCode::OK);
    let (st, meta) = upload(&d.w1, d.chat_u1, "r2", "n.pdf", "application/pdf", pdf("n")).await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    let note_id = meta["id"].as_str().expect("id").to_owned();
    let note_file = format!("/api/chat/attachments/{note_id}");
    let (st, b) = send_files(&d.w1, d.chat_u1, &[&note_id], true).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(
        download(&d.u1, &note_file, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (st, b) = send_files(&d.w1, d.chat_u1, &[&note_id], false).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(download(&d.u1, &note_file, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn unsent_uploads_are_removed_with_their_bytes() {
    // Two seconds: a message may take an upload in its first second (the last half of so
    // short a time is refused, so a send never races the sweep).
    let server = TestServer::start_with(|s| s.attachment_unsent_ttl_secs = 2).await;
    let d = Desk::on(server).await;
    let (st, kept) = upload(
        &d.u1,
        d.chat_u1,
        "s2",
        "y.pdf",
        "application/pdf",
        pdf("sent"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let kept_id = kept["id"].as_str().expect("id").to_owned();
    let (st, b) =
        d.u1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "attachments": [kept_id]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, meta) = upload(
        &d.u1,
        d.chat_u1,
        "s1",
        "x.pdf",
        "application/pdf",
        pdf("left behind"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let id = meta["id"].as_str().expect("id").to_owned();
    let file = format!("/api/chat/attachments/{id}");
    // Past its first second it cannot go into a message any more: upload it again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, b) =
        d.u1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "attachments": [id]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b.to_string()
            .contains("x.pdf waited too long to be sent and is being removed: upload it again"),
        "{b}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if download(&d.u1, &file, None).await.0 == StatusCode::NOT_FOUND {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still there");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The sent one stays, on every sweep.
    let (st, _, got) = download(&d.u1, &format!("/api/chat/attachments/{kept_id}"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, pdf("sent"));
    // On disk (SQLite) only the sent file is left.
    let dir = d.server.dir.path().join("attachments");
    let files: Vec<_> = walk(&dir);
    let on_disk = !std::env::var("NATI_TEST_DATABASE_URL").is_ok_and(|u| is_server_url(&u));
    assert_eq!(files.len(), usize::from(on_disk), "{files:?}");
}

/// Upload `n` chunks of `size` bytes with no declared length (chunked), as a slow phone
/// would; the status line of the answer.
async fn chunked_upload(d: &Desk, n: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(d.server.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/chat/attachments?chat_id={}&client_id=h HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        d.chat_u1,
        d.u1.token.as_deref().expect("token")
    );
    let _ = s.write_all(head.as_bytes()).await;
    for _ in 0..n {
        let mut chunk = format!("{size:x}\r\n").into_bytes();
        chunk.extend(vec![b'%'; size]);
        chunk.extend(b"\r\n");
        if s.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_scanner_that_is_down_refuses_uploads() {
    let server =
        TestServer::start_with(|s| s.clamd_socket = Some("/nonexistent/clamd.ctl".into())).await;
    let d = Desk::on(server).await;
    let got = upload(&d.u1, d.chat_u1, "v1", "a.pdf", "application/pdf", pdf("x")).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "scanner_unavailable");
}

/// With `NATI_TEST_CLAMD_SOCKET` (the test script starts a clamd with a local EICAR
/// signature and sets it): the EICAR file is refused, a clean file passes.
#[tokio::test]
async fn a_real_clamd_refuses_the_eicar_file() {
    let Ok(socket) = std::env::var("NATI_TEST_CLAMD_SOCKET") else {
        // The test script always gives one; in CI a missing clamd is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "NATI_TEST_CLAMD_SOCKET is unset in CI: scripts/test.sh starts clamd"
        );
        eprintln!("NATI_TEST_CLAMD_SOCKET unset: the test script runs this against a real clamd");
        return;
    };
    let server = TestServer::start_with(|s| s.clamd_socket = Some(socket.into())).await;
    let d = Desk::on(server).await;
    let got = upload(
        &d.u1,
        d.chat_u1,
        "v1",
        "invoice.pdf",
        "application/pdf",
        EICAR.as_bytes().to_vec(),
    )
    .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "file_infected");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .expect("m")
            .contains("Eicar"),
        "{}",
        got.1
    );
    let (st, b) = upload(
        &d.u1,
        d.chat_u1,
        "v3",
        "clean.pdf",
        "application/pdf",
        pdf("clean"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}
