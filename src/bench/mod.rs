//! `switchboard bench`: a load harness against a running gateway, all on loopback.
//!
//! It creates a tenant and an endpoint pointing at a built-in receiving sink, sends
//! correctly signed webhooks (a realistic mix of fixture bodies, each made unique) with N
//! concurrent connections or at a target rate, for a fixed count, then waits (bounded) for
//! the deliveries and prints one summary: acknowledged webhooks per second, acknowledgement
//! latency, deliveries per second, end-to-end latency (sent → received by the sink), errors
//! and the gateway's peak RSS.

mod sink;
mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use serde_json::{json, Value};

use crate::channels;
use crate::config::BenchArgs;
use crate::event::Channel;
use crate::signature;
use crate::simulate::{fresh, samples};
use stats::Percentiles;

/// The traffic mix: mostly WhatsApp texts and statuses, some media, Messenger and Instagram.
const MIX: [(Channel, &str, u32); 7] = [
    (Channel::Whatsapp, "text", 45),
    (Channel::Whatsapp, "status-delivered", 15),
    (Channel::Whatsapp, "status-read", 10),
    (Channel::Whatsapp, "image", 10),
    (Channel::Whatsapp, "reply", 5),
    (Channel::Messenger, "text", 8),
    (Channel::Instagram, "text", 7),
];

/// One prepared webhook: the exact bytes, their signature, and the message ids the sink
/// will see, so end-to-end latency can be matched.
struct Prepared {
    url: String,
    body: Vec<u8>,
    signature: String,
    message_ids: Vec<String>,
}

/// Runs the harness and prints its summary.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    let sink = sink::Sink::start().await?;
    let app_secret = crate::tokens::random_urlsafe(24);
    let (tenant_id, api_key) =
        create_tenant(&client, &base, &args.admin_token, &app_secret).await?;
    create_endpoint(&client, &base, &api_key, &sink.url).await?;

    let prepared = prepare(&base, &tenant_id, &app_secret, args.count)?;
    let expected_events: usize = prepared.iter().map(|p| p.message_ids.len()).sum();
    eprintln!(
        "bench: {} webhooks ({expected_events} events), concurrency {}, rate {}",
        prepared.len(),
        args.concurrency,
        if args.rate == 0 {
            "max".to_owned()
        } else {
            format!("{}/s", args.rate)
        }
    );
    let sent = send_all(&client, prepared, args.concurrency, args.rate).await;
    let received = sink
        .wait_for(
            expected_events,
            Duration::from_secs(args.drain_timeout_secs),
        )
        .await;
    report(args, &sent, &received, expected_events);
    Ok(())
}

async fn create_tenant(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    app_secret: &str,
) -> anyhow::Result<(String, String)> {
    let created: Value = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(admin_token)
        .json(&json!({"name": "bench", "verify_token": "bench", "app_secret": app_secret}))
        .send()
        .await?
        .error_for_status()
        .context("creating the bench tenant (is --admin-token the gateway's?)")?
        .json()
        .await?;
    let id = created["id"].as_str().context("tenant id")?.to_owned();
    let key = created["api_key"].as_str().context("api key")?.to_owned();
    Ok((id, key))
}

async fn create_endpoint(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    url: &str,
) -> anyhow::Result<()> {
    client
        .post(format!("{base}/v1/endpoints"))
        .bearer_auth(api_key)
        .json(&json!({"url": url, "description": "bench sink"}))
        .send()
        .await?
        .error_for_status()
        .context("registering the sink (start the gateway with --allow-private-destinations)")?;
    Ok(())
}

/// Builds every body before the clock starts, so the harness measures the gateway.
fn prepare(
    base: &str,
    tenant_id: &str,
    app_secret: &str,
    count: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let total_weight: u32 = MIX.iter().map(|(_, _, w)| w).sum();
    let mut now_ms = Utc::now().timestamp_millis();
    let mut prepared = Vec::with_capacity(count);
    for i in 0..count {
        let slot = u32::try_from(i).unwrap_or(u32::MAX) % total_weight;
        let (channel, kind) = pick(slot);
        let Some(sample) = samples::find(channel, kind) else {
            bail!("no sample {kind} on {channel}");
        };
        now_ms += 1;
        let body = fresh::fresh_body(sample.body, now_ms)?;
        let message_ids = channels::normalize(&body, now_ms)
            .events
            .into_iter()
            .filter_map(|n| n.event.message_id)
            .collect();
        prepared.push(Prepared {
            url: format!("{base}/hooks/{tenant_id}/{channel}"),
            signature: signature::meta_signature_header(app_secret.as_bytes(), &body),
            body,
            message_ids,
        });
    }
    Ok(prepared)
}

