//! The HTTP client that delivers webhooks: one `POST` per delivery over HTTP/1.1, plain or
//! TLS (rustls with the ring provider lettre already uses, and the Mozilla roots of
//! `webpki-roots`, so nothing depends on the machine's certificate store). No redirects
//! are followed and no proxy is used; the whole exchange, from connecting to the status
//! line, has one deadline. A fresh connection per delivery keeps a receiver that went
//! away from leaving a stale pooled one behind.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Why an attempt got no HTTP answer. The text is for the delivery log.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad URL: {0}")]
    Url(String),
    #[error("could not connect")]
    Connect,
    #[error("TLS handshake failed")]
    Tls,
    #[error("timed out")]
    Timeout,
    #[error("the connection broke before an answer")]
    Http,
}

/// Delivers webhooks. Cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    user_agent: String,
}

impl WebhookClient {
    pub fn new(timeout: Duration) -> Result<WebhookClient, SendError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| SendError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(WebhookClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
            user_agent: concat!("NatiChat-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        })
    }

    /// POST `body` (JSON) with `headers` to `url`; the answer's status code.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<u16, SendError> {
        tokio::time::timeout(self.timeout, self.exchange(url, headers, body))
            .await
            .map_err(|_| SendError::Timeout)?
    }

    async fn exchange(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<u16, SendError> {
        let uri: hyper::Uri = url.parse().map_err(|_| SendError::Url(url.to_owned()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(SendError::Url("only http:// and https://".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| SendError::Url("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let mut req = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, &self.user_agent)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONNECTION, "close");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Url(e.to_string()))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|_| SendError::Connect)?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| SendError::Url("bad host name".into()))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|_| SendError::Tls)?;
            send(TokioIo::new(tls), req).await
        } else {
            send(TokioIo::new(tcp), req).await
        }
    }
}

async fn send<T>(io: T, req: hyper::Request<Full<Bytes>>) -> Result<u16, SendError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|_| SendError::Http)?;
    let driver = tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|_| SendError::Http);
    let status = match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            // Read (and drop) the answer, so the receiver is not cut off mid-write.
            let _ = r.into_body().collect().await;
            Ok(status)
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_and_bad_urls_and_tls_against_plain_text_fail_cleanly() {
        let c = WebhookClient::new(Duration::from_secs(2)).expect("client");
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        let refused = c.post(&format!("http://{addr}/h"), &[], "{}".into()).await;
        assert!(matches!(refused, Err(SendError::Connect)), "{refused:?}");
        assert!(matches!(
            c.post("ftp://x/y", &[], "{}".into()).await,
            Err(SendError::Url(_))
        ));
        // A plain-text server behind an https:// URL: the handshake fails, nothing is sent.
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = plain.local_addr().expect("addr").port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if let Ok((mut s, _)) = plain.accept().await {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            }
        });
        let tls = c
            .post(&format!("https://localhost:{port}/h"), &[], "{}".into())
            .await;
        assert!(matches!(tls, Err(SendError::Tls)), "{tls:?}");
    }
}
