//! Every HTTP answer carries a request id: the caller's when sane, else a fresh one; ingest
//! stores it with the receipt so a log line and a receipt can be matched.

use reqwest::StatusCode;
use sqlx::PgPool;
use switchboard::signature::meta_signature_header;

use crate::helpers::{spawn_app, whatsapp_text, APP_SECRET};

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_sane_caller_id_is_echoed_and_stored_with_the_receipt(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let body = whatsapp_text();

    let response = app
        .client
        .post(app.url(&format!("/hooks/{}", tenant.id)))
        .header("x-request-id", "lb-7f3a:1")
        .header(
            "x-hub-signature-256",
            meta_signature_header(APP_SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .expect("request");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a:1");
    let stored: String = sqlx::query_scalar("SELECT headers->>'x-request-id' FROM receipts")
        .fetch_one(&app.pool)
        .await
        .expect("receipt");
    assert_eq!(stored, "lb-7f3a:1");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn missing_or_odd_ids_are_replaced_by_fresh_ones_even_on_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut seen = Vec::new();
    for (path, sent) in [
        ("/healthz", None),
        ("/healthz", Some("has spaces in it")),
        ("/no/such/route", Some(&*"x".repeat(500))),
    ] {
        let mut request = app.client.get(app.url(path));
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        let response = request.send().await.expect("request");
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{path}: {id}");
        seen.push(id);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "ids must differ: {seen:?}");
}
