//! Graceful shutdown: a SIGTERM (here, cancelling the token) in the middle of a burst loses
//! nothing that was acknowledged and leaves no delivery locked.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use switchboard::simulate::fresh::fresh_body;

use crate::helpers::{spawn_app, whatsapp_text, APP_SECRET};
use crate::receiver::{Receiver, Reply};

const WORKERS: usize = 4;
const PER_WORKER: usize = 25;

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_shutdown_during_a_burst_keeps_every_acknowledged_webhook_and_no_lease(pool: PgPool) {
    // Arrange: the first deliveries hang (until the delivery timeout), so some are in flight.
    let mut app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script(std::iter::repeat_n(
        Reply::Sleep(Duration::from_secs(30)),
        10,
    ));
    app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let template = String::from_utf8(whatsapp_text()).expect("utf-8 fixture");
    let url = app.url(&format!("/hooks/{}/whatsapp", tenant.id));

    // Act: workers post distinct signed webhooks while the gateway is told to stop.
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (client, url, template) = (app.client.clone(), url.clone(), template.clone());
        workers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..PER_WORKER {
                let clock =
                    1_760_000_000_000 + i64::try_from(worker * PER_WORKER + n).expect("small");
                let body = fresh_body(&template, clock).expect("fixture is JSON");
                let sent = client
                    .post(&url)
                    .header(
                        "x-hub-signature-256",
                        switchboard::signature::meta_signature_header(APP_SECRET.as_bytes(), &body),
                    )
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status() == StatusCode::OK) {
                    let body: Value = serde_json::from_slice(&body).expect("json");
                    let id = body
                        .pointer("/entry/0/changes/0/value/messages/0/id")
                        .cloned();
                    acknowledged.push(
                        id.and_then(|id| id.as_str().map(str::to_owned))
                            .expect("id"),
                    );
                }
            }
            acknowledged
        }));
    }
    let leased_at_stop = app
        .wait_for_count(
            "SELECT count(*) FROM deliveries WHERE locked_until > now()",
            1,
            Duration::from_secs(10),
        )
        .await;
    app.shutdown.cancel();
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.expect("worker"));
    }
    tokio::time::timeout(Duration::from_secs(20), &mut app.server)
        .await
        .expect("the gateway stops within the drain deadline")
        .expect("gateway task")
        .expect("clean stop");

    // Assert
    assert!(
        leased_at_stop >= 1,
        "a delivery was in flight when the stop began"
    );
    assert!(
        !acknowledged.is_empty(),
        "nothing was accepted before the stop"
    );
    let stored: HashSet<String> = sqlx::query_scalar("SELECT payload->>'message_id' FROM events")
        .fetch_all(&app.pool)
        .await
        .expect("events")
        .into_iter()
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "answered 200 but not stored: {lost:?}");
    let locked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE locked_until > now()")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(locked, 0, "a stopped gateway must give its leases back");
    let undelivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(undelivered, 0, "every stored event has its delivery queued");
}
