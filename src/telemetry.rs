//! Where logs and spans go: log lines to stderr (text, or JSON for log collectors), and,
//! when `otlp_endpoint` is set, spans to an OpenTelemetry collector over OTLP/HTTP.
//!
//! The spans are those the server already has: `request` (with its request id, method
//! and route) around every HTTP request, one per WebSocket, and the write path's `write`
//! and `write_batch` (debug level: `otlp_filter = "info,chat_core::write=debug"`). They
//! leave in batches from a thread of the SDK's own, so a slow or absent collector never
//! holds up a request; spans that cannot be delivered are dropped and said so in the log.

use crate::config::{LogFormat, Settings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What to flush before the process ends.
#[must_use = "call shutdown() before exit, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("otlp_filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("otlp_endpoint: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The traces URL of a collector's OTLP/HTTP address.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// Install the global subscriber: logs per `log_format` (level from `RUST_LOG`, default
/// `info`) and, with `otlp_endpoint`, the OTLP span exporter (level from `otlp_filter`).
pub fn init(settings: &Settings) -> Result<Telemetry, TelemetryError> {
    let logs = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let fmt = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
    };
    let (spans, provider) = match &settings.otlp_endpoint {
        None => (None, None),
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(traces_url(endpoint))
                .build()?;
            let resource = Resource::builder()
                .with_service_name(settings.otlp_service_name.clone())
                .build();
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("nati-chat"))
                .with_filter(EnvFilter::try_new(&settings.otlp_filter)?);
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(logs))
        .with(spans)
        .init();
    if let Some(endpoint) = &settings.otlp_endpoint {
        tracing::info!(to = %traces_url(endpoint), filter = %settings.otlp_filter, "sending spans over OTLP");
    }
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Send what is still queued (waits for the exporter, at most its timeout).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("telemetry: the last spans were not sent: {e}");
        }
    }
}
