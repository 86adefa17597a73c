//! `otlp_endpoint`: the server's spans reach an OpenTelemetry collector over OTLP/HTTP,
//! with the request id a client sees. The collector here is a real HTTP server on
//! 127.0.0.1 that decodes each body as the OTLP protobuf the SDK sends.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref() {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test]
async fn request_spans_reach_an_otlp_collector_with_their_request_id() {
    // The collector: every POST /v1/traces, with its content type.
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Bytes)>();
    let collector = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(tx): State<mpsc::UnboundedSender<(String, Bytes)>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send((kind, body));
                    StatusCode::OK
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nati-chat"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("NATI_DATABASE_URL")
        .env("NATI_OTLP_ENDPOINT", format!("http://{collector_addr}/"))
        .env("NATI_OTLP_SERVICE_NAME", "nati-chat-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server starts")
            .expect("stdout")
            .expect("a listening line");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };

    let resp = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();

    // Batches arrive every 100 ms; look through them for this request's span.
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (kind, body) = rx.recv().await.expect("the collector runs");
            assert_eq!(kind, "application/x-protobuf");
            let batch = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
            for rs in &batch.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| text(&r.attributes, "service.name"));
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    if span.name == "request"
                        && text(&span.attributes, "id").as_deref() == Some(&id)
                    {
                        return (service, span.clone());
                    }
                }
            }
        }
    })
    .await
    .expect("the request's span reached the collector");
    let (service, span) = found;
    assert_eq!(service.as_deref(), Some("nati-chat-test"));
    assert_eq!(text(&span.attributes, "method").as_deref(), Some("GET"));
    assert_eq!(text(&span.attributes, "route").as_deref(), Some("/healthz"));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    assert_eq!(span.trace_id.len(), 16);

    let _ = child.kill().await;
}
