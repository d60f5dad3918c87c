//! Check requests: one real request per deployed application, validated byte for byte, so
//! that a deployment is handed out only once it answers correctly.

use std::time::Duration;

use bytes::Bytes;
use http::Method;

use crate::DeployError;
use crate::http::{grpc_call, request};
use crate::target::{AppEndpoint, AppKind, Target};

/// Sends one check request to `app` behind `target` and validates the answer.
pub async fn check_app(target: &Target, app: &AppEndpoint, timeout: Duration) -> Result<(), DeployError> {
    check_app_classified(target, app, timeout).await.map_err(|f| f.error)
}

/// A failed check, and whether trying again may help (the route or server is not ready
/// yet) as opposed to a wrong answer.
pub(crate) struct CheckFailure {
    pub error: DeployError,
    pub transient: bool,
}

impl From<DeployError> for CheckFailure {
    fn from(error: DeployError) -> Self {
        Self { transient: true, error }
    }
}

pub(crate) async fn check_app_classified(
    target: &Target,
    app: &AppEndpoint,
    timeout: Duration,
) -> Result<(), CheckFailure> {
    let failure = |message: String, transient: bool| CheckFailure {
        error: DeployError::Check { app: app.name.clone(), message },
        transient,
    };
    let wrong = |message: String| failure(message, false);
    // 404 and 5xx: the route or a replica is not there yet.
    let http_status = |what: String, status: http::StatusCode, body: &[u8]| {
        failure(
            format!("{what}: HTTP {status}: {}", snippet(body)),
            status.is_server_error() || status == http::StatusCode::NOT_FOUND,
        )
    };
    let headers: Vec<(&str, &str)> =
        target.headers.iter().map(|h| (h.name.as_str(), h.value.expose())).collect();
    match app.kind {
        AppKind::HttpEcho => {
            let payload = check_payload(1024);
            let url = target.url(app);
            let answer = request(Method::POST, &url, &headers, Bytes::from(payload.clone()), timeout).await?;
            if !answer.status.is_success() {
                return Err(http_status(format!("POST {url}"), answer.status, &answer.body));
            }
            if answer.body != payload {
                return Err(wrong(format!(
                    "POST {url}: echoed {} bytes that differ from the {} sent",
                    answer.body.len(),
                    payload.len()
                )));
            }
        }
        AppKind::Sse => {
            let url = format!("{}?chunks=3", target.url(app));
            let answer = request(Method::GET, &url, &headers, Bytes::new(), timeout).await?;
            if !answer.status.is_success() {
                return Err(http_status(format!("GET {url}"), answer.status, &answer.body));
            }
            let content_type = answer
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !content_type.starts_with("text/event-stream") {
                return Err(wrong(format!(
                    "GET {url}: content-type `{content_type}`, not text/event-stream"
                )));
            }
            let events = parse_sse(&answer.body);
            if events.len() != 4 || events.last().map(String::as_str) != Some("[DONE]") {
                return Err(wrong(format!("GET {url}: expected 3 events and [DONE], got {events:?}")));
            }
        }
        AppKind::GrpcEcho | AppKind::GrpcStream => {
            let base = target
                .grpc_uri
                .as_deref()
                .ok_or_else(|| wrong("the target has no gRPC address".to_owned()))?;
            let mut metadata = headers.clone();
            metadata.push(app.grpc_metadata());
            let payload = check_payload(1024);
            let message =
                if app.kind == AppKind::GrpcEcho { encode_bytes_field(1, &payload) } else { vec![0x08, 3] };
            let reply = grpc_call(base, &app.path, &metadata, &message, timeout).await?;
            if reply.status != 0 {
                // UNAVAILABLE, UNIMPLEMENTED (app not routed yet), ...: try again.
                return Err(failure(
                    format!("gRPC {}: status {} {}", app.path, reply.status, reply.message),
                    true,
                ));
            }
            if app.kind == AppKind::GrpcStream {
                if reply.messages.len() != 3 {
                    return Err(wrong(format!("gRPC {}: {} chunks, not 3", app.path, reply.messages.len())));
                }
                return Ok(());
            }
            let echoed = match reply.messages.as_slice() {
                [one] => decode_fields(one)
                    .map_err(wrong)?
                    .into_iter()
                    .find(|f| f.0 == 1)
                    .map(|f| f.1)
                    .unwrap_or_default(),
                other => return Err(wrong(format!("{} reply messages, not 1", other.len()))),
            };
            if echoed != payload {
                return Err(wrong(format!(
                    "gRPC {}: echoed {} bytes that differ from the {} sent",
                    app.path,
                    echoed.len(),
                    payload.len()
                )));
            }
        }
    }
    Ok(())
}

/// A recognisable payload of `len` bytes.
pub fn check_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"servebench-"[i % 11]).collect()
}

/// The `data:` payloads of a Server-Sent Events body, in order (`[DONE]` included).
pub fn parse_sse(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut events = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> = block
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(500).collect()
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Protobuf encoding of one length-delimited field.
pub fn encode_bytes_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    push_varint(&mut out, u64::from(field << 3 | 2));
    push_varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

/// Decodes the varint and length-delimited fields of a protobuf message as
/// `(field number, bytes)`; a varint's bytes are its value, little-endian, 8 bytes.
pub fn decode_fields(mut data: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, String> {
    fn varint(data: &mut &[u8]) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = data.split_first().ok_or("truncated varint")?;
            *data = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint too long".to_owned())
    }
    let mut fields = Vec::new();
    while !data.is_empty() {
        let key = varint(&mut data)?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        match key & 7 {
            0 => fields.push((field, varint(&mut data)?.to_le_bytes().to_vec())),
            2 => {
                let len = usize::try_from(varint(&mut data)?).map_err(|_| "length too large")?;
                if data.len() < len {
                    return Err("truncated field".to_owned());
                }
                let (value, rest) = data.split_at(len);
                fields.push((field, value.to_vec()));
                data = rest;
            }
            other => return Err(format!("unexpected wire type {other}")),
        }
    }
    Ok(fields)
}
