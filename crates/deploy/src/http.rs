//! A small HTTP/1.1 client for Serve's REST API, one connection per request, on hyper's low-level
//! connection API. (Check requests to the apps go through loadgen's workloads.)

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::DeployError;

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub status: StatusCode,
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
pub(crate) async fn request(
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
        Ok(HttpResponse { status: parts.status, body })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DeployError::Http(format!("{url}: no complete answer within {timeout:?}")))?
}
