//! `/healthz` and `/readyz`: alive, and able to work (database reachable, schema current).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn readyz_is_200_on_a_migrated_reachable_database(pool: PgPool) {
    let app = spawn_app(pool).await;

    let ready = app.get("/readyz").await;
    let alive = app.get("/healthz").await;

    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.expect("body"), "ready");
    assert_eq!(alive.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn readyz_is_503_while_a_migration_is_missing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let latest: i64 = sqlx::query_scalar(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)
         RETURNING version",
    )
    .fetch_one(&app.pool)
    .await
    .expect("forget the latest migration");

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.text().await.expect("body");
    assert!(body.contains(&latest.to_string()), "{body}");
}

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn readyz_is_503_without_database_while_healthz_stays_200(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.pool.close().await;

    let ready = app.get("/readyz").await;
    let alive = app.get("/healthz").await;

    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(alive.status(), StatusCode::OK);
}
