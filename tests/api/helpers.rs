//! Test harness: a real gateway on an ephemeral loopback port over a fresh database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use switchboard::app::{AppState, Application};
use switchboard::config::{DispatchArgs, Role, Settings};
use switchboard::dispatch::handoff::Handoff;
use switchboard::dispatch::Dispatcher;
use switchboard::encryption::Keyring;
use switchboard::signature::meta_signature_header;
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const VERIFY_TOKEN: &str = "verify-me";
pub const APP_SECRET: &str = "app-secret-1";

/// A running gateway and a client to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Cancel to stop the gateway (HTTP and dispatcher) as SIGTERM would.
    pub shutdown: CancellationToken,
    /// The gateway's task; ends once a shutdown has drained HTTP and the dispatcher.
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub pool: PgPool,
    pub client: reqwest::Client,
}

/// A tenant created through the admin API.
#[derive(Clone)]
pub struct TestTenant {
    pub id: String,
    pub api_key: String,
    pub callback_urls: Value,
}

/// Starts the gateway on 127.0.0.1:0 with default settings.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// Starts the gateway (HTTP and dispatcher) with settings adjusted by `tweak`.
pub async fn spawn_app_with(pool: PgPool, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_as(pool, Role::All, tweak).await
}

/// Starts the gateway in the given role.
pub async fn spawn_app_as(pool: PgPool, role: Role, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::new("https://hooks.example.test");
    settings.admin_token = Some(ADMIN_TOKEN.to_owned());
    // Receivers in tests are on loopback; schedules are short so retries happen in ms.
    settings.dispatch.allow_private_destinations = true;
    settings.dispatch.retry_initial = Duration::from_millis(20);
    settings.dispatch.retry_factor = 2.0;
    settings.dispatch.retry_max_delay = Duration::from_millis(200);
    settings.dispatch.poll_interval = Duration::from_millis(50);
    settings.dispatch.delivery_timeout = Duration::from_secs(2);
    tweak(&mut settings);
    let app = Application::bind(
        "127.0.0.1:0".parse().expect("valid address"),
        AppState::new(pool.clone(), settings),
        role,
    )
    .await
    .expect("bind an ephemeral port");
    let addr = app.addr();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until(shutdown.clone()));
    TestApp {
        addr,
        shutdown,
        server,
        pool,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client"),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An unauthenticated GET (health, metrics, dashboard).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Creates a tenant with the default verify token and app secret.
    pub async fn create_tenant(&self) -> TestTenant {
        let created: Value = self
            .client
            .post(self.url("/v1/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Acme", "verify_token": VERIFY_TOKEN, "app_secret": APP_SECRET}))
            .send()
            .await
            .expect("request")
            .error_for_status()
            .expect("tenant created")
            .json()
            .await
            .expect("json");
        TestTenant {
            id: created["id"].as_str().expect("id").to_owned(),
            api_key: created["api_key"].as_str().expect("api_key").to_owned(),
            callback_urls: created["callback_urls"].clone(),
        }
    }

    /// POSTs `body` to `/hooks/{path}` with an optional `X-Hub-Signature-256` header.
    pub async fn post_hook(
        &self,
        path: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/hooks/{path}")))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("request")
    }

    /// POSTs `body` signed with `secret`, as Meta would.
    pub async fn post_signed(&self, path: &str, body: &[u8], secret: &str) -> reqwest::Response {
        let signature = meta_signature_header(secret.as_bytes(), body);
        self.post_hook(path, body, Some(&signature)).await
    }

    /// Sends a tenant API request.
    pub fn tenant_request(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: &TestTenant,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&tenant.api_key)
    }

    /// Sends an operator API request with the admin token.
    pub fn admin_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// Registers an endpoint; `extra` adds fields such as filters.
    pub async fn create_endpoint(&self, tenant: &TestTenant, url: &str, extra: Value) -> Value {
        let mut body = json!({ "url": url });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.tenant_request(reqwest::Method::POST, "/v1/endpoints", tenant)
            .json(&body)
            .send()
            .await
            .expect("request")
            .error_for_status()
            .expect("endpoint created")
            .json()
            .await
            .expect("json")
    }

    /// Queues a `ping` event to an endpoint through the API (`POST …/test`).
    pub async fn ping(&self, tenant: &TestTenant, endpoint_id: &str) {
        let path = format!("/v1/endpoints/{endpoint_id}/test");
        let response = self
            .tenant_request(reqwest::Method::POST, &path, tenant)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }

    /// GET a tenant route and parse the JSON answer.
    pub async fn tenant_get(&self, path: &str, tenant: &TestTenant) -> Value {
        self.tenant_request(reqwest::Method::GET, path, tenant)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// Waits (bounded) until `sql` (a count query) returns at least `n`.
    pub async fn wait_for_count(&self, sql: &str, n: i64, limit: Duration) -> i64 {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let count: i64 = sqlx::query_scalar(sql)
                .fetch_one(&self.pool)
                .await
                .expect("count query");
            if count >= n || std::time::Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Posts `n` distinct signed WhatsApp texts at once and returns their statuses.
    pub async fn burst(&self, tenant: &str, n: usize) -> Vec<reqwest::StatusCode> {
        let text = String::from_utf8(whatsapp_text()).expect("utf-8 fixture");
        let sends = (0..n).map(|i| {
            let body = text.replace("wamid.", &format!("wamid.burst{i}."));
            async move {
                self.post_signed(tenant, body.as_bytes(), APP_SECRET)
                    .await
                    .status()
            }
        });
        futures_util::future::join_all(sends).await
    }

    pub async fn receipt_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM receipts")
            .fetch_one(&self.pool)
            .await
            .expect("count receipts")
    }
}

/// A real WhatsApp text webhook from the fixtures.
/// A dispatcher with slots of its own over `pool`, for tests that drive delivery by hand
/// (with `dispatch_due`) beside an HTTP-only gateway.
pub fn standalone_dispatcher(pool: &PgPool, settings: &DispatchArgs) -> Dispatcher {
    Dispatcher::new(
        pool.clone(),
        settings,
        Keyring::default(),
        Arc::new(Handoff::new(settings)),
    )
    .expect("dispatcher")
}

pub fn whatsapp_text() -> Vec<u8> {
    fixture("whatsapp/text.json")
}

/// Reads a Meta fixture by path below `tests/fixtures/meta`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/meta/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A URL for the test's own database (the one `#[sqlx::test]` made), derived from
/// `DATABASE_URL`, for processes started by the test.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("database name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for sqlx::test");
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    format!("{server}/{name}")
}
