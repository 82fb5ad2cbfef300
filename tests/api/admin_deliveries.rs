//! The operator's delivery log across tenants, with filters and attempt detail.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app_with, TestApp, TestTenant};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

/// Two tenants, one ping each: `ok`'s delivery succeeds with 200, `gone`'s fails with 410.
struct Log {
    app: TestApp,
    ok: TestTenant,
    gone: TestTenant,
    gone_endpoint: String,
}

async fn two_tenants_with_finished_deliveries(pool: PgPool) -> Log {
    let app = spawn_app_with(pool, |s| s.dispatch.max_attempts = 1).await;
    let (ok, gone) = (app.create_tenant().await, app.create_tenant().await);
    let (ok_receiver, gone_receiver) = (Receiver::start().await, Receiver::start().await);
    gone_receiver.script([Reply::Status(410)]);
    let ok_endpoint = app.create_endpoint(&ok, &ok_receiver.url, json!({})).await;
    let gone_endpoint = app
        .create_endpoint(&gone, &gone_receiver.url, json!({}))
        .await;
    app.ping(&ok, ok_endpoint["id"].as_str().expect("endpoint id"))
        .await;
    app.ping(&gone, gone_endpoint["id"].as_str().expect("endpoint id"))
        .await;
    let finished = app
        .wait_for_count(
            "SELECT count(*) FROM deliveries WHERE state <> 'pending'",
            2,
            WAIT,
        )
        .await;
    assert_eq!(finished, 2);
    Log {
        app,
        ok,
        gone,
        gone_endpoint: gone_endpoint["id"].as_str().expect("id").to_owned(),
    }
}

async fn admin_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app
        .admin_request(Method::GET, path)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

/// The tenant ids of a page's items, in order.
async fn tenants_listed(app: &TestApp, query: &str) -> Vec<String> {
    let (status, page) = admin_get(app, &format!("/v1/admin/deliveries?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["tenant_id"].as_str().expect("tenant_id").to_owned())
        .collect()
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_operator_sees_every_tenant_and_filters_the_log(pool: PgPool) {
    let Log {
        app,
        ok,
        gone,
        gone_endpoint,
    } = two_tenants_with_finished_deliveries(pool).await;
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), vec![&ok.id, &gone.id]),
        (format!("tenant_id={}", ok.id), vec![&ok.id]),
        (format!("endpoint_id={gone_endpoint}"), vec![&gone.id]),
        ("state=failed".to_owned(), vec![&gone.id]),
        ("state=succeeded".to_owned(), vec![&ok.id]),
        ("last_status=410".to_owned(), vec![&gone.id]),
        ("last_status=200".to_owned(), vec![&ok.id]),
        (format!("tenant_id={}&state=failed", ok.id), vec![]),
        (
            "since=2020-01-01T00:00:00Z".to_owned(),
            vec![&ok.id, &gone.id],
        ),
        (format!("since={}", urlencode(&future)), vec![]),
        ("until=2020-01-01T00:00:00Z".to_owned(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(tenants_listed(&app, &query).await, expected, "{query}");
    }

    let (_, first) = admin_get(&app, "/v1/admin/deliveries?limit=1").await;
    let cursor = first["next"].as_str().expect("a second page");
    let second = tenants_listed(&app, &format!("limit=1&after={cursor}")).await;
    assert_eq!(second, vec![gone.id]);
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_operator_reads_any_delivery_and_its_attempts(pool: PgPool) {
    let Log { app, gone, .. } = two_tenants_with_finished_deliveries(pool).await;
    let (_, page) = admin_get(&app, "/v1/admin/deliveries?state=failed").await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();

    let (status, delivery) = admin_get(&app, &format!("/v1/admin/deliveries/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(delivery["tenant_id"], json!(gone.id));
    assert_eq!(delivery["last_status"], 410);
    let (status, attempts) = admin_get(&app, &format!("/v1/admin/deliveries/{id}/attempts")).await;
    assert_eq!(status, StatusCode::OK);
    let attempts = attempts.as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 410);
    assert_eq!(attempts[0]["succeeded"], false);

    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/v1/admin/deliveries/{unknown}"),
        format!("/v1/admin/deliveries/{unknown}/attempts"),
    ] {
        let (status, error) = admin_get(&app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["error"]["code"], "not_found");
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn the_operator_log_refuses_tenant_keys_and_missing_tokens(pool: PgPool) {
    let Log { app, ok, .. } = two_tenants_with_finished_deliveries(pool).await;
    let (_, page) = admin_get(&app, "/v1/admin/deliveries").await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    for path in [
        "/v1/admin/deliveries".to_owned(),
        format!("/v1/admin/deliveries/{id}"),
        format!("/v1/admin/deliveries/{id}/attempts"),
    ] {
        for key in [None, Some(ok.api_key.as_str())] {
            let mut request = app.client.get(app.url(&path));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {key:?}"
            );
        }
    }
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn bad_log_filters_get_stable_codes(pool: PgPool) {
    let Log { app, ok, .. } = two_tenants_with_finished_deliveries(pool).await;
    let cases = [
        (
            "state=lost",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_state",
        ),
        (
            "last_status=99",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status",
        ),
        (
            "last_status=600",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status",
        ),
        (
            "since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_range",
        ),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"),
        ("tenant_id=nope", StatusCode::BAD_REQUEST, "bad_request"),
        ("since=yesterday", StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (query, status, code) in cases {
        let (got, error) = admin_get(&app, &format!("/v1/admin/deliveries?{query}")).await;
        assert_eq!(got, status, "{query}");
        assert_eq!(error["error"]["code"], code, "{query}");
        let response = app
            .tenant_request(Method::GET, &format!("/v1/deliveries?{query}"), &ok)
            .send()
            .await
            .expect("request");
        if query.starts_with("tenant_id") {
            continue; // not a parameter of the tenant route
        }
        assert_eq!(response.status(), status, "tenant route: {query}");
    }
    let (_, page) = admin_get(&app, "/v1/admin/deliveries?last_status=200").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
}
