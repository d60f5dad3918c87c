//! A small HTTP/1.1 client (Serve's REST API, check requests) and an h2c gRPC client (check
//! calls), one connection per request, on hyper's low-level connection API.

use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::DeployError;

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

fn split_uri(url: &str) -> Result<(String, u16, Uri), DeployError> {
    let uri: Uri = url.parse().map_err(|e| DeployError::Http(format!("bad URL `{url}`: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(DeployError::Http(format!("only http:// URLs can be checked by deploy, not `{url}`")));
    }
    let host = uri
        .host()
        .ok_or_else(|| DeployError::Http(format!("URL `{url}` has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    Ok((host, port, uri))
}

async fn connect(host: &str, port: u16, url: &str) -> Result<TcpStream, DeployError> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| DeployError::Http(format!("connecting to {url}: {e}")))?;
    stream.set_nodelay(true).map_err(|e| DeployError::Http(format!("TCP_NODELAY on {url}: {e}")))?;
    Ok(stream)
}

/// Sends one HTTP/1.1 request and reads the whole answer, all within `timeout`.
pub async fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<HttpResponse, DeployError> {
    let exchange = async {
        let (host, port, uri) = split_uri(url)?;
        let stream = connect(&host, port, url).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| DeployError::Http(format!("HTTP handshake with {url}: {e}")))?;
        let driver = tokio::spawn(connection);
        let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".to_owned());
        let mut builder = Request::builder().method(method).uri(path).header(http::header::HOST, authority);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| DeployError::Http(format!("building a request to {url}: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| DeployError::Http(format!("request to {url}: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| DeployError::Http(format!("reading the answer of {url}: {e}")))?
            .to_bytes();
        driver.abort();
        Ok(HttpResponse { status: parts.status, headers: parts.headers, body })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DeployError::Http(format!("{url}: no complete answer within {timeout:?}")))?
}

/// The outcome of one gRPC call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcReply {
    /// `grpc-status` (0 = OK).
    pub status: u32,
    /// `grpc-message`, if any.
    pub message: String,
    /// Every response message, in order (unary: one).
    pub messages: Vec<Bytes>,
}

/// Makes one gRPC call over HTTP/2 cleartext (h2c with prior knowledge) to
/// `base` (`http://host:port`) and collects every response message, within `timeout`.
pub async fn grpc_call(
    base: &str,
    method_path: &str,
    metadata: &[(&str, &str)],
    message: &[u8],
    timeout: Duration,
) -> Result<GrpcReply, DeployError> {
    let url = format!("{}{method_path}", base.trim_end_matches('/'));
    let exchange = async {
        let (host, port, uri) = split_uri(&url)?;
        let stream = connect(&host, port, &url).await?;
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| DeployError::Http(format!("HTTP/2 handshake with {url}: {e}")))?;
        let driver = tokio::spawn(connection);
        let mut framed = Vec::with_capacity(5 + message.len());
        framed.push(0u8);
        let len = u32::try_from(message.len())
            .map_err(|_| DeployError::Http("gRPC message over 4 GiB".to_owned()))?;
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(message);
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers");
        for (name, value) in metadata {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(Bytes::from(framed)))
            .map_err(|e| DeployError::Http(format!("building a gRPC call to {url}: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| DeployError::Http(format!("gRPC call to {url}: {e}")))?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(DeployError::Http(format!("gRPC call to {url}: HTTP status {}", parts.status)));
        }
        let collected = body
            .collect()
            .await
            .map_err(|e| DeployError::Http(format!("reading the gRPC answer of {url}: {e}")))?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let mut data = collected.to_bytes();
        driver.abort();
        let status_of = |map: &HeaderMap| {
            map.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u32>().ok())
        };
        let message_of =
            |map: &HeaderMap| map.get("grpc-message").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let status = status_of(&trailers)
            .or_else(|| status_of(&parts.headers))
            .ok_or_else(|| DeployError::Http(format!("gRPC call to {url}: no grpc-status")))?;
        let message = message_of(&trailers).or_else(|| message_of(&parts.headers)).unwrap_or_default();
        let mut messages = Vec::new();
        while data.has_remaining() {
            if data.remaining() < 5 {
                return Err(DeployError::Http(format!("gRPC answer of {url}: truncated frame header")));
            }
            let compressed = data.get_u8();
            let len = data.get_u32() as usize;
            if compressed != 0 || data.remaining() < len {
                return Err(DeployError::Http(format!(
                    "gRPC answer of {url}: compressed or truncated message"
                )));
            }
            messages.push(data.split_to(len));
        }
        Ok(GrpcReply { status, message, messages })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DeployError::Http(format!("{url}: no complete gRPC answer within {timeout:?}")))?
}
