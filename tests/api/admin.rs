//! Operator routes for managing tenants and their API keys.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use switchboard::config::{DispatchArgs, Role};

use crate::helpers::{
    spawn_app, spawn_app_as, standalone_dispatcher, whatsapp_text, TestApp, TestTenant, APP_SECRET,
};
use crate::receiver::Receiver;

async fn status_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.admin_request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_of(request.send().await.expect("request")).await
}

/// The tenant API answers this key with 200, or 401 when the key no longer counts.
async fn key_status(app: &TestApp, key: &str) -> StatusCode {
    app.client
        .get(app.url("/v1/config"))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
        .status()
}

fn tenant_path(tenant: &TestTenant, rest: &str) -> String {
    format!("/v1/tenants/{}{rest}", tenant.id)
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_tenant_is_renamed_and_bad_names_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let path = tenant_path(&tenant, "");

    let (status, renamed) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"name": " Acme 2 "})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "Acme 2");
    let (_, fetched) = admin(&app, Method::GET, &path, None).await;
    assert_eq!(fetched["name"], "Acme 2");

    let (status, unchanged) = admin(&app, Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unchanged["name"], "Acme 2");

    for bad in [json!({"name": ""}), json!({"name": "x".repeat(201)})] {
        let (status, error) = admin(&app, Method::PATCH, &path, Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"]["code"], "invalid_name");
    }
    let (status, error) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"name": {"first": "x"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "bad_request");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_disabled_tenant_gets_401_and_refused_callbacks_until_enabled(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;

    let (status, view) = admin(&app, Method::POST, &tenant_path(&tenant, "/disable"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["disabled"], true);
    assert_eq!(
        key_status(&app, &tenant.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    let refused = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert_eq!(app.receipt_count().await, 0);

    let (status, view) = admin(&app, Method::POST, &tenant_path(&tenant, "/enable"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["disabled"], false);
    assert_eq!(key_status(&app, &tenant.api_key).await, StatusCode::OK);
    let accepted = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_disabled_tenants_deliveries_wait_until_it_is_enabled(pool: PgPool) {
    // HTTP only: the test drives the dispatcher itself.
    let app = spawn_app_as(pool.clone(), Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let accepted = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let settings = DispatchArgs {
        allow_private_destinations: true,
        ..Default::default()
    };
    let dispatcher = standalone_dispatcher(&pool, &settings);

    admin(&app, Method::POST, &tenant_path(&tenant, "/disable"), None).await;
    assert_eq!(dispatcher.dispatch_due().await.expect("dispatch"), 0);
    admin(&app, Method::POST, &tenant_path(&tenant, "/enable"), None).await;
    assert_eq!(dispatcher.dispatch_due().await.expect("dispatch"), 1);
    assert_eq!(receiver.received().len(), 1);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn deleting_a_tenant_removes_it_and_its_data(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let kept = app.create_tenant().await;
    app.post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;

    let (status, deleted) = admin(&app, Method::DELETE, &tenant_path(&tenant, ""), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["id"], json!(tenant.id));

    let (status, _) = admin(&app, Method::GET, &tenant_path(&tenant, ""), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        key_status(&app, &tenant.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.receipt_count().await, 0);
    assert_eq!(key_status(&app, &kept.api_key).await, StatusCode::OK);
    let (status, _) = admin(&app, Method::DELETE, &tenant_path(&tenant, ""), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn unknown_tenants_answer_404_on_every_admin_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = uuid::Uuid::now_v7();
    let key = uuid::Uuid::now_v7();
    let routes = [
        (Method::GET, format!("/v1/tenants/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/tenants/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/v1/tenants/{id}"), None),
        (Method::POST, format!("/v1/tenants/{id}/disable"), None),
        (Method::POST, format!("/v1/tenants/{id}/enable"), None),
        (Method::POST, format!("/v1/tenants/{id}/api-keys"), None),
        (Method::GET, format!("/v1/tenants/{id}/api-keys"), None),
        (
            Method::DELETE,
            format!("/v1/tenants/{id}/api-keys/{key}"),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let (status, error) = admin(&app, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error["error"]["code"], "not_found", "{method} {path}");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn admin_tenant_routes_refuse_tenant_keys_and_missing_tokens(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let key = uuid::Uuid::now_v7();
    let routes = [
        (Method::PATCH, tenant_path(&tenant, "")),
        (Method::DELETE, tenant_path(&tenant, "")),
        (Method::POST, tenant_path(&tenant, "/disable")),
        (Method::POST, tenant_path(&tenant, "/enable")),
        (Method::POST, tenant_path(&tenant, "/api-keys")),
        (Method::GET, tenant_path(&tenant, "/api-keys")),
        (
            Method::DELETE,
            tenant_path(&tenant, &format!("/api-keys/{key}")),
        ),
    ];
    for (method, path) in routes {
        for key in [None, Some(tenant.api_key.as_str()), Some("wrong")] {
            let mut request = app
                .client
                .request(method.clone(), app.url(&path))
                .json(&json!({"name": "x"}));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let (status, error) = status_of(request.send().await.expect("request")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} {key:?}");
            assert_eq!(error["error"]["code"], "unauthorized");
        }
    }
    let (status, _) = admin(&app, Method::GET, &tenant_path(&tenant, ""), None).await;
    assert_eq!(status, StatusCode::OK, "nothing was changed");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn api_keys_are_issued_once_listed_without_secrets_and_revoked(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let keys_path = tenant_path(&tenant, "/api-keys");

    let (status, second) = admin(&app, Method::POST, &keys_path, None).await;
    assert_eq!(status, StatusCode::OK);
    let second_key = second["api_key"].as_str().expect("api_key").to_owned();
    assert!(second_key.starts_with(second["prefix"].as_str().expect("prefix")));
    assert_eq!(key_status(&app, &second_key).await, StatusCode::OK);

    let (status, page) = admin(&app, Method::GET, &keys_path, None).await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for item in items {
        assert!(item.get("api_key").is_none(), "{item}");
        assert!(item["revoked_at"].is_null());
        assert_eq!(item["tenant_id"], json!(tenant.id));
    }
    assert!(!page.to_string().contains(&second_key));
    assert!(!page.to_string().contains(&tenant.api_key));

    let first_id = items[0]["id"].as_str().expect("id");
    let revoke_path = format!("{keys_path}/{first_id}");
    let (status, revoked) = admin(&app, Method::DELETE, &revoke_path, None).await;
    assert_eq!(status, StatusCode::OK);
    let revoked_at = revoked["revoked_at"].clone();
    assert!(revoked_at.is_string());
    assert_eq!(
        key_status(&app, &tenant.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(key_status(&app, &second_key).await, StatusCode::OK);
    let (status, again) = admin(&app, Method::DELETE, &revoke_path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["revoked_at"], revoked_at,
        "the first revocation time stays"
    );

    let (_, page) = admin(&app, Method::GET, &format!("{keys_path}?limit=1"), None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next"], json!(first_id));
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn api_keys_of_one_tenant_cannot_be_revoked_through_another(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owner = app.create_tenant().await;
    let other = app.create_tenant().await;
    let (_, page) = admin(&app, Method::GET, &tenant_path(&owner, "/api-keys"), None).await;
    let key_id = page["items"][0]["id"].as_str().expect("id").to_owned();

    let path = tenant_path(&other, &format!("/api-keys/{key_id}"));
    let (status, _) = admin(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(key_status(&app, &owner.api_key).await, StatusCode::OK);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn api_key_routes_validate_their_input(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let cases = [
        (
            tenant_path(&tenant, "/api-keys?limit=0"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            tenant_path(&tenant, "/api-keys?limit=501"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            tenant_path(&tenant, "/api-keys?after=nope"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/tenants/not-a-uuid/api-keys".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (path, status, code) in cases {
        let (got, error) = admin(&app, Method::GET, &path, None).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(error["error"]["code"], code, "{path}");
    }
}
