//! `/metrics` moves as the gateway works: webhooks by outcome, events by type, deliveries,
//! and the outbox gauges.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use switchboard::config::Role;

use crate::helpers::{spawn_app, spawn_app_as, whatsapp_text, TestApp, APP_SECRET};
use crate::receiver::Receiver;

/// The value of one sample line (`name{labels}`), 0 when the series does not exist yet.
async fn sample(app: &TestApp, series: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn counters_move_with_accepted_and_rejected_webhooks(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let accepted = r#"switchboard_webhooks_received_total{channel="whatsapp",outcome="accepted"}"#;
    let refused =
        r#"switchboard_webhooks_received_total{channel="whatsapp",outcome="bad_signature"}"#;
    let stored = r#"switchboard_events_stored_total{channel="whatsapp",type="message.received"}"#;
    let delivered = r#"switchboard_deliveries_total{outcome="succeeded"}"#;
    let before = [
        sample(&app, accepted).await,
        sample(&app, refused).await,
        sample(&app, stored).await,
        sample(&app, delivered).await,
    ];

    let path = format!("{}/whatsapp", tenant.id);
    let ok = app.post_signed(&path, &whatsapp_text(), APP_SECRET).await;
    let bad = app
        .post_signed(&path, &whatsapp_text(), "not-the-secret")
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    app.wait_for_count(
        "SELECT count(*) FROM deliveries WHERE state = 'succeeded'",
        1,
        Duration::from_secs(10),
    )
    .await;

    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    let after = [
        sample(&app, accepted).await,
        sample(&app, refused).await,
        sample(&app, stored).await,
        sample(&app, delivered).await,
    ];
    let moved: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(moved, [1.0, 1.0, 1.0, 1.0]);
    assert!(sample(&app, "switchboard_ingest_duration_seconds_count").await >= 2.0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn outbox_gauges_show_the_backlog(pool: PgPool) {
    // No dispatcher: what is queued stays queued.
    let app = spawn_app_as(pool, Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    app.create_endpoint(&tenant, "https://receiver.example.test/hook", json!({}))
        .await;
    assert_eq!(sample(&app, "switchboard_outbox_pending").await, 0.0);

    app.post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    sqlx::query("UPDATE deliveries SET next_attempt_at = now() - interval '90 seconds'")
        .execute(&app.pool)
        .await
        .expect("age the delivery");

    assert_eq!(sample(&app, "switchboard_outbox_pending").await, 1.0);
    let oldest = sample(&app, "switchboard_outbox_oldest_due_seconds").await;
    assert!((90.0..120.0).contains(&oldest), "{oldest}");
}
