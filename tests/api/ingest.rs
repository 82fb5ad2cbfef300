//! Signed webhook intake: what is accepted, what is refused, and what ends up stored.

use reqwest::StatusCode;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use switchboard::config::IngestMode;
use switchboard::store::receipts;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, whatsapp_text, APP_SECRET};

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn acknowledged_receipt_is_stored_byte_identical(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = whatsapp_text();

    let response = app
        .post_signed(&format!("{}/whatsapp", tenant.id), &body, APP_SECRET)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let tenant_id = Uuid::parse_str(&tenant.id).expect("uuid");
    let stored = receipts::receipts_of_tenant(&app.pool, tenant_id)
        .await
        .expect("receipts");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, body, "raw bytes must be kept exactly");
    assert_eq!(stored[0].url_channel.as_deref(), Some("whatsapp"));
    assert_eq!(stored[0].channel.as_deref(), Some("whatsapp"));
    assert_eq!(stored[0].problem, None);
    assert!(stored[0].headers["x-hub-signature-256"]
        .as_str()
        .is_some_and(|s| s.starts_with("sha256=")));
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_all_channel_url_takes_the_channel_from_the_body(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let response = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let channel: Option<String> = sqlx::query_scalar("SELECT channel FROM receipts")
        .fetch_one(&app.pool)
        .await
        .expect("receipt");
    assert_eq!(channel.as_deref(), Some("whatsapp"));
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn missing_signature_is_401_and_stores_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let response = app.post_hook(&tenant.id, &whatsapp_text(), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn wrong_signatures_are_403_and_store_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = whatsapp_text();
    let good = switchboard::signature::meta_signature_header(APP_SECRET.as_bytes(), &body);

    // Signed with another secret.
    let other = app.post_signed(&tenant.id, &body, "not-the-secret").await;
    // A valid signature for other bytes.
    let tampered = app
        .post_hook(
            &tenant.id,
            b"{\"object\":\"page\",\"entry\":[]}",
            Some(&good),
        )
        .await;
    // Garbage, wrong length, wrong algorithm.
    let garbage = app.post_hook(&tenant.id, &body, Some("sha256=zzzz")).await;
    let short = app.post_hook(&tenant.id, &body, Some(&good[..30])).await;
    let sha1 = app
        .post_hook(&tenant.id, &body, Some(&good.replace("sha256", "sha1")))
        .await;

    for response in [other, tampered, garbage, short, sha1] {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_body_reserialized_by_a_json_library_fails_verification(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = whatsapp_text();
    let signature = switchboard::signature::meta_signature_header(APP_SECRET.as_bytes(), &body);
    let value: Value = serde_json::from_slice(&body).expect("fixture is JSON");
    let reserialized = serde_json::to_vec(&value).expect("serialize");
    assert_ne!(
        reserialized, body,
        "the test needs different bytes for the same JSON"
    );

    let response = app
        .post_hook(&tenant.id, &reserialized, Some(&signature))
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn both_secrets_work_during_rotation_and_the_old_one_stops_after(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let set_secrets = |secrets: Vec<&'static str>| {
        app.tenant_request(reqwest::Method::PUT, "/v1/config", &tenant)
            .json(&serde_json::json!({ "app_secrets": secrets }))
            .send()
    };
    set_secrets(vec!["old-secret", "new-secret"])
        .await
        .expect("request")
        .error_for_status()
        .expect("set");
    let body = whatsapp_text();
    assert_eq!(
        app.post_signed(&tenant.id, &body, "old-secret")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_signed(&tenant.id, &body, "new-secret")
            .await
            .status(),
        StatusCode::OK
    );

    set_secrets(vec!["new-secret"])
        .await
        .expect("request")
        .error_for_status()
        .expect("set");
    assert_eq!(
        app.post_signed(&tenant.id, &body, "old-secret")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_signed(&tenant.id, &body, "new-secret")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.receipt_count().await, 3);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_channel_secret_override_replaces_the_tenant_secret_on_that_channel(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    app.tenant_request(
        reqwest::Method::PUT,
        "/v1/config/channels/whatsapp",
        &tenant,
    )
    .json(&serde_json::json!({ "app_secrets": ["wa-secret"] }))
    .send()
    .await
    .expect("request")
    .error_for_status()
    .expect("set");
    let body = whatsapp_text();
    let wa = format!("{}/whatsapp", tenant.id);
    let messenger = format!("{}/messenger", tenant.id);
    assert_eq!(
        app.post_signed(&wa, &body, "wa-secret").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_signed(&wa, &body, APP_SECRET).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_signed(&messenger, &body, APP_SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    // The all-channel URL cannot know the channel before verifying, so it tries every secret.
    assert_eq!(
        app.post_signed(&tenant.id, &body, "wa-secret")
            .await
            .status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn unknown_tenant_and_channel_are_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = whatsapp_text();
    let unknown = Uuid::now_v7().to_string();
    assert_eq!(
        app.post_signed(&unknown, &body, APP_SECRET).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_signed("nope", &body, APP_SECRET).await.status(),
        StatusCode::NOT_FOUND
    );
    let telegram = format!("{}/telegram", tenant.id);
    assert_eq!(
        app.post_signed(&telegram, &body, APP_SECRET).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn oversize_body_is_413_and_stores_nothing(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.max_body_bytes = 1024).await;
    let tenant = app.create_tenant().await;
    let mut body = whatsapp_text();
    body.extend(std::iter::repeat_n(b' ', 2048));
    let response = app.post_signed(&tenant.id, &body, APP_SECRET).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Without a Content-Length (chunked), the limit still holds while reading.
    let signature = switchboard::signature::meta_signature_header(APP_SECRET.as_bytes(), &body);
    let stream = futures_util::stream::iter(
        body.chunks(256)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .client
        .post(app.url(&format!("/hooks/{}", tenant.id)))
        .header("x-hub-signature-256", signature)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn signed_but_unparsable_bodies_are_stored_flagged_and_acknowledged(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let not_json: &[u8] = b"this is {not json";
    let not_meta: &[u8] = br#"{"hello":"world"}"#;
    for body in [not_json, not_meta] {
        let response = app.post_signed(&tenant.id, body, APP_SECRET).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let tenant_id = Uuid::parse_str(&tenant.id).expect("uuid");
    let stored = receipts::receipts_of_tenant(&app.pool, tenant_id)
        .await
        .expect("receipts");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].body, not_json);
    assert_eq!(stored[1].body, not_meta);
    assert!(
        stored.iter().all(|r| r.problem.is_some()),
        "both must be flagged"
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn database_down_is_503_never_200(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    app.pool.close().await;
    let response = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn rejected_webhooks_are_counted_in_metrics(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    app.post_hook(&tenant.id, &whatsapp_text(), None).await;
    app.post_signed(&tenant.id, &whatsapp_text(), "wrong").await;
    app.post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    for outcome in ["missing_signature", "bad_signature", "accepted"] {
        let line = format!(
            "switchboard_webhooks_received_total{{channel=\"all\",outcome=\"{outcome}\"}} 1"
        );
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn concurrent_webhooks_are_group_committed_and_all_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let statuses = app.burst(&tenant.id, 200).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(app.receipt_count().await, 200);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(events, 200);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn one_transaction_per_request_mode_stores_the_same(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.ingest.ingest_mode = switchboard::config::IngestMode::Single;
    })
    .await;
    let tenant = app.create_tenant().await;
    let statuses = app.burst(&tenant.id, 50).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(app.receipt_count().await, 50);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_full_ingest_queue_answers_503_at_once_and_stores_only_what_it_acknowledged(
    pool: PgPool,
) {
    // One webhook in the committer and one in the queue.
    full_queue_refuses_the_rest(pool, IngestMode::Group, 2).await;
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn in_single_mode_a_full_queue_also_answers_503_at_once(pool: PgPool) {
    // The one admitted webhook is the one writing.
    full_queue_refuses_the_rest(pool, IngestMode::Single, 1).await;
}

/// Sends a burst of 20 while the receipts table is locked for 3 s, with room for one
/// waiting webhook: exactly `accepted` are acknowledged (and stored), the rest get 503.
async fn full_queue_refuses_the_rest(pool: PgPool, mode: IngestMode, accepted: usize) {
    let app = spawn_app_with(pool, |s| {
        s.ingest.ingest_mode = mode;
        s.ingest.ingest_queue = 1;
        s.ingest.group_committers = 1;
        s.ingest.group_max_batch = 1;
    })
    .await;
    let tenant = app.create_tenant().await;
    // Hold the writer: its insert waits for this lock, and every webhook beyond the
    // queue's room must be refused.
    let mut blocker = app.pool.begin().await.expect("tx");
    sqlx::query("LOCK TABLE receipts IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let release = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        blocker.rollback().await.expect("release");
    };
    let (statuses, ()) = tokio::join!(app.burst(&tenant.id, 20), release);
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(ok + refused, 20, "{statuses:?}");
    assert_eq!(ok, accepted, "{statuses:?}");
    assert_eq!(
        app.receipt_count().await,
        i64::try_from(accepted).expect("count")
    );
}
