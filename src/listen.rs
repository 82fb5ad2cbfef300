//! `switchboard listen`: a local endpoint that receives forwarded events, checks their
//! Standard Webhooks signature as a tenant's application should, and prints them.
//!
//! It is the other half of `simulate`: point an endpoint at it to watch what a tenant
//! would receive. A bad signature or a stale timestamp is refused loudly (401 and a line
//! on stderr), so a misconfigured secret is obvious at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use poem::http::{HeaderMap, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, EndpointExt, IntoResponse, Response, Route, Server};
use serde_json::Value;

use crate::config::ListenArgs;
use crate::signature;

/// Largest clock difference accepted, as the Standard Webhooks spec recommends: a replayed
/// request older than this is refused even with a valid signature.
const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// One of `webhook-id`, `webhook-timestamp`, `webhook-signature` is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp is not a number")]
    BadTimestamp,
    /// The timestamp is more than five minutes from this machine's clock.
    #[error("webhook-timestamp is {0} s away from now (limit {TOLERANCE_SECONDS} s)")]
    Stale(i64),
    /// No signature in `webhook-signature` matches the secret.
    #[error("signature does not match the secret")]
    BadSignature,
}

/// Checks a request as the Standard Webhooks spec says, at time `now` (Unix seconds).
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refusal> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Missing(name))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .trim()
        .parse()
        .map_err(|_| Refusal::BadTimestamp)?;
    let signatures = header("webhook-signature")?;
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > TOLERANCE_SECONDS {
        return Err(Refusal::Stale(skew));
    }
    if signature::verify_standard_webhooks(secret, id, timestamp, body, signatures) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// One line about an event: time, type, channel, from → to, and kind or status with text.
pub fn summary(event: &Value) -> String {
    let field = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let time = event
        .get("timestamp")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
        .map_or_else(
            || "-".to_owned(),
            |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    let mut line = format!(
        "{time} {} {} {} → {}",
        field("/type").unwrap_or("?"),
        field("/channel").unwrap_or("?"),
        field("/from").unwrap_or("-"),
        field("/to").unwrap_or("-"),
    );
    let detail = field("/kind")
        .or_else(|| field("/status/status"))
        .or_else(|| field("/reaction/emoji"));
    for part in [
        detail.map(str::to_owned),
        field("/text").map(|t| format!("{t:?}")),
    ]
    .into_iter()
    .flatten()
    {
        line.push(' ');
        line.push_str(&part);
    }
    line
}

/// What every request needs.
struct Listening {
    secret: String,
    json: bool,
}

#[handler]
async fn receive(headers: &HeaderMap, body: Vec<u8>, state: Data<&Arc<Listening>>) -> Response {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    if let Err(refusal) = verify(&state.secret, headers, &body, Utc::now().timestamp()) {
        eprintln!("REFUSED webhook {id}: {refusal}");
        return (StatusCode::UNAUTHORIZED, refusal.to_string()).into_response();
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(event) if state.json => {
            let pretty = serde_json::to_string_pretty(&event).unwrap_or_default();
            println!("{}\n{pretty}", summary(&event));
        }
        Ok(event) => println!("{}", summary(&event)),
        Err(_) => println!("webhook {id}: signed, but not JSON ({} bytes)", body.len()),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Serves on `127.0.0.1:{port}` until `shutdown` resolves; prints the address first (port
/// 0 picks a free one, which scripts and tests read from that line).
pub async fn run(
    args: ListenArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        signature::is_endpoint_secret(&args.secret),
        "--secret must be an endpoint signing secret: whsec_ followed by base64"
    );
    let acceptor = TcpListener::bind(("127.0.0.1", args.port))
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("the listener has no socket address"))?;
    println!("listening on http://{addr}/ (any path); verifying Standard Webhooks signatures");
    let state = Arc::new(Listening {
        secret: args.secret,
        json: args.json,
    });
    let app = Route::new()
        .at("/", receive)
        .at("/*path", receive)
        .data(state);
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(5)))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn signed(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = signature::standard_webhooks_header(&[secret], id, timestamp, body);
        for (name, value) in [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
        }
        headers
    }

    #[test]
    fn accepts_fresh_signed_requests_and_refuses_the_rest() {
        let secret = crate::tokens::new_endpoint_secret();
        let now = 1_700_000_000;
        let headers = signed(&secret, "msg_1", now, b"{}");

        assert_eq!(verify(&secret, &headers, b"{}", now + 299), Ok(()));
        assert_eq!(verify(&secret, &headers, b"{}", now - 299), Ok(()));
        assert_eq!(
            verify(&secret, &headers, b"{}", now + 301),
            Err(Refusal::Stale(301))
        );
        assert_eq!(
            verify(&secret, &headers, b"{ }", now),
            Err(Refusal::BadSignature)
        );
        let other = crate::tokens::new_endpoint_secret();
        assert_eq!(
            verify(&other, &headers, b"{}", now),
            Err(Refusal::BadSignature)
        );
        let mut unsigned = headers.clone();
        unsigned.remove("webhook-signature");
        assert_eq!(
            verify(&secret, &unsigned, b"{}", now),
            Err(Refusal::Missing("webhook-signature"))
        );
    }

    #[test]
    fn summaries_show_who_what_and_when() {
        let event = json!({
            "type": "message.received", "channel": "whatsapp", "timestamp": 1_672_947_578,
            "from": "+1111111111111", "to": "409552778964973", "kind": "text",
            "text": "hi everyone!"
        });
        assert_eq!(
            summary(&event),
            "2023-01-05T19:39:38Z message.received whatsapp +1111111111111 → 409552778964973 text \"hi everyone!\""
        );
        let status =
            json!({"type": "message.status", "channel": "messenger", "status": {"status": "read"}});
        assert_eq!(summary(&status), "- message.status messenger - → - read");
    }
}
