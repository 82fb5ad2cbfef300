//! Media capture against a fake Graph API on loopback: files are fetched right after
//! ingest, stored, and delivered as gateway links; failures are delivered with the reason.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::graph::{FakeFile, FakeGraph, GRAPH_TOKEN, VERSION};
use crate::helpers::{fixture, spawn_app_with, TestApp, TestTenant, APP_SECRET};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(10);
/// The media id in `whatsapp/image.json`.
const WHATSAPP_MEDIA_ID: &str = "8472976218001204";

struct Setup {
    app: TestApp,
    graph: FakeGraph,
    tenant: TestTenant,
    receiver: Receiver,
    media_dir: std::path::PathBuf,
}

/// A gateway whose Graph API is the fake, with one tenant capturing on `channel` and one
/// endpoint; `tweak` adjusts the media settings.
async fn setup(
    pool: PgPool,
    channel: &str,
    tweak: impl FnOnce(&mut switchboard::config::MediaArgs),
) -> Setup {
    let graph = FakeGraph::start().await;
    let media_dir =
        std::env::temp_dir().join(format!("switchboard-media-{}", uuid::Uuid::now_v7()));
    let base_url = graph.base_url.clone();
    let dir = media_dir.clone();
    let app = spawn_app_with(pool, move |settings| {
        let media = &mut settings.media;
        media.graph_url = base_url;
        media.graph_version = VERSION.to_owned();
        media.media_dir = dir;
        media.media_retry_initial = Duration::from_millis(10);
        media.media_max_attempts = 3;
        media.media_wait = Duration::from_secs(30);
        tweak(media);
    })
    .await;
    let tenant = app.create_tenant().await;
    let response = put_media(
        &app,
        &tenant,
        channel,
        json!({"enabled": true, "graph_access_token": GRAPH_TOKEN}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let receiver = Receiver::start().await;
    app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    Setup {
        app,
        graph,
        tenant,
        receiver,
        media_dir,
    }
}

/// `PUT /v1/config/media/{channel}` with `body`.
async fn put_media(
    app: &TestApp,
    tenant: &TestTenant,
    channel: &str,
    body: Value,
) -> reqwest::Response {
    app.tenant_request(Method::PUT, &format!("/v1/config/media/{channel}"), tenant)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Asserts the delivered event's capture failed and returns why.
fn capture_error(event: &Value) -> &str {
    let capture = &event["media"]["capture"];
    assert_eq!(capture["status"], "failed", "{event}");
    capture["error"]
        .as_str()
        .expect("a failed capture says why")
}

impl Setup {
    /// The event as `GET /v1/events/{id}` shows it now.
    async fn stored_event(&self, delivered: &Value) -> Value {
        let id = delivered["id"].as_str().expect("event id");
        self.app
            .tenant_get(&format!("/v1/events/{id}"), &self.tenant)
            .await
    }

    /// `GET /v1/media/{id}` with a tenant's API key.
    async fn get_with_key(&self, id: &str, tenant: &TestTenant) -> reqwest::Response {
        self.app
            .tenant_request(Method::GET, &format!("/v1/media/{id}"), tenant)
            .send()
            .await
            .expect("request")
    }
    /// Posts a signed webhook and returns the one event delivered for it.
    async fn deliver(&self, body: &[u8]) -> Value {
        let response = self
            .app
            .post_signed(&self.tenant.id, body, APP_SECRET)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let received = self.receiver.wait_for(1, WAIT).await;
        assert_eq!(received.len(), 1, "one delivery expected");
        received[0].json()
    }

    /// GETs a gateway URL from an event (its host is the public URL, not the test's).
    async fn get_link(&self, url: &str) -> reqwest::Response {
        let path = url
            .strip_prefix("https://hooks.example.test")
            .unwrap_or_else(|| panic!("gateway link expected, got {url}"));
        self.app.get(path).await
    }

    fn stored_files(&self) -> usize {
        walk(&self.media_dir)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.media_dir);
    }
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// A fixture with its attachment URL pointed at the fake server.
fn with_attachment_url(name: &str, url: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture(name)).expect("fixture JSON");
    let attachment = body
        .pointer_mut("/entry/0/messaging/0/message/attachments/0/payload/url")
        .expect("attachment URL in fixture");
    *attachment = json!(url);
    serde_json::to_vec(&body).expect("JSON")
}

fn picture(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect()
}

#[sqlx::test]
async fn whatsapp_media_is_captured_and_delivered_as_a_gateway_link(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    let bytes = picture(70_000);
    s.graph.add(
        WHATSAPP_MEDIA_ID,
        FakeFile::new(bytes.clone(), "image/jpeg"),
    );

    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    let media = &event["media"];
    assert_eq!(media["capture"]["status"], "stored", "{event}");
    assert_eq!(media["capture"]["size"], 70_000);
    assert_eq!(media["id"], WHATSAPP_MEDIA_ID, "Meta's id is kept");
    let url = media["url"].as_str().expect("url");
    assert!(
        url.contains("/v1/media/") && url.contains("?token="),
        "{url}"
    );

    // Resolve and download both carried the tenant's token.
    let requests = s.graph.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests
        .iter()
        .all(|(_, auth)| auth == &format!("Bearer {GRAPH_TOKEN}")));

    // The link needs no API key and serves the bytes unchanged.
    let response = s.get_link(url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        bytes.as_slice()
    );

    // So does the tenant's key; the stored event says the same as the delivered one.
    let id = media["capture"]["id"].as_str().expect("capture id");
    let response = s.get_with_key(id, &s.tenant).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        bytes.as_slice()
    );
    let stored = s.stored_event(&event).await;
    assert_eq!(stored["media"], event["media"]);
}

