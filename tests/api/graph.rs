//! A fake Graph API on loopback: resolves media ids to download URLs on itself and serves
//! the files, checking the bearer token, so media capture runs against real HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use poem::http::{HeaderMap, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, EndpointExt, IntoResponse, Response, Route};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::receiver::serve_on_loopback;

pub const GRAPH_TOKEN: &str = "graph-token-1";
pub const VERSION: &str = "v99.0";

/// One file the fake serves.
#[derive(Clone)]
pub struct FakeFile {
    pub bytes: Vec<u8>,
    pub mime_type: &'static str,
    /// What the Graph API announces; the real hash unless a test lies.
    pub sha256: String,
    /// Status of the download (404 = Meta's URL has expired).
    pub download_status: u16,
}

impl FakeFile {
    pub fn new(bytes: Vec<u8>, mime_type: &'static str) -> Self {
        FakeFile {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes,
            mime_type,
            download_status: 200,
        }
    }
}

#[derive(Default)]
struct Shared {
    files: Mutex<HashMap<String, FakeFile>>,
    /// Requests seen: (path, Authorization header).
    requests: Mutex<Vec<(String, String)>>,
    /// When set, every request waits for a permit (tests hold capture back with it).
    gate: Mutex<Option<Arc<Semaphore>>>,
}

/// A running fake Graph API.
#[derive(Clone)]
pub struct FakeGraph {
    pub base_url: String,
    shared: Arc<Shared>,
}

#[handler]
async fn serve(
    Path(path): Path<String>,
    headers: &HeaderMap,
    shared: Data<&Arc<Shared>>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared
        .requests
        .lock()
        .expect("lock")
        .push((path.clone(), auth.clone()));
    let gate = shared.gate.lock().expect("lock").clone();
    if let Some(gate) = gate {
        let _permit = gate.acquire().await;
    }
    let authorized = auth == format!("Bearer {GRAPH_TOKEN}");
    let files = shared.files.lock().expect("lock").clone();
    if let Some(id) = path.strip_prefix(&format!("{VERSION}/")) {
        if !authorized {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let Some(file) = files.get(id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let base = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return poem::web::Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("http://{base}/files/{id}?token=whatsapp-needs-auth"),
            "mime_type": file.mime_type,
            "sha256": file.sha256,
            "file_size": file.bytes.len().to_string(),
            "id": id,
        }))
        .into_response();
    }
    if let Some(id) = path.strip_prefix("files/") {
        let Some(file) = files.get(id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if file.download_status != 200 {
            return StatusCode::from_u16(file.download_status)
                .unwrap_or(StatusCode::NOT_FOUND)
                .into_response();
        }
        return Response::builder()
            .header("content-type", file.mime_type)
            .body(file.bytes.clone());
    }
    StatusCode::NOT_FOUND.into_response()
}

impl FakeGraph {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Route::new().at("/*path", serve.data(Arc::clone(&shared)));
        let addr = serve_on_loopback(0, app).await;
        FakeGraph {
            base_url: format!("http://{addr}"),
            shared,
        }
    }

    /// Serves `file` under media id `id` (and at `/files/{id}`).
    pub fn add(&self, id: &str, file: FakeFile) {
        self.shared
            .files
            .lock()
            .expect("lock")
            .insert(id.to_owned(), file);
    }

    /// The direct download URL of a file, as Messenger and Instagram attachments carry.
    pub fn file_url(&self, id: &str) -> String {
        format!("{}/files/{id}", self.base_url)
    }

    /// Requests seen so far: (path, Authorization header).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Makes every later request wait until [`FakeGraph::open`].
    pub fn close(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        *self.shared.gate.lock().expect("lock") = Some(Arc::clone(&gate));
        gate
    }
}
