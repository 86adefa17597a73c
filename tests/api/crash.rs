//! Crash safety of the write path: a real `nati-chat` process is killed with SIGKILL again
//! and again while clients send with client ids; after each restart the clients retry
//! what was in flight. Every acknowledged message must be stored exactly once, retries
//! must never store a second copy, and the chat's sequence must have no gaps. Runs on the
//! embedded SQLite file, and on PostgreSQL or MariaDB in the test script's legs
//! (`NATI_TEST_DATABASE_URL`).

use crate::nodes::Node;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

const ROUNDS: usize = 5;
const SENDERS: usize = 6;

/// What one sender saw: acknowledged client ids, and the one in flight when the server
/// died (to retry after the restart).
#[derive(Default)]
struct Sender {
    acked: Vec<String>,
    in_flight: Option<String>,
    next: usize,
}

/// Send `cid` once; `Some(true)` when stored now, `Some(false)` when the server says it
/// was stored before, `None` when the server did not answer (it died).
async fn send(c: &Client, chat: i64, cid: &str) -> Option<bool> {
    let r = c
        .request(reqwest::Method::POST, "/api/chat/send_message")
        .json(&json!({"chat_id": chat, "message": format!("text of {cid}"), "client_id": cid}))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    match r.status() {
        StatusCode::CREATED => Some(true),
        StatusCode::OK => Some(false),
        other => panic!("send {cid}: unexpected {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_again_and_again_loses_and_duplicates_no_acknowledged_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = match std::env::var("NATI_TEST_DATABASE_URL") {
        Ok(url) if is_server_url(&url) => Some(
            ScratchDb::create(&url, "nati_it_")
                .await
                .expect("scratch database"),
        ),
        _ => None,
    };
    let url = scratch.as_ref().map(|s| s.url().to_owned());
    let mut node = Node::start_in(dir.path(), url.as_deref(), &[]);
    let (st, body) = Client::new(&node.base, None)
        .post("/api/chat/start", json!({"message": "start"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let token = body["guest_token"].as_str().map(String::from);
    let chat = body["chat"]["chat_id"].as_i64().expect("chat id");
    let mut senders: Vec<Sender> = (0..SENDERS).map(|_| Sender::default()).collect();

    for round in 0..ROUNDS {
        let client = Client::new(&node.base, token.clone());
        // First, every sender retries what it had in flight when the server died.
        for (i, s) in senders.iter_mut().enumerate() {
            if let Some(cid) = s.in_flight.take() {
                let got = send(&client, chat, &cid).await;
                assert!(got.is_some(), "sender {i}: the restarted server answers");
                s.acked.push(cid);
            }
        }
        // Then all send as fast as they can until the server is killed under them.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, mut s) in std::mem::take(&mut senders).into_iter().enumerate() {
            let client = client.clone();
            tasks.spawn(async move {
                loop {
                    let cid = format!("s{i}-m{}", s.next);
                    s.next += 1;
                    match send(&client, chat, &cid).await {
                        Some(_) => s.acked.push(cid),
                        None => {
                            s.in_flight = Some(cid);
                            return (i, s);
                        }
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(300 + 97 * round as u64)).await;
        node.kill();
        let mut back: Vec<(usize, Sender)> = Vec::new();
        while let Some(r) = tasks.join_next().await {
            back.push(r.expect("sender task"));
        }
        back.sort_by_key(|(i, _)| *i);
        senders = back.into_iter().map(|(_, s)| s).collect();
        node = Node::start_in(dir.path(), url.as_deref(), &[]);
    }
    // The last retries, then read everything back.
    let client = Client::new(&node.base, token.clone());
    for s in &mut senders {
        if let Some(cid) = s.in_flight.take() {
            assert!(send(&client, chat, &cid).await.is_some());
            s.acked.push(cid);
        }
    }
    let mut stored: Vec<serde_json::Value> = Vec::new();
    let mut after = 0;
    loop {
        let (st, page) = client
            .get(&format!(
                "/api/chat/messages?chat_id={chat}&after={after}&limit=100"
            ))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let msgs = page["messages"].as_array().expect("messages").clone();
        if msgs.is_empty() {
            break;
        }
        after = msgs
            .last()
            .and_then(|m| m["message_id"].as_i64())
            .expect("id");
        stored.extend(msgs);
    }
    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in &stored {
        if let Some(cid) = m["client_id"].as_str() {
            *copies.entry(cid.to_owned()).or_default() += 1;
        }
    }
    let acked: Vec<&String> = senders.iter().flat_map(|s| &s.acked).collect();
    assert!(
        acked.len() >= ROUNDS * SENDERS,
        "the senders got through: {} acknowledged",
        acked.len()
    );
    for cid in &acked {
        assert_eq!(
            copies.get(cid.as_str()),
            Some(&1),
            "acknowledged `{cid}` is stored exactly once"
        );
    }
    assert!(
        copies.values().all(|&n| n == 1),
        "no client id is stored twice"
    );
    // Only messages happen in this chat (a guest writing in a pending chat changes
    // nothing else): chat.created is seq 1, then one seq per message, no gaps.
    let seqs: Vec<i64> = stored.iter().filter_map(|m| m["seq"].as_i64()).collect();
    let want: Vec<i64> = (2..=stored.len() as i64 + 1).collect();
    assert_eq!(seqs, want, "the chat's sequence has no gaps");
    drop(node);
    if let Some(db) = scratch {
        db.drop_database().await.expect("drop");
    }
}
