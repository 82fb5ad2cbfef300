//! Integration tests: the real gateway over HTTP on loopback, a fresh Postgres database per
//! test (`#[sqlx::test]`, `DATABASE_URL` points at the server).

mod admin;
mod admin_deliveries;
mod cli;
mod config;
mod dashboard;
mod encryption;
mod events;
mod faults;
mod forwarding;
mod graph;
mod handshake;
mod health;
mod helpers;
mod hostile;
mod ingest;
mod isolation;
mod media;
mod metrics;
mod openapi;
mod pagination;
mod receiver;
mod request_id;
mod retention;
mod shutdown;
mod simulate;
mod stats;
mod tenants;
