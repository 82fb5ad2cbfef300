//! `switchboard simulate`: sends realistic, correctly signed Meta webhooks to a gateway, so
//! an operator can try a deployment end to end without a Meta app.
//!
//! Bodies are real fixtures (see [`samples`]) made unique per send (see [`fresh`]), signed
//! with `X-Hub-Signature-256` over the exact bytes sent, and POSTed to the per-channel
//! callback URL of the tenant.

pub mod fresh;
pub mod samples;

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::channels;
use crate::config::SimulateArgs;
use crate::signature;

/// What Meta sends as `User-Agent`, so the receipt looks like a real one.
const META_USER_AGENT: &str = "facebookexternalua";

/// The `--list` text: one line per sample with what the gateway makes of it.
pub fn catalogue() -> String {
    let now = Utc::now().timestamp_millis();
    samples::SAMPLES
        .iter()
        .map(|sample| {
            let yields: Vec<String> = channels::normalize(sample.body.as_bytes(), now)
                .events
                .iter()
                .map(|n| match n.event.kind {
                    Some(kind) => format!("{}/{}", n.event.event_type.as_str(), json_name(kind)),
                    None => n.event.event_type.as_str().to_owned(),
                })
                .collect();
            format!(
                "{:<10} {:<16} {:<34} {}\n",
                sample.channel.as_str(),
                sample.kind,
                yields.join(", "),
                sample.fixture
            )
        })
        .collect()
}

/// The wire name of an enum value (`story_mention`), as tenants see it.
fn json_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Sends the sample `args` names `--count` times, printing one line per webhook with the
/// HTTP status; returns how many were not answered 2xx.
pub async fn run(args: &SimulateArgs) -> anyhow::Result<u32> {
    let (Some(channel), Some(kind), Some(tenant), Some(secret)) =
        (args.channel, &args.kind, args.tenant, &args.secret)
    else {
        anyhow::bail!("CHANNEL, KIND, --tenant and --secret are required (or use --list)");
    };
    let sample = samples::find(channel, kind).with_context(|| {
        format!(
            "no sample {kind:?} on {channel}; try one of: {}",
            samples::kinds_of(channel).join(", ")
        )
    })?;
    let url = format!(
        "{}/hooks/{tenant}/{channel}",
        args.url.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut failures = 0;
    let mut clock = 0;
    for n in 1..=args.count {
        // Strictly increasing milliseconds: every body is a distinct occurrence.
        clock = Utc::now().timestamp_millis().max(clock + 1);
        let body = fresh::fresh_body(sample.body, clock)?;
        let signed = signature::meta_signature_header(secret.as_bytes(), &body);
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .header("user-agent", META_USER_AGENT)
            .header(signature::META_SIGNATURE_HEADER, signed)
            .body(body)
            .send()
            .await;
        let outcome = match sent {
            Ok(response) if response.status().is_success() => response.status().to_string(),
            Ok(response) => {
                failures += 1;
                response.status().to_string()
            }
            Err(err) => {
                failures += 1;
                format!("error: {err}")
            }
        };
        println!("{n}/{} {channel} {kind} → {outcome}", args.count);
    }
    Ok(failures)
}