/// Messenger and Instagram attachments carry their URL: fetched without a token.
async fn attachment_is_fetched_from_its_url(pool: PgPool, channel: &str, fixture_name: &str) {
    let s = setup(pool, channel, |_| {}).await;
    let bytes = picture(4_000);
    s.graph
        .add("attachment-1", FakeFile::new(bytes.clone(), "image/png"));
    let body = with_attachment_url(fixture_name, &s.graph.file_url("attachment-1"));

    let event = s.deliver(&body).await;
    assert_eq!(event["media"]["capture"]["status"], "stored", "{event}");
    assert_eq!(event["media"]["mime_type"], "image/png");
    let requests = s.graph.requests();
    assert_eq!(
        requests.len(),
        1,
        "no Graph API lookup needed: {requests:?}"
    );
    assert_eq!(requests[0].1, "", "attachment URLs get no token");
    let url = event["media"]["url"].as_str().expect("url");
    let response = s.get_link(url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        bytes.as_slice()
    );
}

#[sqlx::test]
async fn messenger_attachments_are_captured(pool: PgPool) {
    attachment_is_fetched_from_its_url(pool, "messenger", "messenger/attachment-image.json").await;
}

#[sqlx::test]
async fn instagram_attachments_are_captured(pool: PgPool) {
    attachment_is_fetched_from_its_url(pool, "instagram", "instagram/attachment-image.json").await;
}

#[sqlx::test]
async fn an_expired_url_is_retried_then_the_event_is_delivered_with_the_error(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    let mut file = FakeFile::new(picture(100), "image/jpeg");
    file.download_status = 404;
    s.graph.add(WHATSAPP_MEDIA_ID, file);

    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    let error = capture_error(&event);
    assert!(
        error.contains("HTTP 404") && error.contains("3 attempts"),
        "{error}"
    );
    let downloads = s
        .graph
        .requests()
        .iter()
        .filter(|(path, _)| path.starts_with("files/"))
        .count();
    assert_eq!(downloads, 3, "retried up to the attempt limit");
    assert!(
        event["media"]["url"].is_null(),
        "no gateway link for a failed capture"
    );
    assert_eq!(s.stored_files(), 0);
}

#[sqlx::test]
async fn a_sha256_mismatch_is_rejected_and_nothing_is_stored(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    let mut file = FakeFile::new(picture(1_000), "image/jpeg");
    file.sha256 = hex::encode([0_u8; 32]);
    s.graph.add(WHATSAPP_MEDIA_ID, file);

    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    assert!(capture_error(&event).contains("sha256 mismatch"), "{event}");
    assert_eq!(s.stored_files(), 0);
    let id = event["media"]["capture"]["id"].as_str().expect("id");
    let response = s.get_with_key(id, &s.tenant).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "media_not_stored");
}

#[sqlx::test]
async fn an_oversize_file_is_refused_whether_announced_or_not(pool: PgPool) {
    let s = setup(pool, "whatsapp", |media| media.media_max_bytes = 1_000).await;
    // The Graph API announces the size: refused before downloading.
    s.graph.add(
        WHATSAPP_MEDIA_ID,
        FakeFile::new(picture(5_000), "image/jpeg"),
    );
    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    assert!(
        capture_error(&event).contains("limit of 1000 bytes"),
        "{event}"
    );
    assert!(s
        .graph
        .requests()
        .iter()
        .all(|(path, _)| !path.starts_with("files/")));
    assert_eq!(s.stored_files(), 0);
}

