//! A real HTTP server on loopback that receives forwarded deliveries and answers as a test
//! scripts it: status codes, `Retry-After`, or a long silence.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::{HeaderMap, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, Body, EndpointExt, IntoResponse, Response, Route, Server};

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    /// Wait this long, then answer 200.
    Sleep(Duration),
    /// 301 to this location.
    Redirect(&'static str),
    /// 200 with a body that never ends.
    Endless,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

/// A running receiver; the server stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

#[handler]
async fn receive(headers: &HeaderMap, body: Body, shared: Data<&Arc<Shared>>) -> Response {
    let body = body.into_vec().await.unwrap_or_default();
    let reply = shared
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(Reply::Status(200));
    if let Reply::Sleep(wait) = reply {
        tokio::time::sleep(wait).await;
    }
    shared.received.lock().expect("lock").push(Received {
        headers: headers.clone(),
        body,
        at: Instant::now(),
    });
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Reply::RetryAfter(code, seconds) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
            .header("retry-after", seconds.to_string())
            .body("busy"),
        Reply::Sleep(_) => StatusCode::OK.into_response(),
        Reply::Redirect(location) => Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header("location", location)
            .finish(),
        Reply::Endless => {
            let chunks = futures_util::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(&[b'x'; 8192]))
            });
            Response::builder().body(Body::from_bytes_stream(chunks))
        }
    }
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:0 that answers 200 unless scripted otherwise.
    pub async fn start() -> Self {
        Receiver::start_on(0).await
    }

    /// Starts a receiver on a given loopback port (0 = any), e.g. one that was down before.
    pub async fn start_on(port: u16) -> Self {
        let shared = Arc::new(Shared::default());
        let app = Route::new().at("/*path", receive.data(Arc::clone(&shared)));
        let addr = serve_on_loopback(port, app).await;
        Receiver {
            url: format!("http://{addr}/hook"),
            shared,
        }
    }

    /// Queues the next answers, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().expect("lock").extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Waits (bounded) until at least `n` requests arrived, and returns them all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Serves `app` on 127.0.0.1:`port` (0 = any) until the test's runtime ends; returns the
/// address actually bound. Every fake server of the tests starts this way.
pub async fn serve_on_loopback(
    port: u16,
    app: impl poem::Endpoint + 'static,
) -> std::net::SocketAddr {
    let acceptor = TcpListener::bind(format!("127.0.0.1:{port}"))
        .into_acceptor()
        .await
        .expect("bind a loopback port");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("socket address");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    addr
}
