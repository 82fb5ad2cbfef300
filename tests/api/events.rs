//! Normalized events over the API, deduplication across retries, and reprocessing.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{fixture, spawn_app, whatsapp_text, APP_SECRET};

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_same_post_three_times_yields_one_event(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    for _ in 0..3 {
        let response = app
            .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        app.receipt_count().await,
        3,
        "every POST is kept as received"
    );
    assert_eq!(
        event_count(&app.pool).await,
        1,
        "but the message is one event"
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_same_message_in_two_different_posts_is_one_event(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let original = whatsapp_text();
    let value: Value = serde_json::from_slice(&original).expect("json");
    let compact = serde_json::to_vec(&value).expect("serialize");
    assert_ne!(original, compact);
    for body in [original, compact] {
        assert_eq!(
            app.post_signed(&tenant.id, &body, APP_SECRET)
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(event_count(&app.pool).await, 1);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_batch_yields_one_event_per_message_and_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = fixture("whatsapp/batch-two-messages-one-value.json");
    assert_eq!(
        app.post_signed(&tenant.id, &body, APP_SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let expected = switchboard::channels::normalize(&body, 0).events.len();
    assert!(expected >= 2);
    assert_eq!(
        event_count(&app.pool).await,
        i64::try_from(expected).unwrap_or(0)
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn events_are_listed_with_filters_and_fetched_with_raw(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    for name in [
        "whatsapp/text.json",
        "whatsapp/status-delivered.json",
        "messenger/text-botman.json",
    ] {
        let response = app
            .post_signed(&tenant.id, &fixture(name), APP_SECRET)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }

    let all = app.tenant_get("/v1/events", &tenant).await;
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert!(
        items.iter().all(|e| e["raw"].is_null()),
        "lists leave raw out"
    );

    let statuses = app
        .tenant_get("/v1/events?type=message.status", &tenant)
        .await;
    assert_eq!(statuses["items"].as_array().map(Vec::len), Some(1));
    let messenger = app
        .tenant_get("/v1/events?channel=messenger", &tenant)
        .await;
    assert_eq!(messenger["items"].as_array().map(Vec::len), Some(1));
    let by_contact = app
        .tenant_get("/v1/events?contact=%2B1111111111111", &tenant)
        .await;
    assert_eq!(by_contact["items"][0]["text"], "hi everyone!");

    let id = by_contact["items"][0]["id"].as_str().expect("id");
    let one = app.tenant_get(&format!("/v1/events/{id}"), &tenant).await;
    assert_eq!(one["raw"]["text"]["body"], "hi everyone!");

    for bad in [
        "/v1/events?type=message.nope",
        "/v1/events?channel=telegram",
        "/v1/events?limit=501",
    ] {
        let response = app
            .tenant_request(reqwest::Method::GET, bad, &tenant)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let other = app.create_tenant().await;
    let foreign = app
        .tenant_request(reqwest::Method::GET, &format!("/v1/events/{id}"), &other)
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn reprocess_normalizes_receipts_flagged_by_an_older_version(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    assert_eq!(
        app.post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    // As if an older normalizer had not understood this body.
    sqlx::query("DELETE FROM events")
        .execute(&app.pool)
        .await
        .expect("delete");
    sqlx::query("UPDATE receipts SET problem = 'unknown shape'")
        .execute(&app.pool)
        .await
        .expect("flag");

    let report = switchboard::persist::reprocess_flagged(&app.pool)
        .await
        .expect("reprocess");

    assert_eq!((report.checked, report.fixed, report.events), (1, 1, 1));
    assert_eq!(event_count(&app.pool).await, 1);
    let flagged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM receipts WHERE problem IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(flagged, 0);
}
