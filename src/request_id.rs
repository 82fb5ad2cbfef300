//! One id per HTTP request, so a line in the gateway's log, a stored receipt and the answer
//! a caller (Meta, a tenant, a load balancer) got can be tied together.
//!
//! A sane `x-request-id` from the caller is kept (a proxy in front may already have
//! assigned one); anything else is replaced by a fresh UUIDv7. The id is written back into
//! the request (so ingest stores it with the receipt), opens a tracing span around the
//! handler, and is echoed in the response.

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

/// The header carrying the id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest caller-supplied id kept; longer ones are replaced, not truncated.
const MAX_LEN: usize = 128;

/// Middleware giving every request an id, a span and one completion log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestId;

impl<E: Endpoint> Middleware<E> for RequestId {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestIdEndpoint(inner)
    }
}

/// The endpoint wrapped by [`RequestId`].
pub struct RequestIdEndpoint<E>(E);

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .filter(|value| is_sane(value.as_bytes()))
            .cloned()
            .unwrap_or_else(fresh_id);
        req.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
        // Only the path: the query of a handshake carries the verify token.
        let span = tracing::info_span!(
            "http",
            request_id = %String::from_utf8_lossy(id.as_bytes()),
            method = %req.method(),
            path = %req.uri().path(),
        );
        async move {
            let started = Instant::now();
            let mut response = match self.0.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            };
            tracing::info!(
                status = response.status().as_u16(),
                ms = started.elapsed().as_millis() as u64,
                "request handled"
            );
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Printable ASCII without spaces, quotes or backslashes, of a bounded length: safe to put
/// in a log line and a header as is.
fn is_sane(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'))
}

fn fresh_id() -> HeaderValue {
    HeaderValue::from_str(&Uuid::now_v7().to_string())
        .unwrap_or_else(|_| unreachable!("a UUID is a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_ids_and_refuses_odd_ones() {
        for ok in ["abc", "0f8e-11", "req_123:retry.2", &"a".repeat(MAX_LEN)] {
            assert!(is_sane(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "",
            "has space",
            "quote\"",
            "back\\slash",
            "é",
            "tab\t",
            &"a".repeat(MAX_LEN + 1),
        ] {
            assert!(!is_sane(bad.as_bytes()), "{bad:?}");
        }
    }
}