#[sqlx::test]
async fn an_unannounced_oversize_attachment_is_cut_off(pool: PgPool) {
    let s = setup(pool, "messenger", |media| media.media_max_bytes = 1_000).await;
    s.graph
        .add("big", FakeFile::new(picture(50_000), "image/png"));
    let body = with_attachment_url("messenger/attachment-image.json", &s.graph.file_url("big"));
    let event = s.deliver(&body).await;
    assert!(
        capture_error(&event).contains("limit of 1000 bytes"),
        "{event}"
    );
    assert_eq!(s.stored_files(), 0);
}

#[sqlx::test]
async fn another_tenant_cannot_fetch_the_file_and_links_are_checked(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    s.graph
        .add(WHATSAPP_MEDIA_ID, FakeFile::new(picture(500), "image/jpeg"));
    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    let id = event["media"]["capture"]["id"].as_str().expect("id");
    let url = event["media"]["url"].as_str().expect("url");

    let other = s.app.create_tenant().await;
    let response = s.get_with_key(id, &other).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let forged = format!("/v1/media/{id}?token=9999999999.AAAA");
    assert_eq!(s.app.get(&forged).await.status(), StatusCode::UNAUTHORIZED);
    let (_, token) = url.split_once("token=").expect("token");
    let wrong_file = format!("/v1/media/{}?token={token}", uuid::Uuid::now_v7());
    assert_eq!(
        s.app.get(&wrong_file).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.app.get(&format!("/v1/media/{id}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get_link(url).await.status(), StatusCode::OK);
}

#[sqlx::test]
async fn the_ack_does_not_wait_for_capture_but_forwarding_does(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    s.graph
        .add(WHATSAPP_MEDIA_ID, FakeFile::new(picture(300), "image/jpeg"));
    let gate = s.graph.close();

    let response = s
        .app
        .post_signed(&s.tenant.id, &fixture("whatsapp/image.json"), APP_SECRET)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "acknowledged while the Graph API hangs"
    );
    // The capture has started (the fake holds its request) and nothing is forwarded yet.
    let started = s
        .app
        .wait_for_count("SELECT count(*) FROM media WHERE attempts > 0", 1, WAIT)
        .await;
    assert_eq!(started, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.receiver.received().is_empty(),
        "forwarding waits for the capture"
    );

    gate.add_permits(10);
    let received = s.receiver.wait_for(1, WAIT).await;
    assert_eq!(received[0].json()["media"]["capture"]["status"], "stored");
}

#[sqlx::test]
async fn forwarding_waits_only_up_to_its_bound(pool: PgPool) {
    let s = setup(pool, "whatsapp", |media| {
        media.media_wait = Duration::from_millis(200);
    })
    .await;
    s.graph
        .add(WHATSAPP_MEDIA_ID, FakeFile::new(picture(300), "image/jpeg"));
    let gate = s.graph.close();

    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    assert_eq!(event["media"]["capture"]["status"], "pending", "{event}");
    assert!(event["media"]["url"].is_null(), "still Meta's (absent) URL");

    // The capture still completes, and the stored event then has the link.
    gate.add_permits(10);
    let done = s
        .app
        .wait_for_count("SELECT count(*) FROM media WHERE state = 'stored'", 1, WAIT)
        .await;
    assert_eq!(done, 1);
    let stored = s.stored_event(&event).await;
    assert_eq!(stored["media"]["capture"]["status"], "stored");
}

#[sqlx::test]
async fn media_settings_are_write_only_and_validated(pool: PgPool) {
    let s = setup(pool, "whatsapp", |_| {}).await;
    let settings = s.app.tenant_get("/v1/config/media", &s.tenant).await;
    assert_eq!(
        settings,
        json!([
            {"channel": "whatsapp", "enabled": true, "graph_access_token_set": true},
            {"channel": "messenger", "enabled": false, "graph_access_token_set": false},
            {"channel": "instagram", "enabled": false, "graph_access_token_set": false},
        ])
    );
    assert!(!settings.to_string().contains(GRAPH_TOKEN));
    let response = put_media(&s.app, &s.tenant, "telegram", json!({"enabled": true})).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = put_media(
        &s.app,
        &s.tenant,
        "whatsapp",
        json!({"graph_access_token": " padded "}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Turning capture off keeps the token; events are then delivered with Meta's media.
    let off: Value = put_media(&s.app, &s.tenant, "whatsapp", json!({"enabled": false}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        off[0],
        json!({"channel": "whatsapp", "enabled": false, "graph_access_token_set": true})
    );
    let event = s.deliver(&fixture("whatsapp/image.json")).await;
    assert!(event["media"]["capture"].is_null(), "{event}");
    assert!(s.graph.requests().is_empty());
}
