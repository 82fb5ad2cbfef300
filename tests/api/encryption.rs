//! Secrets at rest: encrypted with the operator's key, readable with old keys during a
//! rotation, rewritten by `switchboard reencrypt`, and plaintext rows from before
//! encryption was enabled keep working.

use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use standardwebhooks::Webhook;
use switchboard::encryption::{EncryptionKey, Keyring};

use crate::helpers::{
    database_url, spawn_app, spawn_app_with, whatsapp_text, TestApp, TestTenant, APP_SECRET,
};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(10);

fn key_text(byte: u8) -> String {
    STANDARD.encode([byte; 32])
}

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::from_base64(&key_text(byte)).expect("valid key")
}

/// A gateway whose store encrypts with `current` and also reads `old`.
async fn app_with_keys(pool: &PgPool, current: Option<u8>, old: &[u8]) -> TestApp {
    let keys = Keyring::new(current.map(key), old.iter().copied().map(key).collect());
    spawn_app_with(pool.clone(), move |s| s.encryption = keys).await
}

/// Every stored secret: app secrets, endpoint secrets and previous endpoint secrets.
async fn stored_secrets(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT secret FROM app_secrets
         UNION ALL SELECT secret FROM endpoints
         UNION ALL SELECT previous_secret FROM endpoints WHERE previous_secret IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .expect("secrets")
}

fn sealed_with(stored: &[String], byte: u8) -> bool {
    let prefix = format!("enc:v1:{}:", key(byte).id());
    stored.iter().all(|s| s.starts_with(&prefix))
}

/// Proves the app secret and the endpoint secret both work: a signed Meta POST (message
/// number `n`, so it is never a duplicate) is accepted and the forwarded delivery verifies
/// with the endpoint secret the API shows.
async fn round_trip(
    app: &TestApp,
    tenant: &TestTenant,
    endpoint_id: &str,
    receiver: &Receiver,
    n: u32,
) {
    let before = receiver.received().len();
    let response = fresh_message(app, tenant, n).await;
    assert_eq!(response.status(), StatusCode::OK, "app secret check");
    let endpoint = app
        .tenant_get(&format!("/v1/endpoints/{endpoint_id}"), tenant)
        .await;
    let secret = endpoint["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let received = receiver.wait_for(before + 1, WAIT).await;
    assert_eq!(received.len(), before + 1, "one new delivery");
    let delivery = received.last().expect("a delivery");
    Webhook::new(secret)
        .expect("whsec secret")
        .verify(&delivery.body, &delivery.headers)
        .expect("signature verifies with the decrypted secret");
}

/// Creates a tenant and an endpoint towards `receiver`; returns the endpoint id.
async fn tenant_and_endpoint(app: &TestApp, receiver: &Receiver) -> (TestTenant, String) {
    let tenant = app.create_tenant().await;
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    (tenant, endpoint["id"].as_str().expect("id").to_owned())
}

/// Sends a distinct body each time so the dedup key never swallows a round trip.
async fn fresh_message(app: &TestApp, tenant: &TestTenant, n: u32) -> reqwest::Response {
    let body = String::from_utf8(whatsapp_text())
        .expect("utf-8")
        .replace("wamid.", &format!("wamid.{n}"));
    app.post_signed(&tenant.id, body.as_bytes(), APP_SECRET)
        .await
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn with_a_key_no_secret_is_stored_in_clear_and_everything_still_works(pool: PgPool) {
    let app = app_with_keys(&pool, Some(1), &[]).await;
    let receiver = Receiver::start().await;
    let (tenant, endpoint_id) = tenant_and_endpoint(&app, &receiver).await;
    let rotated = app
        .tenant_request(
            Method::POST,
            &format!("/v1/endpoints/{endpoint_id}/rotate-secret"),
            &tenant,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(rotated.status(), StatusCode::OK);
    let shown: Value = rotated.json().await.expect("json");

    let stored = stored_secrets(&pool).await;
    assert_eq!(stored.len(), 3, "app secret, secret, previous secret");
    assert!(sealed_with(&stored, 1), "{stored:?}");
    let secret = shown["secret"].as_str().expect("secret");
    for value in &stored {
        assert!(!value.contains(APP_SECRET) && !value.contains(secret));
        assert!(!value.contains(secret.trim_start_matches("whsec_")));
    }
    round_trip(&app, &tenant, &endpoint_id, &receiver, 1).await;
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_rotated_key_reads_old_values_and_reencrypt_retires_the_old_key(pool: PgPool) {
    let first = app_with_keys(&pool, Some(1), &[]).await;
    let receiver = Receiver::start().await;
    let (tenant, endpoint_id) = tenant_and_endpoint(&first, &receiver).await;
    first.shutdown.cancel();

    let rotating = app_with_keys(&pool, Some(2), &[1]).await;
    round_trip(&rotating, &tenant, &endpoint_id, &receiver, 1).await;
    rotating.shutdown.cancel();

    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("reencrypt")
        .env("DATABASE_URL", database_url(&pool).await)
        .env("SWITCHBOARD_ENCRYPTION_KEY", key_text(2))
        .env("SWITCHBOARD_ENCRYPTION_OLD_KEYS", key_text(1))
        .output()
        .expect("run switchboard");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("2 secrets rewritten"), "{stdout}");
    assert!(!stdout.contains(&key_text(2)) && !stderr.contains(&key_text(2)));
    assert!(sealed_with(&stored_secrets(&pool).await, 2));

    let retired = app_with_keys(&pool, Some(2), &[]).await;
    round_trip(&retired, &tenant, &endpoint_id, &receiver, 2).await;
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn without_the_old_key_encrypted_secrets_are_refused_not_guessed(pool: PgPool) {
    let first = app_with_keys(&pool, Some(1), &[]).await;
    let tenant = first.create_tenant().await;
    first.shutdown.cancel();

    let forgot = app_with_keys(&pool, Some(2), &[]).await;
    let response = forgot
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(forgot.receipt_count().await, 0, "nothing stored unverified");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn plaintext_rows_from_before_encryption_keep_working(pool: PgPool) {
    let before = spawn_app(pool.clone()).await;
    let receiver = Receiver::start().await;
    let (tenant, endpoint_id) = tenant_and_endpoint(&before, &receiver).await;
    before.shutdown.cancel();
    let legacy = stored_secrets(&pool).await;
    assert!(legacy.iter().all(|s| !s.starts_with("enc:")), "{legacy:?}");

    let keys = Keyring::new(Some(key(1)), vec![]);
    let enabled = app_with_keys(&pool, Some(1), &[]).await;
    round_trip(&enabled, &tenant, &endpoint_id, &receiver, 1).await;

    let rewritten = switchboard::store::reencrypt_secrets(&pool, &keys)
        .await
        .expect("reencrypt");
    assert_eq!(rewritten, 2);
    assert!(sealed_with(&stored_secrets(&pool).await, 1));
    round_trip(&enabled, &tenant, &endpoint_id, &receiver, 2).await;
    let again = switchboard::store::reencrypt_secrets(&pool, &keys)
        .await
        .expect("reencrypt");
    assert_eq!(again, 0, "nothing left to rewrite");
}

#[test]
fn a_bad_key_is_refused_without_echoing_it() {
    let bad = "c2VjcmV0LWJ1dC10b28tc2hvcnQ=";
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["reencrypt", "--encryption-key", bad])
        .output()
        .expect("run switchboard");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("32 bytes"), "{stderr}");
    assert!(!stderr.contains(bad), "{stderr}");
}
