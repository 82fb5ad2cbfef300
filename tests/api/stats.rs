//! Delivery statistics for a tenant and for the operator.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app_with, TestApp, TestTenant, ADMIN_TOKEN};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

/// One tenant with two finished successes, one failure (on endpoint `failing`) and one
/// delivery waiting behind a disabled endpoint.
struct Fixture {
    app: TestApp,
    tenant: TestTenant,
    failing: String,
}

async fn endpoint_id(app: &TestApp, tenant: &TestTenant, url: &str, extra: Value) -> String {
    let endpoint = app.create_endpoint(tenant, url, extra).await;
    endpoint["id"].as_str().expect("id").to_owned()
}

async fn fixture(pool: PgPool) -> Fixture {
    let app = spawn_app_with(pool, |s| s.dispatch.max_attempts = 1).await;
    let tenant = app.create_tenant().await;
    let (ok_receiver, failing_receiver) = (Receiver::start().await, Receiver::start().await);
    failing_receiver.script([Reply::Status(500)]);
    let ok = endpoint_id(&app, &tenant, &ok_receiver.url, json!({})).await;
    let failing = endpoint_id(&app, &tenant, &failing_receiver.url, json!({})).await;
    let paused = endpoint_id(&app, &tenant, &ok_receiver.url, json!({"enabled": false})).await;
    for endpoint in [&ok, &ok, &failing, &paused] {
        app.ping(&tenant, endpoint).await;
    }
    let finished = app
        .wait_for_count(
            "SELECT count(*) FROM deliveries WHERE state <> 'pending'",
            3,
            WAIT,
        )
        .await;
    assert_eq!(finished, 3);
    Fixture {
        app,
        tenant,
        failing,
    }
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

fn counts(stats: &Value) -> [i64; 4] {
    ["pending", "succeeded", "failed", "total"]
        .map(|k| stats["deliveries"][k].as_i64().unwrap_or(-1))
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_tenant_sees_counts_rates_latency_and_backlog(pool: PgPool) {
    let Fixture {
        app,
        tenant,
        failing,
    } = fixture(pool).await;

    let (status, stats) = get(&app, "/v1/stats", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(counts(&stats), [1, 2, 1, 4]);
    let rate = stats["success_rate"].as_f64().expect("rate");
    assert!((rate - 2.0 / 3.0).abs() < 1e-9, "{rate}");
    assert_eq!(stats["latency"]["attempts"], 3);
    let p50 = stats["latency"]["p50_ms"].as_f64().expect("p50");
    let p95 = stats["latency"]["p95_ms"].as_f64().expect("p95");
    assert!(0.0 <= p50 && p50 <= p95, "{p50} {p95}");
    assert_eq!(stats["backlog"]["due"], 1);
    assert!(stats["backlog"]["oldest_due_age_seconds"]
        .as_f64()
        .is_some_and(|s| s >= 0.0));
    assert_eq!(stats["tenant_id"], json!(tenant.id));

    let (_, one) = get(
        &app,
        &format!("/v1/stats?endpoint_id={failing}"),
        &tenant.api_key,
    )
    .await;
    assert_eq!(counts(&one), [0, 0, 1, 1]);
    assert_eq!(one["success_rate"], 0.0);
    assert_eq!(one["backlog"]["due"], 0);
    assert!(one["backlog"]["oldest_due_age_seconds"].is_null());

    let window = "since=2030-01-01T00:00:00Z&until=2031-01-01T00:00:00Z";
    let (_, later) = get(&app, &format!("/v1/stats?{window}"), &tenant.api_key).await;
    assert_eq!(counts(&later), [0, 0, 0, 0]);
    assert!(later["success_rate"].is_null());
    assert!(later["latency"]["p50_ms"].is_null());
    assert_eq!(
        later["backlog"]["due"], 1,
        "the backlog is now, whatever the window"
    );
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_operator_scopes_stats_and_other_tenants_see_none_of_it(pool: PgPool) {
    let Fixture {
        app,
        tenant,
        failing,
    } = fixture(pool).await;
    let other = app.create_tenant().await;

    let (_, all) = get(&app, "/v1/admin/stats", ADMIN_TOKEN).await;
    assert_eq!(counts(&all), [1, 2, 1, 4]);
    let (_, mine) = get(
        &app,
        &format!("/v1/admin/stats?tenant_id={}", tenant.id),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(counts(&mine), [1, 2, 1, 4]);
    let (_, theirs) = get(
        &app,
        &format!("/v1/admin/stats?tenant_id={}", other.id),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(counts(&theirs), [0, 0, 0, 0]);
    let (_, endpoint) = get(
        &app,
        &format!("/v1/admin/stats?endpoint_id={failing}"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(counts(&endpoint), [0, 0, 1, 1]);
    let (_, own) = get(&app, "/v1/stats", &other.api_key).await;
    assert_eq!(counts(&own), [0, 0, 0, 0]);

    let unknown = uuid::Uuid::now_v7();
    let not_found = [
        (
            format!("/v1/stats?endpoint_id={failing}"),
            other.api_key.as_str(),
        ),
        (
            format!("/v1/stats?endpoint_id={unknown}"),
            tenant.api_key.as_str(),
        ),
        (format!("/v1/admin/stats?tenant_id={unknown}"), ADMIN_TOKEN),
        (
            format!("/v1/admin/stats?endpoint_id={unknown}"),
            ADMIN_TOKEN,
        ),
        (
            format!(
                "/v1/admin/stats?tenant_id={}&endpoint_id={failing}",
                other.id
            ),
            ADMIN_TOKEN,
        ),
    ];
    for (path, token) in not_found {
        let (status, error) = get(&app, &path, token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["error"]["code"], "not_found", "{path}");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn stats_check_credentials_and_windows(pool: PgPool) {
    let Fixture { app, tenant, .. } = fixture(pool).await;
    let unauthorized = [
        ("/v1/stats", ADMIN_TOKEN),
        ("/v1/stats", "wrong"),
        ("/v1/admin/stats", tenant.api_key.as_str()),
        ("/v1/admin/stats", "wrong"),
    ];
    for (path, token) in unauthorized {
        let (status, error) = get(&app, path, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token}");
        assert_eq!(error["error"]["code"], "unauthorized");
    }
    let invalid = [
        (
            "since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_range",
        ),
        (
            "since=2030-01-01T00:00:00Z&until=2030-01-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_range",
        ),
        (
            "since=1900-01-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_range",
        ),
        (
            "until=1969-12-31T23:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_range",
        ),
        ("endpoint_id=nope", StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (query, status, code) in invalid {
        for (path, token) in [
            ("/v1/stats", tenant.api_key.as_str()),
            ("/v1/admin/stats", ADMIN_TOKEN),
        ] {
            let (got, error) = get(&app, &format!("{path}?{query}"), token).await;
            assert_eq!(got, status, "{path}?{query}");
            assert_eq!(error["error"]["code"], code, "{path}?{query}");
        }
    }
}
