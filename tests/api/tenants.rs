//! Operator tenant API.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, ADMIN_TOKEN};

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn creating_a_tenant_returns_callback_urls_and_a_hashed_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;

    let base = format!("https://hooks.example.test/hooks/{}", tenant.id);
    assert_eq!(tenant.callback_urls["all"], json!(base));
    for channel in ["whatsapp", "messenger", "instagram"] {
        assert_eq!(
            tenant.callback_urls[channel],
            json!(format!("{base}/{channel}"))
        );
    }
    assert!(tenant.api_key.starts_with("sbk_"));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .expect("key row");
    assert_eq!(stored, switchboard::tokens::hash_api_key(&tenant.api_key));
    let in_clear: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE prefix = $1")
        .bind(&tenant.api_key)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(in_clear, 0, "the key itself is never stored");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn admin_routes_refuse_missing_wrong_and_tenant_credentials(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = json!({"name": "Other"});
    let no_auth = app
        .client
        .post(app.url("/v1/tenants"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let wrong = app
        .client
        .post(app.url("/v1/tenants"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("request");
    let as_tenant = app
        .client
        .get(app.url("/v1/tenants"))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .expect("request");
    for response in [no_auth, wrong, as_tenant] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.expect("json error body");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn invalid_tenant_input_gets_a_machine_readable_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases = [
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (
            json!({"name": "x", "app_secret": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_credential",
        ),
        (
            json!({"name": "x", "app_secret": "enc:v1:abcd:AAAA"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_credential",
        ),
        (json!({"nom": "x"}), StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (body, status, code) in cases {
        let response = app
            .client
            .post(app.url("/v1/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code, "{body}");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn tenants_are_listed_with_keyset_pages_and_fetched_by_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    for _ in 0..3 {
        app.create_tenant().await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = app
            .client
            .get(app.url("/v1/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .query(&[("limit", "2")]);
        if let Some(cursor) = &after {
            request = request.query(&[("after", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    let one = app
        .client
        .get(app.url(&format!("/v1/tenants/{}", seen[1])))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(one.status(), StatusCode::OK);
    let missing = app
        .client
        .get(app.url(&format!("/v1/tenants/{}", uuid::Uuid::now_v7())))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad_limit = app
        .client
        .get(app.url("/v1/tenants?limit=0"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(bad_limit.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn health_answers_until_shutdown(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), StatusCode::OK);

    app.shutdown.cancel();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    while fresh.get(app.url("/healthz")).send().await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "still serving after shutdown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn text_postgres_cannot_store_is_a_client_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let response = app
        .client
        .post(app.url("/v1/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "nul\u{0}byte"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "invalid_text");
    let filtered = app
        .tenant_request(reqwest::Method::GET, "/v1/events?contact=%00", &tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(filtered.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
