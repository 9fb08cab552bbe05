//! The `/metrics` endpoint on hyper's HTTP/1 server: bounded connections, small request heads, slow
//! clients cut off, one request a connection. A scrape only copies counters: ingestion never waits for
//! it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{exposition, Metrics};

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a whole exchange may take, a slow reader of the response included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of request head read at most (hyper's smallest buffer); a longer head is refused.
pub const MAX_HEAD_BYTES: usize = 8192;

/// What the endpoint serves.
#[derive(Debug)]
pub struct Endpoint {
    /// The live counters.
    pub metrics: Arc<Metrics>,
    /// The audited server's name (`server` label).
    pub server: String,
    /// The source's name (`log_source` label).
    pub source: String,
}

/// Binds the endpoint's socket. Called before anything else starts, so a port in use stops the
/// program with an error instead of leaving a daemon without metrics.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` (and `HEAD`) on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tracing::info!(addr = %listener.local_addr()?, "serving metrics at /metrics");
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return Ok(()) };
        let (sock, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of file descriptors and the like: wait a little instead of spinning.
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| respond(req, endpoint.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(false)
                .serve_connection(TokioIo::new(sock), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

async fn respond(req: Request<Incoming>, e: Arc<Endpoint>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    Ok(match req.uri().path() {
        "/metrics" => {
            let now = jiff::Timestamp::now().as_second();
            let body = exposition::encode(&e.metrics, &e.server, &e.source, now);
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(exposition::CONTENT_TYPE));
            r
        }
        "/" => text(StatusCode::OK, "audit-ingest: metrics at /metrics\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: try /metrics\n"),
    })
}
