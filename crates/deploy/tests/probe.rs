//! The check requests and the small gRPC client against a fake h2c gRPC server.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use deploy::{
    AppEndpoint, AppKind, Target, check_app, decode_fields, encode_bytes_field, grpc_call, parse_sse,
};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A response body made of prepared frames (data, then trailers).
struct Frames(VecDeque<Frame<Bytes>>);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(message.len()).expect("len").to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

fn trailers(status: u32) -> Frame<Bytes> {
    let mut map = http::HeaderMap::new();
    map.insert("grpc-status", status.to_string().parse().expect("value"));
    Frame::trailers(map)
}

/// Echo answers with the request message; Stream answers `chunks` Chunk messages; a call
/// without `application: ok` metadata gets a trailers-only UNIMPLEMENTED.
async fn fake_grpc_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let mut body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                    let builder = Response::builder().status(200).header("content-type", "application/grpc");
                    if parts.headers.get("application").and_then(|v| v.to_str().ok()) != Some("ok") {
                        let response = builder
                            .header("grpc-status", "12")
                            .header("grpc-message", "no such app")
                            .body(Frames(VecDeque::new()))
                            .expect("response");
                        return Ok::<_, Infallible>(response);
                    }
                    body.advance(5);
                    let mut frames = VecDeque::new();
                    if parts.uri.path().ends_with("/Echo") {
                        frames.push_back(Frame::data(grpc_frame(&body)));
                    } else {
                        let fields = decode_fields(&body).expect("request");
                        let chunks = fields.iter().find(|f| f.0 == 1).map_or(50, |f| f.1[0]);
                        for i in 0..chunks {
                            let mut msg = encode_bytes_field(1, format!("tok-{i}").as_bytes());
                            msg.extend_from_slice(&[0x10, i]);
                            frames.push_back(Frame::data(grpc_frame(&msg)));
                        }
                    }
                    frames.push_back(trailers(0));
                    Ok(builder.body(Frames(frames)).expect("response"))
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn grpc_calls_collect_messages_and_status() {
    let (base, server) = fake_grpc_server().await;
    let t = Duration::from_secs(5);
    let payload = vec![7u8; 10 * 1024];
    let reply = grpc_call(
        &base,
        deploy::GRPC_ECHO_METHOD,
        &[("application", "ok")],
        &encode_bytes_field(1, &payload),
        t,
    )
    .await
    .expect("echo");
    assert_eq!(reply.status, 0);
    assert_eq!(reply.messages.len(), 1);
    assert_eq!(decode_fields(&reply.messages[0]).expect("decode")[0].1, payload);

    let reply = grpc_call(&base, deploy::GRPC_STREAM_METHOD, &[("application", "ok")], &[0x08, 5], t)
        .await
        .expect("stream");
    assert_eq!(reply.messages.len(), 5);
    let last = decode_fields(&reply.messages[4]).expect("decode");
    assert_eq!(last[0], (1, b"tok-4".to_vec()));
    assert_eq!(last[1].0, 2);
    assert_eq!(last[1].1[0], 4);

    let reply = grpc_call(&base, deploy::GRPC_ECHO_METHOD, &[("application", "other")], &[], t)
        .await
        .expect("trailers-only answer");
    assert_eq!(reply.status, 12);
    assert_eq!(reply.message, "no such app");
    server.abort();
}

#[tokio::test]
async fn grpc_checks_pass_against_a_correct_server_and_fail_otherwise() {
    let (base, server) = fake_grpc_server().await;
    let mut target = Target {
        http_base: "http://127.0.0.1:9".to_owned(),
        grpc_uri: Some(base),
        headers: Vec::new(),
        apps: Vec::new(),
    };
    for (kind, path) in
        [(AppKind::GrpcEcho, deploy::GRPC_ECHO_METHOD), (AppKind::GrpcStream, deploy::GRPC_STREAM_METHOD)]
    {
        let good = AppEndpoint { name: "ok".to_owned(), kind, path: path.to_owned() };
        check_app(&target, &good, Duration::from_secs(5)).await.expect("passes");
        let bad = AppEndpoint { name: "missing".to_owned(), kind, path: path.to_owned() };
        let err = check_app(&target, &bad, Duration::from_secs(5)).await.expect_err("status 12").to_string();
        assert!(err.contains("status 12"), "{err}");
    }
    target.grpc_uri = None;
    let app = AppEndpoint {
        name: "ok".to_owned(),
        kind: AppKind::GrpcEcho,
        path: deploy::GRPC_ECHO_METHOD.to_owned(),
    };
    let err = check_app(&target, &app, Duration::from_secs(1)).await.expect_err("no grpc").to_string();
    assert!(err.contains("no gRPC address"), "{err}");
    server.abort();
}

#[test]
fn sse_bodies_split_into_events() {
    let body = b"data: {\"index\":0}\n\n: comment\n\ndata: a\ndata: b\n\r\ndata:[DONE]\n\n";
    assert_eq!(parse_sse(body), ["{\"index\":0}", "a\nb", "[DONE]"]);
    assert!(parse_sse(b"").is_empty());
}

#[test]
fn protobuf_helpers_round_trip() {
    let payload = vec![1u8; 300];
    let encoded = encode_bytes_field(1, &payload);
    assert_eq!(&encoded[..3], &[0x0a, 0xac, 0x02]);
    assert_eq!(decode_fields(&encoded).expect("decode"), [(1, payload)]);
    assert_eq!(decode_fields(&encode_bytes_field(1, &[])).expect("empty"), [(1, vec![])]);
    assert!(decode_fields(&[0x0a, 5, 1]).is_err());
    assert_eq!(deploy::check_payload(12), b"servebench-s");
}
