//! Health endpoints for orchestrators: `/healthz` says the process serves (restart it if
//! not), `/readyz` says it can do its job now (send it traffic only then).

use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, IntoResponse, Response};

use crate::app::AppState;
use crate::store;

/// How long `/readyz` waits for the database before calling it unreachable; shorter than
/// the usual probe timeout so the probe gets a clear 503 rather than a timeout.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving; says nothing about the database, so a
/// database outage does not make an orchestrator restart every gateway.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database answers and has every migration this binary
/// embeds; 503 with the reason otherwise (unreachable, or migrations pending).
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let pending = tokio::time::timeout(READY_TIMEOUT, store::pending_migrations(&state.pool)).await;
    let (status, reason) = match pending {
        Ok(Ok(pending)) if pending.is_empty() => (StatusCode::OK, "ready".to_owned()),
        Ok(Ok(pending)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("migrations pending: {pending:?}"),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check: database error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable".to_owned(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database did not answer in time".to_owned(),
        ),
    };
    reason
        .with_content_type("text/plain; charset=utf-8")
        .with_status(status)
        .into_response()
}
