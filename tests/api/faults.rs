//! Fault tests: what the gateway survives, with figures printed as result lines.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;
use switchboard::signature::meta_signature_header;

use crate::helpers::{
    database_url, spawn_app_with, whatsapp_text, ADMIN_TOKEN, APP_SECRET, VERIFY_TOKEN,
};
use crate::receiver::Receiver;

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts the real binary as a separate process, as an operator would.
fn start_gateway(database_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--admin-token", ADMIN_TOKEN, "--allow-private-destinations"])
        .args([
            "--retry-initial",
            "100ms",
            "--retry-max-delay",
            "500ms",
            "--delivery-lease",
            "2s",
        ])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gateway")
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Crash: a sender posts signed webhooks and retries every non-200, as Meta does; the
/// gateway is killed with SIGKILL mid-burst and restarted. Every acknowledged webhook must
/// be stored exactly once and reach the receiver at least once.
#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn kill_9_mid_burst_loses_no_acknowledged_webhook(pool: PgPool) {
    const SENT: usize = 300;
    let url = database_url(&pool).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut gateway = start_gateway(&url, port);
    wait_healthy(&client, &base).await;
    let tenant: Value = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "crash", "verify_token": VERIFY_TOKEN, "app_secret": APP_SECRET}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    let receiver = Receiver::start().await;
    client
        .post(format!("{base}/v1/endpoints"))
        .bearer_auth(tenant["api_key"].as_str().expect("key"))
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("endpoint");

    let text = String::from_utf8(whatsapp_text()).expect("utf-8");
    let mut acknowledged = HashSet::new();
    let mut attempts = 0;
    let mut killed = false;
    for i in 0..SENT {
        let message_id = format!("wamid.crash{i}");
        let body = text.replace(
            "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
            &message_id,
        );
        let signature = meta_signature_header(APP_SECRET.as_bytes(), body.as_bytes());
        loop {
            attempts += 1;
            let answer = client
                .post(format!("{base}/hooks/{tenant_id}"))
                .header("x-hub-signature-256", &signature)
                .body(body.clone())
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                acknowledged.insert(message_id.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if gateway.try_wait().ok().flatten().is_some() {
                gateway = start_gateway(&url, port);
            }
        }
        if i == SENT / 3 && !killed {
            gateway.kill().expect("SIGKILL");
            gateway.wait().expect("reaped");
            killed = true;
        }
    }

    // Delivery is at least once: a delivery in flight at the kill is made again, so count
    // distinct message ids, not requests, until every acknowledged one has arrived.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (delivered_set, requests) = loop {
        let received = receiver.received();
        let set: HashSet<String> = received
            .iter()
            .filter_map(|r| r.json()["message_id"].as_str().map(str::to_owned))
            .collect();
        if set.is_superset(&acknowledged) || Instant::now() >= deadline {
            break (set, received.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = gateway.kill();
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'message_id' FROM events WHERE event_type = 'message.received'",
    )
    .fetch_all(&pool)
    .await
    .expect("events");
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    let lost = acknowledged.difference(&stored_set).count();
    let undelivered = acknowledged.difference(&delivered_set).count();
    let duplicated = stored.len() - stored_set.len();
    println!(
        "crash: sent {SENT} ({attempts} attempts), acknowledged {}, stored {}, delivered {} ({requests} requests), lost {lost}, undelivered {undelivered}, duplicated events {duplicated}",
        acknowledged.len(),
        stored_set.len(),
        delivered_set.len()
    );
    assert_eq!(acknowledged.len(), SENT);
    assert_eq!(lost, 0);
    assert_eq!(undelivered, 0);
    assert_eq!(duplicated, 0);
}

/// Receiver outage: the endpoint refuses connections for two seconds, then comes back.
/// Every event must arrive, and no retry may come earlier than the schedule says.
#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn receiver_outage_then_recovery_delivers_everything_on_schedule(pool: PgPool) {
    const EVENTS: usize = 20;
    let initial = Duration::from_millis(100);
    let app = spawn_app_with(pool, |s| {
        s.dispatch.retry_initial = initial;
        s.dispatch.retry_factor = 2.0;
        s.dispatch.retry_max_delay = Duration::from_secs(2);
        s.dispatch.max_attempts = 30;
    })
    .await;
    let tenant = app.create_tenant().await;
    let port = free_port();
    let endpoint = app
        .create_endpoint(&tenant, &format!("http://127.0.0.1:{port}/hook"), json!({}))
        .await;
    for _ in 0..EVENTS {
        app.ping(&tenant, endpoint["id"].as_str().expect("id"))
            .await;
    }

    let down = Duration::from_secs(2);
    tokio::time::sleep(down).await;
    let back = Instant::now();
    let receiver = Receiver::start_on(port).await;
    let deadline = back + Duration::from_secs(30);
    let (ids, requests) = loop {
        let received = receiver.received();
        let ids: HashSet<String> = received.iter().map(|r| r.header("webhook-id")).collect();
        if ids.len() >= EVENTS || Instant::now() >= deadline {
            break (ids, received.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovered_in = back.elapsed();

    // Gaps between consecutive attempts of each delivery, against the schedule's minimum
    // (initial × 2^(n-1), capped at the maximum delay).
    let starts: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT delivery_id, started_at FROM attempts ORDER BY delivery_id, attempt_number",
    )
    .fetch_all(&app.pool)
    .await
    .expect("attempts");
    let mut early = 0;
    let mut retries = 0;
    for pair in starts.windows(2) {
        let ((d1, t1), (d2, t2)) = (pair[0], pair[1]);
        if d1 != d2 {
            continue;
        }
        let n = starts.iter().filter(|(d, t)| *d == d1 && *t <= t1).count();
        let minimum =
            (initial * 2u32.pow(u32::try_from(n - 1).unwrap_or(0))).min(Duration::from_secs(2));
        let gap = (t2 - t1).to_std().unwrap_or_default();
        retries += 1;
        // 5 ms of slack for clock granularity between two rows' timestamps.
        if gap + Duration::from_millis(5) < minimum {
            early += 1;
        }
    }
    println!(
        "receiver-outage: events {EVENTS}, delivered {} ({requests} requests), attempts {}, retries {retries}, early retries {early}, down {:.1} s, all delivered {:.1} s after the receiver returned",
        ids.len(),
        starts.len(),
        down.as_secs_f64(),
        recovered_in.as_secs_f64()
    );
    assert_eq!(
        ids.len(),
        EVENTS,
        "every event arrives once the receiver is back"
    );
    assert!(retries > 0, "the outage must have caused retries");
    assert_eq!(early, 0, "no retry came earlier than the schedule");
}
