//! Forwarding: signed deliveries to real receivers on loopback, retries, replays, filters,
//! leases, concurrency isolation and the SSRF guard.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use standardwebhooks::Webhook;
use switchboard::channels;
use switchboard::config::Role;
use switchboard::dispatch::handoff::Handoff;
use switchboard::dispatch::Dispatcher;
use switchboard::encryption::Keyring;
use switchboard::persist::{self, Accepted, LocalDispatch, Outbox};
use switchboard::store::deliveries::Attempt;
use switchboard::store::receipts::NewReceipt;
use uuid::Uuid;

use crate::helpers::{
    fixture, spawn_app, spawn_app_as, spawn_app_with, standalone_dispatcher, whatsapp_text,
    TestApp, TestTenant, APP_SECRET,
};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

async fn only_delivery(app: &TestApp, tenant: &TestTenant) -> Value {
    let page = app.tenant_get("/v1/deliveries", tenant).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    items[0].clone()
}

async fn wait_for_succeeded(app: &TestApp, n: i64) {
    app.wait_for_count(
        "SELECT count(*) FROM deliveries WHERE state = 'succeeded'",
        n,
        WAIT,
    )
    .await;
}

/// `PATCH /v1/endpoints/{id}` with `enabled`; returns the status.
async fn set_enabled(
    app: &TestApp,
    tenant: &TestTenant,
    endpoint: &Value,
    enabled: bool,
) -> StatusCode {
    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().expect("id"));
    app.tenant_request(Method::PATCH, &path, tenant)
        .json(&json!({ "enabled": enabled }))
        .send()
        .await
        .expect("request")
        .status()
}

