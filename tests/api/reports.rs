//! Reports for admins: per day and per worker, from what really happened in chats (first
//! answers, closing, ratings, chats taken from a silent worker), as JSON and CSV; bad
//! periods are refused. Runs on every backend the suite is pointed at.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn worker<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {r}"))
}

#[tokio::test]
async fn a_day_of_chats_in_numbers_and_as_csv() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 30).await).await;
    // Walt answers Umar, closes the chat, Umar rates it 4.
    d.w1.send_message(d.chat_u1, "On it").await;
    d.w1.post("/api/chat/close", json!({"chat_id": d.chat_u1}))
        .await;
    let (st, b) =
        d.u1.post("/api/chat/rate", json!({"chat_id": d.chat_u1, "stars": 4}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // Wendy leaves Ursula unanswered: the chat is taken from her.
    d.admin
        .put(
            "/api/admin/routing",
            json!({"mode": "manual", "capacity": 3, "silence_secs": 1}),
        )
        .await;
    d.assign(d.chat_u2, d.w2_id).await;
    d.u2.send_message(d.chat_u2, "hello?").await;
    for _ in 0..200 {
        if d.chat(d.chat_u2).await["worker_id"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (st, r) = d.admin.get("/api/admin/reports").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        r["days"].as_array().expect("days").len(),
        7,
        "a week by default"
    );
    let t = &r["total"];
    assert_eq!(t["chats"], 3, "{t}");
    assert_eq!(t["answered"], 1);
    assert_eq!(t["resolved"], 1);
    assert_eq!(t["ratings"], 1);
    assert_eq!(t["average_rating"], 4.0);
    assert_eq!(t["silence_reassignments"], 1);
    assert!(t["first_response_median_secs"].as_i64().is_some());
    let today = r["days"][6].clone();
    assert_eq!(today["chats"], 3, "{today}");
    let walt = worker(&r, "Walt");
    assert_eq!(
        (walt["chats"].as_i64(), walt["average_rating"].as_f64()),
        (Some(1), Some(4.0))
    );
    assert_eq!(worker(&r, "Wendy")["silence_reassignments"], 1);

    // The same as CSV.
    let reply = send_full(
        d.admin
            .request(reqwest::Method::GET, "/api/admin/reports?format=csv"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let one = |name: &str| {
        reply
            .header_all(name)
            .into_iter()
            .next()
            .unwrap_or_default()
    };
    assert!(
        one("content-type").starts_with("text/csv"),
        "{}",
        one("content-type")
    );
    let disposition = one("content-disposition");
    assert!(
        disposition.contains("attachment") && disposition.contains(".csv"),
        "{disposition}"
    );
    let text = reply.raw.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("kind,day,worker_id,worker,chats,"));
    assert_eq!(lines.iter().filter(|l| l.starts_with("day,")).count(), 7);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("worker,,{},Walt,1,1,1,", d.w1_id)))
    );
    assert!(lines.last().is_some_and(|l| l.starts_with("total,")));

    // Only admins; periods that make no sense are refused.
    for c in [&d.w1, &d.u1, &d.guest] {
        assert_eq!(c.get("/api/admin/reports").await.0, StatusCode::FORBIDDEN);
    }
    for q in [
        "from=2026-12-05&to=2026-12-01",
        "from=2026-13-01",
        "from=2025-01-01&to=2026-12-31",
        "format=xml",
        "from=9999-12-31&to=9999-12-31",
        "to=0000-01-03",
        "from=1969-12-31",
    ] {
        let got = d.admin.get(&format!("/api/admin/reports?{q}")).await;
        assert!(
            got.0 == StatusCode::UNPROCESSABLE_ENTITY || got.0 == StatusCode::BAD_REQUEST,
            "{q}: {got:?}"
        );
    }
    let (st, old) = d
        .admin
        .get("/api/admin/reports?from=2020-01-01&to=2020-01-31")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(old["total"]["chats"], 0);
    assert_eq!(old["days"].as_array().expect("days").len(), 31);
}
