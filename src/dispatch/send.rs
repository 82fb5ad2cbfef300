//! One HTTP attempt: a signed POST of the event to the endpoint, with a time limit, no
//! redirects, and at most the first 4 KiB of the answer kept for the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use crate::config::DispatchArgs;
use crate::dispatch::destination::{check_url, GuardedResolver};
use crate::dispatch::schedule::parse_retry_after;
use crate::signature::standard_webhooks_header;
use crate::store::deliveries::{AttemptRecord, Claimed};

/// How much of a response body is kept in the attempt log.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// What an attempt produced, plus the receiver's `Retry-After` if it sent one.
#[derive(Debug, Clone)]
pub struct Sent {
    pub record: AttemptRecord,
    pub retry_after: Option<Duration>,
}

/// What came back from the receiver, as far as it got.
#[derive(Debug, Default)]
struct Answer {
    status_code: Option<i32>,
    response_body: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

/// The HTTP side of the dispatcher; one keep-alive connection pool shared by all endpoints.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    /// A client that never follows redirects and resolves names through the SSRF guard.
    pub fn new(settings: &DispatchArgs) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.delivery_timeout)
            .connect_timeout(settings.delivery_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private_destinations,
            }))
            .no_proxy()
            .pool_max_idle_per_host(settings.max_in_flight_per_endpoint.max(1))
            .build()?;
        Ok(Sender {
            client,
            allow_private: settings.allow_private_destinations,
        })
    }

    /// Sends one attempt and reports what happened; never fails, errors are part of the record.
    pub async fn send(&self, claimed: &Claimed) -> Sent {
        let started_at = Utc::now();
        let clock = Instant::now();
        let result = self.post(claimed).await;
        let duration_ms = i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX);
        let answer = result.unwrap_or_else(|error| Answer {
            error: Some(error),
            ..Answer::default()
        });
        let Answer {
            status_code,
            response_body,
            error,
            retry_after,
        } = answer;
        let succeeded = status_code.is_some_and(|s| (200..300).contains(&s));
        let error = error
            .or_else(|| (!succeeded).then(|| format!("HTTP {}", status_code.unwrap_or_default())));
        Sent {
            record: AttemptRecord {
                started_at,
                duration_ms,
                status_code,
                response_body,
                error,
                succeeded,
            },
            retry_after,
        }
    }

    async fn post(&self, claimed: &Claimed) -> Result<Answer, String> {
        let url = check_url(&claimed.url, self.allow_private).map_err(|e| e.to_string())?;
        let webhook_id = claimed.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let body = claimed.payload.as_bytes();
        let mut secrets = vec![claimed.secret.as_str()];
        secrets.extend(claimed.previous_secret.as_deref());
        let signature = standard_webhooks_header(&secrets, &webhook_id, timestamp, body);
        let mut response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", &webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claimed.payload.clone())
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status_code = Some(i32::from(response.status().as_u16()));
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let mut excerpt = Vec::new();
        let mut error = None;
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(error_chain(&e));
                    break;
                }
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        Ok(Answer {
            status_code,
            response_body: (!excerpt.is_empty())
                .then(|| String::from_utf8_lossy(&excerpt).into_owned()),
            error,
            retry_after,
        })
    }
}

/// An error with its causes, so "error sending request" also says why.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
