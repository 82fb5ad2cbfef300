//! Tenant isolation: another tenant's key on the first tenant's ids answers 404 on every
//! tenant route, changes nothing, and lists never show foreign rows. The table is checked
//! against the OpenAPI document, so a new tenant route without a row here fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, whatsapp_text, TestApp, TestTenant, APP_SECRET};
use crate::receiver::Receiver;

/// The first tenant's resources, as ids.
struct Owned {
    endpoint: String,
    event: String,
    delivery: String,
    /// A (failed) media capture of the event.
    media: String,
}

async fn owner_with_one_of_everything(app: &TestApp, owner: &TestTenant) -> Owned {
    let receiver = Receiver::start().await;
    let endpoint = app.create_endpoint(owner, &receiver.url, json!({})).await;
    let response = app
        .post_signed(&owner.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    app.wait_for_count("SELECT count(*) FROM attempts", 1, Duration::from_secs(10))
        .await;
    let deliveries = app.tenant_get("/v1/deliveries", owner).await;
    let delivery = &deliveries["items"][0];
    let event = delivery["event_id"].as_str().expect("event").to_owned();
    // A text has no media: its capture row is made by hand (the media tests capture for real).
    let media: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO media (id, tenant_id, event_id, channel, state, link_key, error)
         SELECT gen_random_uuid(), tenant_id, id, channel, 'failed', '\\x00', 'test' FROM events
         WHERE id = $1::uuid RETURNING id",
    )
    .bind(&event)
    .fetch_one(&app.pool)
    .await
    .expect("media row");
    Owned {
        endpoint: endpoint["id"].as_str().expect("id").to_owned(),
        event,
        delivery: delivery["id"].as_str().expect("delivery").to_owned(),
        media: media.to_string(),
    }
}

/// Every tenant route that names a resource, as (method, path template, concrete path, body).
fn routes_on_foreign_ids(owned: &Owned) -> Vec<(Method, &'static str, String, Option<Value>)> {
    let (ep, ev, d, m) = (&owned.endpoint, &owned.event, &owned.delivery, &owned.media);
    let since = json!({"since": "2020-01-01T00:00:00Z"});
    vec![
        (
            Method::GET,
            "/v1/endpoints/{id}",
            format!("/v1/endpoints/{ep}"),
            None,
        ),
        (
            Method::PATCH,
            "/v1/endpoints/{id}",
            format!("/v1/endpoints/{ep}"),
            Some(json!({"description": "mine now"})),
        ),
        (
            Method::DELETE,
            "/v1/endpoints/{id}",
            format!("/v1/endpoints/{ep}"),
            None,
        ),
        (
            Method::POST,
            "/v1/endpoints/{id}/rotate-secret",
            format!("/v1/endpoints/{ep}/rotate-secret"),
            None,
        ),
        (
            Method::POST,
            "/v1/endpoints/{id}/test",
            format!("/v1/endpoints/{ep}/test"),
            None,
        ),
        (
            Method::POST,
            "/v1/endpoints/{id}/recover",
            format!("/v1/endpoints/{ep}/recover"),
            Some(since),
        ),
        (
            Method::GET,
            "/v1/events/{id}",
            format!("/v1/events/{ev}"),
            None,
        ),
        (
            Method::GET,
            "/v1/deliveries/{id}",
            format!("/v1/deliveries/{d}"),
            None,
        ),
        (
            Method::GET,
            "/v1/deliveries/{id}/attempts",
            format!("/v1/deliveries/{d}/attempts"),
            None,
        ),
        (
            Method::POST,
            "/v1/deliveries/{id}/retry",
            format!("/v1/deliveries/{d}/retry"),
            None,
        ),
        (
            Method::GET,
            "/v1/media/{id}",
            format!("/v1/media/{m}"),
            None,
        ),
        (
            Method::GET,
            "/v1/stats",
            format!("/v1/stats?endpoint_id={ep}"),
            None,
        ),
    ]
}

/// Tenant routes that only ever act on the caller's own tenant (lists and configuration),
/// checked below by what they return or change rather than by a 404.
const SELF_SCOPED: [(&str, &str); 9] = [
    ("GET", "/v1/endpoints"),
    ("POST", "/v1/endpoints"),
    ("GET", "/v1/events"),
    ("GET", "/v1/deliveries"),
    ("GET", "/v1/config"),
    ("PUT", "/v1/config"),
    ("PUT", "/v1/config/channels/{channel}"),
    ("GET", "/v1/config/media"),
    ("PUT", "/v1/config/media/{channel}"),
];
const SELF_SCOPED_DELETE: (&str, &str) = ("DELETE", "/v1/config/channels/{channel}");

