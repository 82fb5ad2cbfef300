//! Meta's GET verification handshake.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{spawn_app, TestApp, VERIFY_TOKEN};

async fn handshake(
    app: &TestApp,
    path: &str,
    mode: &str,
    token: &str,
) -> (StatusCode, String, String) {
    let response = app
        .client
        .get(app.url(&format!("/hooks/{path}")))
        .query(&[
            ("hub.mode", mode),
            ("hub.verify_token", token),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn right_token_echoes_the_challenge_exactly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    for path in [tenant.id.clone(), format!("{}/whatsapp", tenant.id)] {
        let (status, content_type, body) = handshake(&app, &path, "subscribe", VERIFY_TOKEN).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(body, "1158201444");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn wrong_token_or_mode_is_forbidden(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let (status, _, body) = handshake(&app, &tenant.id, "subscribe", "nope").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_ne!(body, "1158201444");
    let (status, _, _) = handshake(&app, &tenant.id, "unsubscribe", VERIFY_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = handshake(&app, &tenant.id, "subscribe", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn channel_override_wins_and_tenant_token_is_the_fallback(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    app.tenant_request(
        reqwest::Method::PUT,
        "/v1/config/channels/instagram",
        &tenant,
    )
    .json(&serde_json::json!({"verify_token": "ig-token"}))
    .send()
    .await
    .expect("request")
    .error_for_status()
    .expect("override set");

    let ig = format!("{}/instagram", tenant.id);
    assert_eq!(
        handshake(&app, &ig, "subscribe", "ig-token").await.0,
        StatusCode::OK
    );
    assert_eq!(
        handshake(&app, &ig, "subscribe", VERIFY_TOKEN).await.0,
        StatusCode::FORBIDDEN
    );
    let messenger = format!("{}/messenger", tenant.id);
    assert_eq!(
        handshake(&app, &messenger, "subscribe", VERIFY_TOKEN)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        handshake(&app, &tenant.id, "subscribe", VERIFY_TOKEN)
            .await
            .0,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn unknown_tenant_or_channel_is_not_found(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        handshake(&app, &unknown, "subscribe", VERIFY_TOKEN).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        handshake(&app, "not-a-uuid", "subscribe", VERIFY_TOKEN)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let telegram = format!("{}/telegram", tenant.id);
    assert_eq!(
        handshake(&app, &telegram, "subscribe", VERIFY_TOKEN)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
