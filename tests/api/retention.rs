//! Retention deletes only what is older than the configured ages, and never an event whose
//! delivery is still pending.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use switchboard::config::{RetentionArgs, Role};
use switchboard::retention::{self, Purged};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{fixture, spawn_app_as, TestApp, APP_SECRET};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn scalar<T>(app: &TestApp, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn run(app: &TestApp, sql: &str) {
    sqlx::query(sql)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn retention_deletes_only_what_is_old_enough(pool: PgPool) {
    // Arrange: no dispatcher, so deliveries stay pending unless the test says otherwise.
    let app = spawn_app_as(pool, Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    app.create_endpoint(&tenant, "https://receiver.example.test/hook", json!({}))
        .await;
    for name in [
        "whatsapp/text.json",
        "whatsapp/image.json",
        "whatsapp/status-read.json",
    ] {
        let response = app
            .post_signed(&tenant.id, &fixture(name), APP_SECRET)
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{name}");
    }
    // old_done: old event, delivered. old_pending: old event, delivery pending, old receipt.
    // recent: new event, delivered, with one old and one new attempt.
    let old_done: Uuid = scalar(
        &app,
        "SELECT id FROM events WHERE payload->>'kind' = 'text'",
    )
    .await;
    let old_pending: Uuid = scalar(
        &app,
        "SELECT id FROM events WHERE payload->>'kind' = 'image'",
    )
    .await;
    let recent: Uuid = scalar(
        &app,
        "SELECT id FROM events WHERE event_type = 'message.status'",
    )
    .await;
    run(&app, &format!(
        "UPDATE events SET created_at = now() - interval '100 days' WHERE id IN ('{old_done}', '{old_pending}')"
    ))
    .await;
    run(
        &app,
        &format!(
        "UPDATE deliveries SET state = 'succeeded' WHERE event_id IN ('{old_done}', '{recent}')"
    ),
    )
    .await;
    run(
        &app,
        &format!(
            "UPDATE receipts SET received_at = now() - interval '40 days'
         WHERE id = (SELECT receipt_id FROM events WHERE id = '{old_pending}')"
        ),
    )
    .await;
    run(
        &app,
        &format!(
        "INSERT INTO attempts (id, delivery_id, attempt_number, started_at, duration_ms, succeeded)
         SELECT gen_random_uuid(), d.id, n, now() - make_interval(days => 40 * (2 - n)), 5, n = 2
         FROM deliveries d, generate_series(1, 2) AS n WHERE d.event_id = '{recent}'"
    ),
    )
    .await;
    let policy = RetentionArgs {
        retain_receipts: Some(30 * DAY),
        retain_events: Some(90 * DAY),
        retain_attempts: Some(30 * DAY),
        ..RetentionArgs::default()
    };

    // Act
    let first = retention::purge(&app.pool, &policy, &CancellationToken::new())
        .await
        .expect("purge");
    let second = retention::purge(&app.pool, &policy, &CancellationToken::new())
        .await
        .expect("purge again");

    // Assert
    assert_eq!(
        first,
        Purged {
            receipts: 1,
            events: 1,
            attempts: 1
        }
    );
    assert_eq!(second, Purged::default());
    let events: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM events ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("events");
    let mut expected = vec![old_pending, recent];
    expected.sort();
    assert_eq!(events, expected);
    let deliveries: i64 = scalar(&app, "SELECT count(*) FROM deliveries").await;
    assert_eq!(deliveries, 2, "only the purged event's delivery goes");
    let orphaned: Option<Uuid> = scalar(
        &app,
        &format!("SELECT receipt_id FROM events WHERE id = '{old_pending}'"),
    )
    .await;
    assert_eq!(orphaned, None, "its receipt is gone, the event stays");
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempt_number FROM attempts")
        .fetch_all(&app.pool)
        .await
        .expect("attempts");
    assert_eq!(attempts, [2]);
    assert_eq!(app.receipt_count().await, 2);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn without_ages_nothing_is_deleted(pool: PgPool) {
    let app = spawn_app_as(pool, Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    app.post_signed(&tenant.id, &fixture("whatsapp/text.json"), APP_SECRET)
        .await;
    run(
        &app,
        "UPDATE receipts SET received_at = now() - interval '10 years'",
    )
    .await;
    run(
        &app,
        "UPDATE events SET created_at = now() - interval '10 years'",
    )
    .await;
    let keep_forever = RetentionArgs {
        retain_receipts: Some(Duration::ZERO),
        ..RetentionArgs::default()
    };

    let purged = retention::purge(&app.pool, &keep_forever, &CancellationToken::new())
        .await
        .expect("purge");

    assert_eq!(purged, Purged::default());
    assert_eq!(app.receipt_count().await, 1);
}
