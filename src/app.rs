//! The shared state and the HTTP application: Meta callbacks, the REST API, docs, the
//! dashboard, health and metrics, all on one listener. The listener is bound before the server starts, so
//! tests can bind port 0 and ask which port they got.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Data;
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Response, Route, Server};
use sqlx::PgPool;

use tokio_util::sync::CancellationToken;

use crate::config::{Role, Settings};
use crate::dispatch::handoff::Handoff;
use crate::dispatch::Dispatcher;
use crate::media::Capturer;
use crate::persist::{LocalDispatch, Outbox, Persister};
use crate::request_id::RequestId;
use crate::tenant_cache::TenantCache;
use crate::{api, dashboard, health, ingest};

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Writes accepted webhooks (group commit or one transaction each).
    pub persister: Arc<Persister>,
    /// Tenant credentials for ingest, cached for a second.
    pub tenants: Arc<TenantCache>,
    /// Where ingest hands new deliveries to this process's dispatcher, when one runs.
    pub handoff: Arc<Handoff>,
}

impl AppState {
    /// State over an existing pool (the caller has migrated it). Starts the group-commit
    /// tasks, so it must be called inside the Tokio runtime.
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        let handoff = Arc::new(Handoff::new(&settings.dispatch));
        let outbox = Outbox {
            media_wait: settings.media.media_wait,
            local: Some(LocalDispatch {
                handoff: Arc::clone(&handoff),
                keys: settings.encryption.clone(),
            }),
        };
        AppState {
            persister: Arc::new(Persister::new(pool.clone(), &settings.ingest, outbox)),
            handoff,
            tenants: Arc::new(TenantCache::new(Duration::from_secs(1))),
            pool,
            settings: Arc::new(settings),
            metrics: crate::metrics::install(),
        }
    }
}

/// The routes of the gateway: health and metrics always; Meta callbacks, the REST API, its
/// docs and the dashboard unless this process only dispatches. Every request gets a request id.
pub fn routes(state: AppState, role: Role) -> impl Endpoint {
    let mut route = Route::new()
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/metrics", get(metrics));
    if role != Role::Dispatcher {
        let api = api::service(&state);
        route = route
            .at(
                "/hooks/:tenant",
                get(ingest::handshake_all).post(ingest::receive_all),
            )
            .at(
                "/hooks/:tenant/:channel",
                get(ingest::handshake_channel).post(ingest::receive_channel),
            )
            .nest("/docs", api.swagger_ui())
            .at("/openapi.json", api.spec_endpoint())
            .nest("/dashboard", dashboard::routes())
            .nest("/", api);
    }
    route
        .data(state)
        .catch_all_error(api::error::any_error_to_json)
        .with(RequestId)
}

/// `GET /metrics`: Prometheus text format, with the outbox gauges measured now.
#[handler]
async fn metrics(state: Data<&AppState>) -> Response {
    crate::metrics::refresh_outbox(&state.pool).await;
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4")
        .into_response()
}

/// A gateway bound to its address, ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: AppState,
    role: Role,
}

impl Application {
    /// Binds the listener now, so the address (and an ephemeral port) is known before serving.
    pub async fn bind(addr: SocketAddr, state: AppState, role: Role) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(addr);
        Ok(Application {
            acceptor,
            addr,
            state,
            role,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, with the dispatcher and the media capturer
    /// running beside it unless the role is HTTP only; then lets in-flight requests and
    /// deliveries finish.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, role = ?self.role, "gateway listening");
        let workers = if self.role == Role::Http {
            Vec::new()
        } else {
            let settings = &self.state.settings;
            let pool = &self.state.pool;
            let dispatcher = Dispatcher::new(
                pool.clone(),
                &settings.dispatch,
                settings.encryption.clone(),
                Arc::clone(&self.state.handoff),
            )?;
            let capturer = Capturer::new(pool.clone(), Arc::clone(settings))?;
            vec![
                tokio::spawn(Arc::new(dispatcher).run(shutdown.clone())),
                tokio::spawn(Arc::new(capturer).run(shutdown.clone())),
            ]
        };
        let stop = shutdown.clone();
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                routes(self.state, self.role),
                async move { stop.cancelled().await },
                Some(Duration::from_secs(30)),
            )
            .await;
        // Whatever ended the server ends the dispatcher too.
        shutdown.cancel();
        for worker in workers {
            worker.await?;
        }
        Ok(served?)
    }
}
