//! [`AnyWorkload`]: every protocol loadgen ships behind one type, so that a caller that reads its
//! workload from data ([`crate::WorkloadSpec`]) drives it without a `match` of its own.

use super::grpc::pb::serve_bench_client::ServeBenchClient;
use super::{
    Failure, GrpcWorkload, HttpConn, HttpWorkload, OpenAiWorkload, Probe, SseWorkload, UnaryConn, Workload,
};
use crate::ErrorClass;

/// A workload of any protocol loadgen ships. Build one with [`crate::WorkloadSpec::build`], or
/// wrap a workload built otherwise (`AnyWorkload::Http(w)`).
#[derive(Debug)]
pub enum AnyWorkload {
    /// HTTP/1.1 unary.
    Http(HttpWorkload),
    /// Server-sent events.
    Sse(SseWorkload),
    /// gRPC (boxed: much larger than the others).
    Grpc(Box<GrpcWorkload>),
    /// OpenAI-compatible streaming.
    Openai(OpenAiWorkload),
}

/// A connection of an [`AnyWorkload`].
#[derive(Debug)]
pub struct AnyConn(Conn);

#[derive(Debug)]
enum Conn {
    Http(UnaryConn),
    Sse(HttpConn),
    Grpc(ServeBenchClient<tonic::transport::Channel>),
    Openai(HttpConn),
}

fn mismatch() -> Failure {
    Failure::broken(ErrorClass::Protocol, "a connection of another protocol")
}

impl Workload for AnyWorkload {
    type Conn = AnyConn;

    fn protocol(&self) -> &'static str {
        match self {
            AnyWorkload::Http(w) => w.protocol(),
            AnyWorkload::Sse(w) => w.protocol(),
            AnyWorkload::Grpc(w) => w.protocol(),
            AnyWorkload::Openai(w) => w.protocol(),
        }
    }

    fn target(&self) -> String {
        match self {
            AnyWorkload::Http(w) => w.target(),
            AnyWorkload::Sse(w) => w.target(),
            AnyWorkload::Grpc(w) => w.target(),
            AnyWorkload::Openai(w) => w.target(),
        }
    }

    fn header_names(&self) -> Vec<String> {
        match self {
            AnyWorkload::Http(w) => w.header_names(),
            AnyWorkload::Sse(w) => w.header_names(),
            AnyWorkload::Grpc(w) => w.header_names(),
            AnyWorkload::Openai(w) => w.header_names(),
        }
    }

    async fn connect(&self) -> Result<AnyConn, Failure> {
        Ok(AnyConn(match self {
            AnyWorkload::Http(w) => Conn::Http(w.connect().await?),
            AnyWorkload::Sse(w) => Conn::Sse(w.connect().await?),
            AnyWorkload::Grpc(w) => Conn::Grpc(w.connect().await?),
            AnyWorkload::Openai(w) => Conn::Openai(w.connect().await?),
        }))
    }

    fn is_closed(&self, conn: &mut AnyConn) -> bool {
        match (self, &mut conn.0) {
            (AnyWorkload::Http(w), Conn::Http(c)) => w.is_closed(c),
            (AnyWorkload::Sse(w), Conn::Sse(c)) => w.is_closed(c),
            (AnyWorkload::Grpc(w), Conn::Grpc(c)) => w.is_closed(c),
            (AnyWorkload::Openai(w), Conn::Openai(c)) => w.is_closed(c),
            _ => true,
        }
    }

    async fn call(&self, conn: &mut AnyConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        match (self, &mut conn.0) {
            (AnyWorkload::Http(w), Conn::Http(c)) => w.call(c, seq, probe).await,
            (AnyWorkload::Sse(w), Conn::Sse(c)) => w.call(c, seq, probe).await,
            (AnyWorkload::Grpc(w), Conn::Grpc(c)) => w.call(c, seq, probe).await,
            (AnyWorkload::Openai(w), Conn::Openai(c)) => w.call(c, seq, probe).await,
            _ => Err(mismatch()),
        }
    }
}
