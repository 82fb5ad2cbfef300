//! The dashboard: its files are served from the binary with the right types and a strict
//! Content-Security-Policy, without credentials (the page signs in through the API).

use reqwest::StatusCode;
use sqlx::PgPool;
use switchboard::dashboard::CONTENT_SECURITY_POLICY;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn dashboard_files_are_served_with_their_type_and_a_strict_csp(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (path, content_type, marker) in [
        ("/dashboard", "text/html; charset=utf-8", "<!doctype html>"),
        ("/dashboard/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/dashboard/app.js",
            "text/javascript; charset=utf-8",
            "sessionStorage",
        ),
        ("/dashboard/app.css", "text/css; charset=utf-8", ":root"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");

        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("content-security-policy"), CONTENT_SECURITY_POLICY);
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = response.text().await.expect("body");
        assert!(body.contains(marker), "{path} looks wrong");
    }
}

#[test]
fn the_csp_allows_no_inline_code_and_no_other_origin() {
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn an_unknown_dashboard_file_is_a_json_404(pool: PgPool) {
    let app = spawn_app(pool).await;

    let response = app
        .client
        .get(app.url("/dashboard/nope.js"))
        .send()
        .await
        .expect("request");

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
