//! `simulate` → gateway → `listen`: both tools run as real processes around a real gateway,
//! the listener behind an endpoint of the tenant.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{spawn_app, TestApp, TestTenant, APP_SECRET};

const WAIT: Duration = Duration::from_secs(15);

/// Lines a child process printed, collected as they come.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn collect(&self, from: impl AsyncRead + Unpin + Send + 'static) {
        let lines = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(from).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.0.lock().expect("lock").push(line);
            }
        });
    }

    /// Waits (bounded) until `n` lines match `pattern`, and returns those that do.
    async fn wait_for(&self, n: usize, pattern: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let matching: Vec<String> = self
                .0
                .lock()
                .expect("lock")
                .iter()
                .filter(|l| l.contains(pattern))
                .cloned()
                .collect();
            if matching.len() >= n || Instant::now() >= deadline {
                return matching;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running `switchboard listen` on a free port.
struct Listener {
    url: String,
    stdout: Lines,
    stderr: Lines,
    _child: Child,
}

async fn listen(secret: &str) -> Listener {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["listen", "--port", "0", "--secret", secret])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run switchboard listen");
    let (stdout, stderr) = (Lines::default(), Lines::default());
    stdout.collect(child.stdout.take().expect("stdout"));
    stderr.collect(child.stderr.take().expect("stderr"));
    let banner = stdout.wait_for(1, "listening on ").await;
    let url = banner
        .first()
        .and_then(|line| line.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no address printed: {banner:?}"))
        .to_owned();
    Listener {
        url,
        stdout,
        stderr,
        _child: child,
    }
}

/// An endpoint of `tenant` pointing at a listener that knows its secret.
async fn listener_behind_endpoint(app: &TestApp, tenant: &TestTenant) -> (Listener, Value) {
    let endpoint = app
        .create_endpoint(tenant, "http://127.0.0.1:9/not-yet", json!({}))
        .await;
    let listener = listen(endpoint["secret"].as_str().expect("secret")).await;
    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().expect("id"));
    app.tenant_request(reqwest::Method::PATCH, &path, tenant)
        .json(&json!({ "url": listener.url }))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("endpoint moved to the listener");
    (listener, endpoint)
}

async fn simulate(app: &TestApp, tenant: &TestTenant, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("simulate")
        .args(args)
        .args(["--tenant", &tenant.id, "--secret", APP_SECRET])
        .args(["--url", &app.url("")])
        .output()
        .await
        .expect("run switchboard simulate")
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn simulated_webhooks_of_every_channel_reach_the_listener_verified(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let (listener, _) = listener_behind_endpoint(&app, &tenant).await;

    for (channel, count) in [("whatsapp", "2"), ("messenger", "1"), ("instagram", "1")] {
        let output = simulate(&app, &tenant, &[channel, "text", "--count", count]).await;
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{channel}: {printed}");
        assert_eq!(
            printed.matches("→ 200 OK").count().to_string(),
            count,
            "{printed}"
        );
    }

    for (channel, expected) in [("whatsapp", 2), ("messenger", 1), ("instagram", 1)] {
        let pattern = format!(" message.received {channel} ");
        let lines = listener.stdout.wait_for(expected, &pattern).await;
        assert_eq!(lines.len(), expected, "{channel}: {lines:?}");
        assert!(lines.iter().all(|l| l.contains(" text \"")), "{lines:?}");
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(events, 4, "--count 2 must store two distinct events");
    assert!(listener.stderr.wait_for(0, "REFUSED").await.is_empty());
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn a_listener_with_another_secret_refuses_loudly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let tenant = app.create_tenant().await;
    let (listener, endpoint) = listener_behind_endpoint(&app, &tenant).await;
    let path = format!(
        "/v1/endpoints/{}/rotate-secret",
        endpoint["id"].as_str().expect("id")
    );
    app.tenant_request(reqwest::Method::POST, &path, &tenant)
        .send()
        .await
        .expect("request");
    // Only the new secret signs once the grace period is over; here it is zero.
    sqlx::query("UPDATE endpoints SET previous_secret_expires_at = now()")
        .execute(&app.pool)
        .await
        .expect("end the grace period");

    let output = simulate(&app, &tenant, &["messenger", "reaction"]).await;

    assert!(output.status.success());
    let refused = listener.stderr.wait_for(1, "REFUSED").await;
    assert!(
        refused
            .iter()
            .any(|l| l.contains("signature does not match")),
        "{refused:?}"
    );
    let refusals = app
        .wait_for_count(
            "SELECT count(*) FROM attempts WHERE status_code = 401",
            1,
            WAIT,
        )
        .await;
    assert!(refusals >= 1, "the gateway logs the 401 and retries");
}

#[test]
fn list_names_every_channel_and_what_each_kind_yields() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["simulate", "--list"])
        .output()
        .expect("run switchboard simulate --list");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for line in [
        "whatsapp   status-read      message.status",
        "messenger  postback         postback",
        "instagram  story-mention    message.received/story_mention",
    ] {
        assert!(printed.contains(line), "missing {line:?} in\n{printed}");
    }
}