/// (METHOD, path) of every operation the spec secures with a tenant API key.
async fn tenant_operations(app: &TestApp) -> BTreeSet<(String, String)> {
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("spec");
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            if operation["security"].to_string().contains("TenantApiKey") {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn every_tenant_route_is_in_the_isolation_table(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owned = Owned {
        endpoint: String::new(),
        event: String::new(),
        delivery: String::new(),
        media: String::new(),
    };
    let mut covered: BTreeSet<(String, String)> = routes_on_foreign_ids(&owned)
        .into_iter()
        .map(|(method, template, _, _)| (method.to_string(), template.to_owned()))
        .collect();
    for (method, path) in SELF_SCOPED.into_iter().chain([SELF_SCOPED_DELETE]) {
        covered.insert((method.to_owned(), path.to_owned()));
    }
    assert_eq!(covered, tenant_operations(&app).await);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn another_tenants_ids_answer_404_and_change_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owner = app.create_tenant().await;
    let intruder = app.create_tenant().await;
    let owned = owner_with_one_of_everything(&app, &owner).await;
    let endpoint_before = app
        .tenant_get(&format!("/v1/endpoints/{}", owned.endpoint), &owner)
        .await;
    let delivery_before = app
        .tenant_get(&format!("/v1/deliveries/{}", owned.delivery), &owner)
        .await;
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");

    for (method, template, path, body) in routes_on_foreign_ids(&owned) {
        let mut request = app.tenant_request(method.clone(), &path, &intruder);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let error: Value = response.json().await.expect("json");
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {template}: {error}"
        );
        assert_eq!(error["error"]["code"], "not_found", "{method} {template}");
    }

    let endpoint_after = app
        .tenant_get(&format!("/v1/endpoints/{}", owned.endpoint), &owner)
        .await;
    assert_eq!(endpoint_after, endpoint_before, "endpoint untouched");
    let delivery_after = app
        .tenant_get(&format!("/v1/deliveries/{}", owned.delivery), &owner)
        .await;
    assert_eq!(delivery_after, delivery_before, "delivery untouched");
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(events_after, events_before, "no test event was queued");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn lists_and_configuration_never_show_or_touch_another_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owner = app.create_tenant().await;
    let intruder = app.create_tenant().await;
    let owned = owner_with_one_of_everything(&app, &owner).await;
    let foreign = [&owned.endpoint, &owned.event, &owned.delivery, &owner.id];

    let lists = [
        "/v1/endpoints".to_owned(),
        "/v1/events".to_owned(),
        "/v1/deliveries".to_owned(),
        format!("/v1/deliveries?endpoint_id={}", owned.endpoint),
        format!("/v1/deliveries?event_id={}", owned.event),
        "/v1/events?contact=%2B1111111111111".to_owned(),
    ];
    for path in lists {
        let page = app.tenant_get(&path, &intruder).await;
        assert_eq!(page["items"], json!([]), "{path}");
        for id in foreign {
            assert!(!page.to_string().contains(id.as_str()), "{path} leaks {id}");
        }
    }

    let config = app.tenant_get("/v1/config", &intruder).await;
    assert_eq!(config["tenant_id"], json!(intruder.id));
    for (method, path) in [
        (Method::PUT, "/v1/config"),
        (Method::PUT, "/v1/config/channels/whatsapp"),
        (Method::DELETE, "/v1/config/channels/whatsapp"),
    ] {
        let response = app
            .tenant_request(method.clone(), path, &intruder)
            .json(&json!({"verify_token": "theirs", "app_secrets": ["their-secret"]}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
    }
    let media = app
        .tenant_request(Method::PUT, "/v1/config/media/whatsapp", &intruder)
        .json(&json!({"enabled": true, "graph_access_token": "theirs"}))
        .send()
        .await
        .expect("request");
    assert_eq!(media.status(), StatusCode::OK);
    let owner_media = app.tenant_get("/v1/config/media", &owner).await;
    assert_eq!(
        owner_media[0]["enabled"],
        json!(false),
        "the owner's capture untouched"
    );
    let created = app
        .create_endpoint(&intruder, "http://127.0.0.1:9/x", json!({}))
        .await;
    assert_ne!(created["id"], json!(owned.endpoint));
    let still_signed = app
        .post_signed(&owner.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(
        still_signed.status(),
        StatusCode::OK,
        "the owner's secret still works"
    );
    let owner_endpoints = app.tenant_get("/v1/endpoints", &owner).await;
    assert_eq!(owner_endpoints["items"].as_array().map(Vec::len), Some(1));
}
