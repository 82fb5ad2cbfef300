//! Tenant credentials: write-only secrets, overrides, and key checks.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, APP_SECRET, VERIFY_TOKEN};

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn secrets_are_write_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let put = app
        .tenant_request(Method::PUT, "/v1/config/channels/messenger", &tenant)
        .json(&json!({"verify_token": "m-token", "app_secrets": ["m-secret-1", "m-secret-2"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(put.status(), StatusCode::OK);
    let put_text = put.text().await.expect("body");
    let get_text = app
        .tenant_request(Method::GET, "/v1/config", &tenant)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    for text in [&put_text, &get_text] {
        for secret in [
            APP_SECRET,
            VERIFY_TOKEN,
            "m-token",
            "m-secret-1",
            "m-secret-2",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    let view: Value = serde_json::from_str(&get_text).expect("json");
    assert_eq!(
        view["defaults"],
        json!({"verify_token_set": true, "app_secret_count": 1})
    );
    let messenger = view["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel"] == "messenger")
        .expect("messenger");
    assert_eq!(
        messenger["overrides"],
        json!({"verify_token_set": true, "app_secret_count": 2})
    );
    assert_eq!(view["callback_urls"], tenant.callback_urls);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn deleting_an_override_restores_the_tenant_values(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let path = "/v1/config/channels/whatsapp";
    app.tenant_request(Method::PUT, path, &tenant)
        .json(&json!({"app_secrets": ["wa-only"]}))
        .send()
        .await
        .expect("request");
    let wa = format!("{}/whatsapp", tenant.id);
    let body = crate::helpers::whatsapp_text();
    assert_eq!(
        app.post_signed(&wa, &body, APP_SECRET).await.status(),
        StatusCode::FORBIDDEN
    );

    let deleted = app
        .tenant_request(Method::DELETE, path, &tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        app.post_signed(&wa, &body, APP_SECRET).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn config_rejects_bad_input_and_bad_keys(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let unknown_channel = app
        .tenant_request(Method::PUT, "/v1/config/channels/telegram", &tenant)
        .json(&json!({"verify_token": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown_channel.status(), StatusCode::NOT_FOUND);
    let empty_secret = app
        .tenant_request(Method::PUT, "/v1/config", &tenant)
        .json(&json!({"app_secrets": [""]}))
        .send()
        .await
        .expect("request");
    assert_eq!(empty_secret.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_key = app
        .client
        .get(app.url("/v1/config"))
        .bearer_auth("sbk_not-a-key")
        .send()
        .await
        .expect("request");
    assert_eq!(bad_key.status(), StatusCode::UNAUTHORIZED);
}
