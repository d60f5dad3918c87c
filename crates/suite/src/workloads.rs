//! Turns a workload definition and a deployment's target into a loadgen workload.

use deploy::Target;
use loadgen::workload::{Expect, GrpcCall, GrpcWorkload, HttpWorkload, SseWorkload};

use crate::config::{Protocol, WorkloadDef};
use crate::run::SuiteError;

/// A loadgen workload of any protocol the suites use.
#[derive(Debug)]
pub enum AnyWorkload {
    /// HTTP/1.1 unary.
    Http(HttpWorkload),
    /// Server-sent events.
    Sse(SseWorkload),
    /// gRPC unary (boxed: it is much larger than the others).
    Grpc(Box<GrpcWorkload>),
}

impl AnyWorkload {
    /// The workload `def` against the app it names in `target`.
    pub fn new(def: &WorkloadDef, target: &Target) -> Result<Self, SuiteError> {
        let app = target
            .app(&def.app)
            .ok_or_else(|| SuiteError::Config(format!("the deployment serves no app {:?}", def.app)))?;
        let lg = |e: loadgen::Error| SuiteError::Config(format!("workload {}: {e}", def.name));
        Ok(match def.protocol {
            Protocol::Http => {
                let mut b = HttpWorkload::builder(&target.url(app))
                    .map_err(lg)?
                    .method(http::Method::POST)
                    .body_size(def.body_size)
                    .expect(Expect::Echo);
                for h in &target.headers {
                    b = b.header(&h.name, h.value.expose()).map_err(lg)?;
                }
                AnyWorkload::Http(b.build().map_err(lg)?)
            }
            Protocol::Sse => {
                let events = if def.events == 0 { 50 } else { def.events };
                let url = format!("{}?chunks={events}", target.url(app));
                let mut b = SseWorkload::builder(&url).map_err(lg)?.events(events);
                for h in &target.headers {
                    b = b.header(&h.name, h.value.expose()).map_err(lg)?;
                }
                AnyWorkload::Sse(b.build().map_err(lg)?)
            }
            Protocol::Grpc => {
                let uri = target
                    .grpc_uri
                    .as_deref()
                    .ok_or_else(|| SuiteError::Config("the deployment has no gRPC ingress".into()))?;
                let (k, v) = app.grpc_metadata();
                let mut b = GrpcWorkload::builder(uri)
                    .call(GrpcCall::Echo { payload_size: def.body_size })
                    .metadata(k, v)
                    .map_err(lg)?;
                for h in &target.headers {
                    b = b.metadata(&h.name, h.value.expose()).map_err(lg)?;
                }
                AnyWorkload::Grpc(Box::new(b.build().map_err(lg)?))
            }
        })
    }
}
