//! The web dashboard at `/dashboard`: three static files compiled into the binary, so a
//! plain `switchboard serve` serves it offline with nothing to deploy beside the binary.
//!
//! The page is a client of the public REST API only (it sends the admin token or a tenant
//! API key as `Authorization: Bearer`), so it has no powers of its own. A strict
//! Content-Security-Policy allows only these same-origin files and same-origin API calls:
//! even if attacker-controlled event text slipped into the page as markup, no inline script,
//! inline style or foreign origin would run or be reached.

use poem::endpoint::make_sync;
use poem::http::header;
use poem::{get, Endpoint, IntoResponse, Response, Route};

/// Sent with every dashboard file: same-origin script, style and API calls only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// One embedded file and the type it is served as.
struct Asset {
    content_type: &'static str,
    body: &'static str,
}

static INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../dashboard/index.html"),
};

static SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../dashboard/app.js"),
};

static STYLE: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_str!("../dashboard/app.css"),
};

impl Asset {
    /// An endpoint that answers every request with this file.
    fn endpoint(&'static self) -> impl Endpoint<Output = Response> {
        make_sync(move |_| self.response())
    }

    fn response(&self) -> Response {
        self.body
            .with_content_type(self.content_type)
            .with_header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
            .with_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .with_header(header::REFERRER_POLICY, "no-referrer")
            // Revalidate each time, so an upgraded gateway never runs a stale script.
            .with_header(header::CACHE_CONTROL, "no-cache")
            .into_response()
    }
}

/// The dashboard's routes, to be nested under `/dashboard`.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(INDEX.endpoint()))
        .at("/app.js", get(SCRIPT.endpoint()))
        .at("/app.css", get(STYLE.endpoint()))
}
