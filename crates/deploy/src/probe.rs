//! Check requests: one real request per deployed application, sent and validated by the very
//! workload code that measures it (`loadgen`), so that a deployment is handed out only once it
//! answers correctly.

use std::time::{Duration, Instant};

use loadgen::{ErrorClass, Failure, Probe, Workload};

use crate::DeployError;
use crate::target::{AppEndpoint, Target};

/// Sends `app`'s check request to `target` once and validates the answer.
pub async fn check_app(target: &Target, app: &AppEndpoint, timeout: Duration) -> Result<(), DeployError> {
    check_app_classified(target, app, timeout).await.map_err(|f| f.error)
}

/// A failed check, and whether trying again may help (the route or server is not ready yet) as
/// opposed to a wrong answer.
pub(crate) struct CheckFailure {
    pub error: DeployError,
    pub transient: bool,
}

/// Whether a failed check may pass later: the server is not up, the route not there yet (404,
/// 5xx; gRPC UNAVAILABLE, UNIMPLEMENTED, NOT_FOUND), as opposed to a wrong answer.
fn transient(f: &Failure, grpc: bool) -> bool {
    match f.class {
        ErrorClass::Connect | ErrorClass::Timeout | ErrorClass::Protocol => true,
        ErrorClass::Status => match (grpc, f.status) {
            (true, Some(code)) => matches!(code, 5 | 12 | 14),
            (false, Some(code)) => code == 404 || code >= 500,
            (_, None) => true,
        },
        _ => false,
    }
}

pub(crate) async fn check_app_classified(
    target: &Target,
    app: &AppEndpoint,
    timeout: Duration,
) -> Result<(), CheckFailure> {
    let grpc = matches!(app.check, loadgen::WorkloadSpec::Grpc(_));
    let fail = |message: String, transient: bool| CheckFailure {
        error: DeployError::Check { app: app.name.clone(), message },
        transient,
    };
    let workload = app
        .check
        .build(&target.endpoint())
        .map_err(|e| fail(format!("the check request cannot be built: {e}"), false))?;
    let exchange = async {
        let mut conn = workload.connect().await?;
        let mut probe = Probe::detached();
        workload.call(&mut conn, 0, &mut probe).await
    };
    let started = Instant::now();
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(f)) => {
            let t = transient(&f, grpc);
            Err(fail(format!("{} ({}): {}", workload.target(), f.class.as_str(), f.detail), t))
        }
        Err(_) => Err(fail(
            format!(
                "{}: no complete answer within {:.1} s",
                workload.target(),
                started.elapsed().as_secs_f64()
            ),
            true,
        )),
    }
}
