//! Keyset pagination under concurrent inserts: every row that existed before paging began
//! is seen exactly once, and no row is ever repeated, however many arrive meanwhile.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::helpers::{spawn_app, TestApp, TestTenant};

const BEFORE: usize = 30;
const PAGE: &str = "7";

/// Ids of one list, page by page, with how often each was seen.
async fn page_through(app: &TestApp, tenant: &TestTenant, path: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let mut request = app
            .tenant_request(Method::GET, path, tenant)
            .query(&[("limit", PAGE)]);
        if let Some(cursor) = &after {
            request = request.query(&[("after", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        for item in page["items"].as_array().expect("items") {
            *seen
                .entry(item["id"].as_str().expect("id").to_owned())
                .or_default() += 1;
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return seen,
        }
        tokio::task::yield_now().await;
    }
    panic!("{path}: pagination did not end");
}

async fn ids(app: &TestApp, tenant: &TestTenant, path: &str) -> Vec<String> {
    let page = app.tenant_get(&format!("{path}?limit=500"), tenant).await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn paging_while_rows_are_inserted_loses_and_repeats_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    // Disabled, so deliveries stay put and only the inserts below change the lists.
    let endpoint = app
        .create_endpoint(
            &tenant,
            "http://127.0.0.1:9/never",
            json!({"enabled": false}),
        )
        .await;
    let endpoint = endpoint["id"].as_str().expect("id").to_owned();
    for _ in 0..BEFORE {
        app.ping(&tenant, &endpoint).await;
    }
    let events_before = ids(&app, &tenant, "/v1/events").await;
    let deliveries_before = ids(&app, &tenant, "/v1/deliveries").await;
    assert_eq!(
        (events_before.len(), deliveries_before.len()),
        (BEFORE, BEFORE)
    );

    let stop = CancellationToken::new();
    let app = std::sync::Arc::new(app);
    let inserter = {
        let (app, tenant, endpoint, stop) = (
            std::sync::Arc::clone(&app),
            tenant.clone(),
            endpoint.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut inserted = 0;
            while !stop.is_cancelled() && inserted < 200 {
                app.ping(&tenant, &endpoint).await;
                inserted += 1;
            }
            inserted
        })
    };
    let events = page_through(&app, &tenant, "/v1/events").await;
    let deliveries = page_through(&app, &tenant, "/v1/deliveries").await;
    stop.cancel();
    let inserted = inserter.await.expect("inserter");
    assert!(inserted > 0, "rows were inserted while paging");

    for (name, seen, before) in [
        ("events", &events, &events_before),
        ("deliveries", &deliveries, &deliveries_before),
    ] {
        let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "{name} repeated: {repeated:?}");
        let lost: Vec<_> = before.iter().filter(|id| !seen.contains_key(*id)).collect();
        assert!(lost.is_empty(), "{name} lost: {lost:?}");
    }
}
