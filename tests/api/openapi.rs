//! The committed OpenAPI document must match the code.

use sqlx::postgres::PgPoolOptions;
use switchboard::app::AppState;
use switchboard::config::{Settings, DEFAULT_DATABASE_URL};

#[tokio::test]
async fn committed_spec_matches_the_code() {
    let pool = PgPoolOptions::new()
        .connect_lazy(DEFAULT_DATABASE_URL)
        .expect("lazy pool");
    let state = AppState::new(pool, Settings::new("http://127.0.0.1:8080"));
    let generated = switchboard::api::service(&state).spec();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json`"
    );
}