/// `POST /v1/endpoints/{id}/recover` for everything since 2020; returns the answer.
async fn recover_since_2020(app: &TestApp, tenant: &TestTenant, endpoint: &Value) -> Value {
    let path = format!(
        "/v1/endpoints/{}/recover",
        endpoint["id"].as_str().expect("id")
    );
    app.tenant_request(Method::POST, &path, tenant)
        .json(&json!({"since": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// A dead worker's delivery: the successor finds nothing while its `lease` holds, and
/// sends it once the lease has run out.
async fn taken_over_only_after(successor: &Dispatcher, lease: Duration) {
    assert_eq!(
        successor.dispatch_due().await.expect("dispatch"),
        0,
        "the lease still holds"
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert_eq!(
        successor.dispatch_due().await.expect("dispatch"),
        1,
        "taken over after the lease"
    );
}

async fn attempts(app: &TestApp, tenant: &TestTenant, delivery_id: &str) -> Vec<Value> {
    app.tenant_get(&format!("/v1/deliveries/{delivery_id}/attempts"), tenant)
        .await
        .as_array()
        .expect("attempts")
        .clone()
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_signed_whatsapp_post_reaches_the_receiver_verifiably_signed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;

    let response = app
        .post_signed(&tenant.id, &whatsapp_text(), APP_SECRET)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    // Verified by the reference Standard Webhooks library, not by our own code.
    let verifier =
        Webhook::new(endpoint["secret"].as_str().expect("secret")).expect("whsec secret");
    verifier
        .verify(&delivery.body, &delivery.headers)
        .expect("valid signature");
    assert_eq!(delivery.header("content-type"), "application/json");
    assert!(delivery.header("user-agent").starts_with("Switchboard/"));
    let event = delivery.json();
    assert_eq!(event["type"], "message.received");
    assert_eq!(event["channel"], "whatsapp");
    assert_eq!(event["from"], "+1111111111111");
    assert_eq!(event["text"], "hi everyone!");
    assert_eq!(event["tenant_id"], json!(tenant.id));
    assert_eq!(
        delivery.header("webhook-id"),
        event["id"].as_str().expect("id")
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn two_failures_then_success_makes_three_logged_attempts(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;

    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;

    let received = receiver.wait_for(3, WAIT).await;
    assert_eq!(received.len(), 3);
    let ids: Vec<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "webhook-id is stable across retries"
    );
    wait_for_succeeded(&app, 1).await;
    let delivery = only_delivery(&app, &tenant).await;
    assert_eq!(delivery["state"], "succeeded");
    let log = attempts(&app, &tenant, delivery["id"].as_str().expect("id")).await;
    let statuses: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(log[0]["succeeded"], false);
    assert_eq!(log[2]["succeeded"], true);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_receiver_that_never_answers_in_time_fails_then_a_manual_retry_succeeds(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.dispatch.delivery_timeout = Duration::from_millis(300);
        s.dispatch.max_attempts = 2;
    })
    .await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::Sleep(Duration::from_secs(2)),
        Reply::Sleep(Duration::from_secs(2)),
    ]);
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;

    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;

    app.wait_for_count(
        "SELECT count(*) FROM deliveries WHERE state = 'failed'",
        1,
        WAIT,
    )
    .await;
    let delivery = only_delivery(&app, &tenant).await;
    assert_eq!(delivery["state"], "failed");
    let id = delivery["id"].as_str().expect("id").to_owned();
    let log = attempts(&app, &tenant, &id).await;
    assert_eq!(log.len(), 2, "attempts stop at the limit");
    assert!(log
        .iter()
        .all(|a| a["status_code"].is_null() && a["error"].is_string()));

    let retry = app
        .tenant_request(Method::POST, &format!("/v1/deliveries/{id}/retry"), &tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(retry.status(), StatusCode::OK);
    wait_for_succeeded(&app, 1).await;
    assert_eq!(attempts(&app, &tenant, &id).await.len(), 3);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn retry_after_is_obeyed(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.dispatch.retry_max_delay = Duration::from_secs(10)
    })
    .await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::RetryAfter(503, 1)]);
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;

    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;

    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "second attempt after {gap:?}, Retry-After said 1 s"
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn an_endpoint_filtered_to_messages_gets_no_statuses(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    app.create_endpoint(
        &tenant,
        &receiver.url,
        json!({"event_types": ["message.received"]}),
    )
    .await;
    let everything = Receiver::start().await;
    app.create_endpoint(&tenant, &everything.url, json!({}))
        .await;

    for body in [fixture("whatsapp/status-delivered.json"), whatsapp_text()] {
        assert_eq!(
            app.post_signed(&tenant.id, &body, APP_SECRET)
                .await
                .status(),
            StatusCode::OK
        );
    }

    assert_eq!(everything.wait_for(2, WAIT).await.len(), 2);
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["type"], "message.received");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn two_instances_deliver_a_burst_of_1000_events_once_each(pool: PgPool) {
    let first = spawn_app(pool.clone()).await;
    let second = spawn_app(pool).await;
    let tenant = first.create_tenant().await;
    let receiver = Receiver::start().await;
    let endpoint = first
        .create_endpoint(&tenant, &receiver.url, json!({}))
        .await;
    let tenant_id = uuid::Uuid::parse_str(&tenant.id).expect("uuid");
    let endpoint_id = uuid::Uuid::parse_str(endpoint["id"].as_str().expect("id")).expect("uuid");

    // 1,000 pings queued in one go, as a burst of ingest would.
    let mut tx = first.pool.begin().await.expect("tx");
    for _ in 0..1000 {
        let event = switchboard::event::Event::ping(tenant_id);
        switchboard::store::events::insert_synthetic_event(&mut tx, tenant_id, &event)
            .await
            .expect("event");
        switchboard::store::deliveries::enqueue_to_endpoint(&mut tx, endpoint_id, &event)
            .await
            .expect("delivery");
    }
    tx.commit().await.expect("commit");

    let succeeded = second
        .wait_for_count(
            "SELECT count(*) FROM deliveries WHERE state = 'succeeded'",
            1000,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(succeeded, 1000);
    let received = receiver.received();
    let mut ids: Vec<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "every event arrived");
    assert_eq!(received.len(), 1000, "none was delivered twice");
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM attempts")
        .fetch_one(&first.pool)
        .await
        .expect("count");
    assert_eq!(attempts, 1000);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_dispatcher_killed_mid_delivery_is_replaced_after_the_lease(pool: PgPool) {
    // HTTP only: the test drives dispatchers itself.
    let app = spawn_app_as(pool.clone(), Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Sleep(Duration::from_secs(30))]);
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;

    let mut settings = switchboard::config::DispatchArgs {
        allow_private_destinations: true,
        lease: Duration::from_millis(500),
        ..Default::default()
    };
    let doomed = standalone_dispatcher(&pool, &settings);
    let task = tokio::spawn(async move { doomed.dispatch_due().await });
    // Wait until the request is in flight, then kill the worker.
    let deadline = std::time::Instant::now() + WAIT;
    while sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
        "SELECT locked_until FROM deliveries",
    )
    .fetch_one(&pool)
    .await
    .expect("lease")
    .is_none()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();

    let dead_lease = settings.lease;
    settings.lease = Duration::from_secs(60);
    let successor = standalone_dispatcher(&pool, &settings);
    taken_over_only_after(&successor, dead_lease).await;
    let delivery = only_delivery(&app, &tenant).await;
    assert_eq!(delivery["state"], "succeeded");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_delivery_handed_to_a_dispatcher_that_dies_is_taken_over_after_the_lease(pool: PgPool) {
    let app = spawn_app_as(pool.clone(), Role::Http, |_| {}).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let settings = switchboard::config::DispatchArgs {
        allow_private_destinations: true,
        lease: Duration::from_millis(500),
        ..Default::default()
    };
    // A local dispatcher that takes the hand-off and then dies without sending.
    let handoff = Arc::new(Handoff::new(&settings));
    let mut doomed = handoff.attach();
    let outbox = Outbox {
        media_wait: Duration::ZERO,
        local: Some(LocalDispatch {
            handoff: Arc::clone(&handoff),
            keys: Keyring::default(),
        }),
    };
    let body = whatsapp_text();
    let batch = channels::normalize(&body, chrono::Utc::now().timestamp_millis());
    let item = Accepted {
        receipt: NewReceipt {
            id: Uuid::now_v7(),
            tenant_id: tenant.id.parse().expect("tenant id"),
            url_channel: None,
            channel: batch.channel,
            received_at: chrono::Utc::now(),
            headers: json!({}),
            body,
            problem: None,
        },
        events: batch.events,
    };
    let stored = persist::write_batch(&pool, &[&item], &outbox)
        .await
        .expect("stored");
    assert_eq!(stored, vec![1]);
    drop(doomed.try_recv().expect("handed over"));

    let successor = standalone_dispatcher(&pool, &settings);
    taken_over_only_after(&successor, settings.lease).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(only_delivery(&app, &tenant).await["state"], "succeeded");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_slow_endpoint_does_not_delay_another(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.dispatch.delivery_timeout = Duration::from_secs(15);
        s.dispatch.max_in_flight = 4;
        s.dispatch.max_in_flight_per_endpoint = 2;
    })
    .await;
    let tenant = app.create_tenant().await;
    let slow = Receiver::start().await;
    slow.script((0..10).map(|_| Reply::Sleep(Duration::from_secs(10))));
    let fast = Receiver::start().await;
    let slow_endpoint = app.create_endpoint(&tenant, &slow.url, json!({})).await;
    let fast_endpoint = app.create_endpoint(&tenant, &fast.url, json!({})).await;

    for _ in 0..5 {
        app.ping(&tenant, slow_endpoint["id"].as_str().expect("endpoint id"))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        app.ping(&tenant, fast_endpoint["id"].as_str().expect("endpoint id"))
            .await;
    }

    let received = fast.wait_for(5, Duration::from_secs(5)).await;
    assert_eq!(
        received.len(),
        5,
        "the fast endpoint got everything while the slow one hung"
    );
    assert!(
        slow.received().is_empty(),
        "the slow receiver has not answered yet"
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn private_destinations_are_refused_unless_allowed(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.dispatch.allow_private_destinations = false).await;
    let tenant = app.create_tenant().await;
    for url in [
        "http://127.0.0.1/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
        "http://[::1]/",
    ] {
        let response = app
            .tenant_request(Method::POST, "/v1/endpoints", &tenant)
            .json(&json!({ "url": url }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "destination_not_allowed");
    }
    // A name is checked when it is resolved, at delivery time.
    let receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let endpoint = app.create_endpoint(&tenant, &by_name, json!({})).await;
    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;
    app.wait_for_count("SELECT count(*) FROM attempts", 1, WAIT)
        .await;
    let delivery = only_delivery(&app, &tenant).await;
    let log = attempts(&app, &tenant, delivery["id"].as_str().expect("id")).await;
    let error = log[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("private"), "{error}");
    assert!(receiver.received().is_empty());
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_failing_endpoint_is_disabled_and_resumes_when_enabled(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.dispatch.disable_after_failures = 3;
        s.dispatch.max_attempts = 20;
    })
    .await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script((0..3).map(|_| Reply::Status(500)));
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().expect("id"));
    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;

    app.wait_for_count("SELECT count(*) FROM endpoints WHERE NOT enabled", 1, WAIT)
        .await;
    let disabled = app.tenant_get(&path, &tenant).await;
    assert_eq!(disabled["enabled"], false);
    assert!(disabled["disabled_reason"]
        .as_str()
        .is_some_and(|r| r.contains("3 consecutive")));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 3, "no attempts while disabled");

    assert_eq!(
        set_enabled(&app, &tenant, &endpoint, true).await,
        StatusCode::OK
    );
    wait_for_succeeded(&app, 1).await;
    assert_eq!(receiver.received().len(), 4);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn after_rotation_both_secrets_verify_during_the_grace_period(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    let old_secret = endpoint["secret"].as_str().expect("secret").to_owned();
    let path = format!(
        "/v1/endpoints/{}/rotate-secret",
        endpoint["id"].as_str().expect("id")
    );
    let rotated: Value = app
        .tenant_request(Method::POST, &path, &tenant)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(old_secret, new_secret);
    assert!(rotated["previous_secret_valid_until"].is_string());

    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    for secret in [&old_secret, &new_secret] {
        Webhook::new(secret)
            .expect("secret")
            .verify(&received[0].body, &received[0].headers)
            .expect("verifies with either secret");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn recover_requeues_failed_deliveries_since_a_time(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.dispatch.max_attempts = 1).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(500)]);
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
        .await;
    app.wait_for_count(
        "SELECT count(*) FROM deliveries WHERE state = 'failed'",
        1,
        WAIT,
    )
    .await;

    let recovered = recover_since_2020(&app, &tenant, &endpoint).await;
    assert_eq!(recovered["queued"], 1);
    wait_for_succeeded(&app, 1).await;
    assert_eq!(receiver.received().len(), 2);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn recover_queues_every_event_an_endpoint_missed_while_disabled(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let receiver = Receiver::start().await;
    let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
    assert_eq!(
        set_enabled(&app, &tenant, &endpoint, false).await,
        StatusCode::OK
    );
    // More than one page of missed events (recover reads 500 at a time).
    let missed = 520;
    let statuses = app.burst(&tenant.id, missed).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(
        set_enabled(&app, &tenant, &endpoint, true).await,
        StatusCode::OK
    );

    let recovered = recover_since_2020(&app, &tenant, &endpoint).await;

    assert_eq!(recovered["queued"], missed);
    let expected = i64::try_from(missed).expect("count");
    wait_for_succeeded(&app, expected).await;
    assert_eq!(receiver.received().len(), missed);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn endpoints_validate_input_and_stay_within_their_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let other = app.create_tenant().await;
    let endpoint = app
        .create_endpoint(
            &tenant,
            "http://127.0.0.1:9/x",
            json!({"channels": ["whatsapp"]}),
        )
        .await;
    assert!(endpoint["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));

    let cases = [
        (json!({"url": "ftp://x"}), "invalid_url"),
        (
            json!({"url": "http://127.0.0.1/", "event_types": ["message.nope"]}),
            "invalid_event_type",
        ),
        (
            json!({"url": "http://127.0.0.1/", "channels": ["telegram"]}),
            "invalid_channel",
        ),
        (
            json!({"url": "http://127.0.0.1/", "event_types": []}),
            "invalid_event_type",
        ),
    ];
    for (body, code) in cases {
        let response = app
            .tenant_request(Method::POST, "/v1/endpoints", &tenant)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code);
    }

    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().expect("id"));
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let response = app
            .tenant_request(method.clone(), &path, &other)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{method} as another tenant"
        );
    }
    let patched: Value = app
        .tenant_request(Method::PATCH, &path, &tenant)
        .json(&json!({"channels": null, "description": "all channels now"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(patched["channels"], Value::Null);
    assert_eq!(patched["description"], "all channels now");
    let deleted = app
        .tenant_request(Method::DELETE, &path, &tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = app
        .tenant_request(Method::GET, &path, &tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn hostile_receivers_are_bounded_and_do_not_affect_others(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.dispatch.delivery_timeout = Duration::from_secs(2);
        s.dispatch.max_attempts = 1;
    })
    .await;
    let tenant = app.create_tenant().await;
    let endless = Receiver::start().await;
    endless.script([Reply::Endless]);
    let redirecting = Receiver::start().await;
    redirecting.script([Reply::Redirect("http://169.254.169.254/latest/meta-data/")]);
    let silent = Receiver::start().await;
    silent.script([Reply::Sleep(Duration::from_secs(30))]);
    let healthy = Receiver::start().await;
    for receiver in [&endless, &redirecting, &silent] {
        let endpoint = app.create_endpoint(&tenant, &receiver.url, json!({})).await;
        app.ping(&tenant, endpoint["id"].as_str().expect("endpoint id"))
            .await;
    }
    let healthy_endpoint = app.create_endpoint(&tenant, &healthy.url, json!({})).await;
    let started = std::time::Instant::now();
    app.ping(
        &tenant,
        healthy_endpoint["id"].as_str().expect("endpoint id"),
    )
    .await;

    assert_eq!(healthy.wait_for(1, WAIT).await.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the healthy endpoint waited for the others"
    );
    app.wait_for_count("SELECT count(*) FROM attempts", 4, WAIT)
        .await;
    let rows: Vec<Attempt> = sqlx::query_as(
        "SELECT a.id, a.delivery_id, a.attempt_number, a.started_at, a.duration_ms, a.status_code,
                a.response_body, a.error, a.succeeded
         FROM attempts a
         JOIN deliveries d ON d.id = a.delivery_id JOIN endpoints e ON e.id = d.endpoint_id
         ORDER BY e.created_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("attempts");
    let (endless_row, redirect_row, silent_row) = (&rows[0], &rows[1], &rows[2]);
    // The endless body: 200 and the first 4 KiB kept; reading stopped there.
    assert_eq!(endless_row.status_code, Some(200));
    assert_eq!(
        endless_row.response_body.as_deref().map(str::len),
        Some(4096)
    );
    // The redirect is not followed, and counts as a failure.
    assert_eq!(redirect_row.status_code, Some(301));
    assert!(!redirect_row.succeeded);
    // The silent one is cut off by the timeout.
    assert_eq!(silent_row.status_code, None);
    assert!(
        silent_row
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{silent_row:?}"
    );
}
