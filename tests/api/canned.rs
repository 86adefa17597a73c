//! Canned replies over HTTP: staff only; the team's are the admins' to keep; a personal
//! reply is its owner's alone (another staff member cannot see, change or delete it); bad
//! input is refused with the field named and changes nothing. Runs on every backend the
//! suite is pointed at.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const LIST: &str = "/api/chat/canned_replies";

async fn shortcuts(c: &Client) -> Vec<(String, bool)> {
    let (st, body) = c.get(LIST).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| {
            (
                r["shortcut"].as_str().expect("shortcut").to_owned(),
                r["shared"].as_bool().expect("shared"),
            )
        })
        .collect()
}

#[tokio::test]
async fn team_and_personal_replies_each_kept_by_the_right_people() {
    let d = Desk::new().await;
    let text = "Hello {customer_name}, your <b>tyres</b> are ready.\n{worker_name}";

    // Customers and guests have none and may add none.
    for c in [&d.u1, &d.guest] {
        assert_eq!(c.get(LIST).await.0, StatusCode::FORBIDDEN);
        let (st, _) = c.post(LIST, json!({"shortcut": "x", "text": "x"})).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    assert_eq!(d.server.anon().get(LIST).await.0, StatusCode::UNAUTHORIZED);

    // A worker may not add a team reply; an admin may. A leading / is dropped.
    let (st, body) =
        d.w1.post(
            LIST,
            json!({"shortcut": "tyres", "text": "x", "shared": true}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, body) = d
        .admin
        .post(
            LIST,
            json!({"shortcut": "/Tyres", "text": text, "shared": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let team: Value = body["reply"].clone();
    assert_eq!(team["shortcut"], "tyres");
    assert_eq!(team["text"], text, "stored exactly as written");
    assert_eq!(team["shared"], true);
    assert!(
        team.get("owner").is_none(),
        "the owner is not shown: {team}"
    );

    // w1's own reply may reuse the team's shortcut; the same one twice is a conflict.
    let (st, body) =
        d.w1.post(LIST, json!({"shortcut": "tyres", "text": "w1 says"}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let mine = body["reply"]["id"].as_i64().expect("id");
    let (st, body) =
        d.w1.post(LIST, json!({"shortcut": "tyres", "text": "again"}))
            .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, _) =
        d.w2.post(LIST, json!({"shortcut": "brakes", "text": "w2 says"}))
            .await;
    assert_eq!(st, StatusCode::CREATED);

    // Each sees the team's and their own, by shortcut, the team's first.
    assert_eq!(
        shortcuts(&d.w1).await,
        [("tyres".into(), true), ("tyres".into(), false)]
    );
    assert_eq!(
        shortcuts(&d.w2).await,
        [("brakes".into(), false), ("tyres".into(), true)]
    );
    assert_eq!(shortcuts(&d.admin).await, [("tyres".into(), true)]);

    // Another staff member's reply is not found; a team reply is the admins' to change.
    let change =
        |id: i64, shortcut: &str| json!({"id": id, "shortcut": shortcut, "text": "changed"});
    for c in [&d.w2, &d.admin] {
        let (st, _) = c
            .post("/api/chat/canned_replies/update", change(mine, "x"))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = c
            .post("/api/chat/canned_replies/delete", json!({"id": mine}))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
    let team_id = team["id"].as_i64().expect("id");
    let (st, _) =
        d.w1.post("/api/chat/canned_replies/update", change(team_id, "x"))
            .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) =
        d.w1.post("/api/chat/canned_replies/delete", json!({"id": team_id}))
            .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, body) = d
        .admin
        .post(
            "/api/chat/canned_replies/update",
            change(team_id, "tyres-ready"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["reply"]["text"], "changed");
    let (st, body) =
        d.w1.post("/api/chat/canned_replies/update", change(mine, "mine"))
            .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        shortcuts(&d.w1).await,
        [("mine".into(), false), ("tyres-ready".into(), true)]
    );

    // Deleting: the owner's own; then it is gone, and a second delete finds nothing.
    let (st, _) =
        d.w1.post("/api/chat/canned_replies/delete", json!({"id": mine}))
            .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) =
        d.w1.post("/api/chat/canned_replies/delete", json!({"id": mine}))
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(shortcuts(&d.w1).await, [("tyres-ready".into(), true)]);
}

#[tokio::test]
async fn bad_replies_are_refused_with_the_field_and_change_nothing() {
    let d = Desk::new().await;
    let long = "x".repeat(4001);
    let cases = [
        (json!({"shortcut": "", "text": "x"}), "shortcut"),
        (json!({"shortcut": "/", "text": "x"}), "shortcut"),
        (json!({"shortcut": "two words", "text": "x"}), "shortcut"),
        (json!({"shortcut": "ümlaut", "text": "x"}), "shortcut"),
        (json!({"shortcut": "a".repeat(33), "text": "x"}), "shortcut"),
        (json!({"shortcut": "ok", "text": "   "}), "text"),
        (json!({"shortcut": "ok", "text": long}), "text"),
        (json!({"shortcut": "ok", "text": "bell\u{7}"}), "text"),
    ];
    for (body, field) in cases {
        let (st, reply) = d.w1.post(LIST, body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply}");
        assert!(
            reply.to_string().contains(field),
            "{body}: the error names {field}: {reply}"
        );
    }
    let (st, _) =
        d.w1.post(LIST, json!({"shortcut": "ok", "text": "x", "owner": 1}))
            .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let (st, _) = d.w1.post(LIST, json!({"shortcut": 5, "text": "x"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) =
        d.w1.post(
            "/api/chat/canned_replies/update",
            json!({"id": 424242, "shortcut": "a", "text": "b"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(shortcuts(&d.w1).await.is_empty(), "nothing was stored");
}
