//! The bench's receiving endpoint: answers 200 at once and notes when each message arrived.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, post, Body, EndpointExt, Route, Server};

type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

/// A running sink on 127.0.0.1 with an ephemeral port.
pub struct Sink {
    pub url: String,
    arrivals: Arrivals,
}

#[handler]
async fn receive(body: Body, arrivals: Data<&Arrivals>) -> &'static str {
    let at = Instant::now();
    let bytes = body.into_vec().await.unwrap_or_default();
    let message_id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("message_id")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((message_id, at));
    "ok"
}

impl Sink {
    /// Binds and serves in the background.
    pub async fn start() -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("sink has no socket address"))?;
        let arrivals: Arrivals = Arc::default();
        let app = Route::new().at("/sink", post(receive).data(Arc::clone(&arrivals)));
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Ok(Sink {
            url: format!("http://{addr}/sink"),
            arrivals,
        })
    }

    /// Waits until `n` deliveries arrived or `limit` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<(String, Instant)> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self
                .arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if arrived.len() >= n || Instant::now() >= deadline {
                return arrived;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