/// The mix entry for a slot in `0..total_weight`.
fn pick(mut slot: u32) -> (Channel, &'static str) {
    for (channel, kind, weight) in MIX {
        if slot < weight {
            return (channel, kind);
        }
        slot -= weight;
    }
    (Channel::Whatsapp, "text")
}

/// What the sender observed.
struct Sent {
    started: Instant,
    finished: Instant,
    ack_latencies: Vec<Duration>,
    errors: usize,
    /// Send instant per message id, for end-to-end latency.
    sent_at: HashMap<String, Instant>,
}

async fn send_all(
    client: &reqwest::Client,
    prepared: Vec<Prepared>,
    concurrency: usize,
    rate: u64,
) -> Sent {
    let prepared = Arc::new(prepared);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, prepared, next) = (client.clone(), Arc::clone(&prepared), Arc::clone(&next));
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut sent_at = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = prepared.get(i) else { break };
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let t0 = Instant::now();
                let response = client
                    .post(&item.url)
                    .header("content-type", "application/json")
                    .header(signature::META_SIGNATURE_HEADER, &item.signature)
                    .body(item.body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        latencies.push(t0.elapsed());
                        sent_at.extend(item.message_ids.iter().map(|id| (id.clone(), t0)));
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors, sent_at)
        });
    }
    let mut sent = Sent {
        started,
        finished: started,
        ack_latencies: Vec::new(),
        errors: 0,
        sent_at: HashMap::new(),
    };
    while let Some(Ok((latencies, errors, sent_at))) = workers.join_next().await {
        sent.ack_latencies.extend(latencies);
        sent.errors += errors;
        sent.sent_at.extend(sent_at);
    }
    sent.finished = Instant::now();
    sent
}

fn report(args: &BenchArgs, sent: &Sent, received: &[(String, Instant)], expected_events: usize) {
    let send_secs = (sent.finished - sent.started).as_secs_f64().max(1e-9);
    let acked = sent.ack_latencies.len();
    let ack = Percentiles::of(&sent.ack_latencies);
    let e2e: Vec<Duration> = received
        .iter()
        .filter_map(|(id, at)| {
            sent.sent_at
                .get(id)
                .map(|t0| at.saturating_duration_since(*t0))
        })
        .collect();
    let e2e = Percentiles::of(&e2e);
    let delivery_secs = received
        .iter()
        .map(|(_, at)| *at)
        .max()
        .map_or(0.0, |last| (last - sent.started).as_secs_f64());
    let deliveries_per_sec = if delivery_secs > 0.0 {
        received.len() as f64 / delivery_secs
    } else {
        0.0
    };
    let rss = args.gateway_pid.and_then(peak_rss_mb);
    println!(
        "bench {label}: acked {acked}/{total} webhooks in {send_secs:.2}s = {rate:.0}/s | ack p50 {a50:.1} ms p95 {a95:.1} ms p99 {a99:.1} ms | delivered {got}/{expected_events} events = {dps:.0}/s | e2e p50 {e50:.1} ms p99 {e99:.1} ms | errors {errors} | gateway peak RSS {rss}",
        label = args.label,
        total = acked + sent.errors,
        rate = acked as f64 / send_secs,
        a50 = ack.p50,
        a95 = ack.p95,
        a99 = ack.p99,
        got = received.len(),
        dps = deliveries_per_sec,
        e50 = e2e.p50,
        e99 = e2e.p99,
        errors = sent.errors,
        rss = rss.map_or("n/a".to_owned(), |mb| format!("{mb:.0} MB")),
    );
}

/// `VmHWM` (peak resident set) of a process, in MB, from /proc.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
