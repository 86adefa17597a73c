//! `GET /metrics`: Prometheus text with the write path, HTTP, sockets; open to this machine
//! only, or to the holder of `metrics_token`.

use crate::support::*;
use crate::wsclient::Ws;
use reqwest::{Method, StatusCode};

/// The value of the first sample of `name` whose labels contain `labels` (0 when absent).
fn sample(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(c: &Client, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut rb = c.request(Method::GET, "/metrics");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("request");
    let st = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = r.text().await.expect("body");
    if st == StatusCode::OK {
        assert!(ct.starts_with("text/plain"), "{ct}");
    }
    (st, body)
}

/// docs/grafana/nati-chat.json charts what /metrics has: every metric it queries is one the
/// server exports (in this scrape, or documented in docs/operations.md when nothing has
/// produced it yet here: emails, webhooks), and every metric of this scrape is on it.
fn dashboard_charts_what_is_exported(scrape: &str) {
    use std::collections::BTreeSet;
    let dash: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/grafana/nati-chat.json")).expect("JSON");
    let name = regex::Regex::new(r"nati_[a-z_]+").expect("regex");
    let base = |n: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .unwrap_or(n)
            .to_owned()
    };
    let panels = dash["panels"].as_array().expect("panels");
    let charted: BTreeSet<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"))
        .flat_map(|t| {
            let expr = t["expr"].as_str().expect("expr");
            name.find_iter(expr)
                .map(|m| base(m.as_str()))
                .collect::<Vec<_>>()
        })
        .collect();
    let exported: BTreeSet<String> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    let documented = include_str!("../../docs/operations.md");
    for m in &charted {
        assert!(
            exported.contains(m) || documented.contains(&format!("`{m}")),
            "the dashboard queries {m}, which the server does not export"
        );
    }
    for m in &exported {
        assert!(
            charted.contains(m),
            "{m} is exported but not on the dashboard"
        );
    }
}

#[tokio::test]
async fn metrics_count_what_the_server_does_and_only_this_machine_reads_them() {
    let d = Desk::new().await;
    let anon = d.server.anon();
    let (st, before) = scrape(&anon, &[]).await;
    assert_eq!(st, StatusCode::OK, "{before}");
    let stored_before = sample(&before, "nati_messages_stored_total", "");
    let mut ws = Ws::connect(&d.server.base, d.admin.token.as_deref().expect("token"), "").await;
    for i in 0..3 {
        let (st, _) = d.u1.send_message(d.chat_u1, &format!("m{i}")).await;
        assert_eq!(st, StatusCode::CREATED);
    }
    while !ws.texts(d.chat_u1).contains(&"m2".to_owned()) {
        ws.next().await;
    }
    // One email waiting in the outbox (as the planner would queue it).
    let email = chat_core::model::NewEmail {
        kind: chat_core::model::EmailKind::Missed,
        recipient: chat_core::Actor::Worker(chat_core::WorkerId(d.w1_id)),
        chat_id: chat_core::ChatId(d.chat_u1),
        first_message_id: chat_core::MessageId(1),
        due_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    let queued = d
        .server
        .state
        .store
        .enqueue_email(&email, time::OffsetDateTime::now_utc())
        .await
        .expect("enqueue");
    assert!(queued);
    let (st, after) = scrape(&anon, &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        sample(&after, "nati_email_outbox", "status=\"pending\""),
        1.0,
        "{after}"
    );
    assert!(
        sample(&after, "nati_messages_stored_total", "") >= stored_before + 3.0,
        "{after}"
    );
    assert!(sample(&after, "nati_write_batch_size_count", "") >= 3.0);
    assert!(
        after.contains("nati_write_ack_seconds_bucket{le=\"0.005\"}"),
        "{after}"
    );
    assert!(
        sample(
            &after,
            "nati_http_requests_total",
            "route=\"/api/chat/send_message\",method=\"POST\",status=\"201\""
        ) >= 3.0,
        "{after}"
    );
    assert!(
        sample(&after, "nati_sockets_open", "role=\"admin\"") >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "nati_send_to_deliver_seconds_count", "") >= 3.0,
        "the admin's socket got the three messages: {after}"
    );
    assert!(
        after.contains("nati_event_log_lag_events "),
        "the hub's lag behind the event log: {after}"
    );
    // The connection pools, whichever the backend has (SQLite: writer and reader).
    let pools: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("nati_db_pool_max_connections{"))
        .collect();
    assert!(!pools.is_empty(), "pool gauges: {after}");
    for line in pools {
        let max: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(max >= 1.0, "{line}");
        let pool = line
            .strip_prefix("nati_db_pool_max_connections")
            .and_then(|l| l.split_once(' '))
            .map_or("", |(labels, _)| labels);
        let busy = pool.replace('}', ",state=\"busy\"}");
        let idle = pool.replace('}', ",state=\"idle\"}");
        assert!(
            after.contains(&format!("nati_db_pool_connections{busy}"))
                && after.contains(&format!("nati_db_pool_connections{idle}")),
            "{pool}: {after}"
        );
    }
    dashboard_charts_what_is_exported(&after);
    // Through a proxy, or with a token configured and not given: refused.
    let (st, _) = scrape(&anon, &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    drop(ws);

    let guarded =
        TestServer::start_with(|s| s.metrics_token = Some("scrape-token-0123456789".into())).await;
    let c = guarded.anon();
    assert_eq!(scrape(&c, &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&c, &[("authorization", "Bearer wrong")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, text) = scrape(&c, &[("authorization", "Bearer scrape-token-0123456789")]).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        text.contains("# TYPE nati_http_requests_total counter"),
        "{text}"
    );
}
