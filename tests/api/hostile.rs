//! Hostile input on the public `/hooks` URLs: correct status codes, no panic, nothing
//! stored unless signed.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, APP_SECRET};

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_slow_drip_body_is_cut_off_with_408_and_not_stored(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.body_read_timeout = Duration::from_millis(300)).await;
    let tenant = app.create_tenant().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /hooks/{} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-hub-signature-256: sha256={}\r\ncontent-length: 100\r\n\r\n{{\"obj",
        tenant.id,
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered before the client finished")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.receipt_count().await, 0);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn signed_garbage_is_stored_flagged_never_a_panic(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge_array = format!(
        "{{\"object\":\"page\",\"entry\":[{}]}}",
        vec!["{\"id\":\"1\",\"messaging\":[]}"; 20_000].join(",")
    );
    let bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, 0x80, b'{'],
        nested.into_bytes(),
        br#"{"object":"whatsapp_business_account","entry":"nope"}"#.to_vec(),
        br#"{"object":"instagram","entry":[{"changes":[{"field":"comments","value":7}]}]}"#
            .to_vec(),
        huge_array.into_bytes(),
    ];
    for body in &bodies {
        let response = app.post_signed(&tenant.id, body, APP_SECRET).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.receipt_count().await, 5);
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("still up");
    assert_eq!(health.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn header_floods_and_bad_signature_encodings_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let mut flood = app.client.post(app.url(&format!("/hooks/{}", tenant.id)));
    for i in 0..500 {
        flood = flood.header(format!("x-flood-{i}"), "x".repeat(64));
    }
    let flooded = flood.body("{}").send().await;
    assert!(
        flooded.is_err() || flooded.is_ok_and(|r| r.status().is_client_error()),
        "a header flood must be refused"
    );
    for header in [
        "sha256=",
        "sha256=ZZ",
        "sha256=abc",
        "SHA256 abc",
        "sha256=é",
        &"f".repeat(5000),
    ] {
        let response = app.post_hook(&tenant.id, b"{}", Some(header)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{header:.20}");
    }
    assert_eq!(app.receipt_count().await, 0);
}
