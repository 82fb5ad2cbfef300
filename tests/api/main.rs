//! Integration tests: the real gateway over HTTP on loopback, a fresh Postgres database per
//! test (`#[sqlx::test]`, `DATABASE_URL` points at the server).

mod admin;
mod admin_deliveries;
mod cli;
mod config;
mod encryption;
mod forwarding;
mod handshake;
mod helpers;
mod ingest;
mod isolation;
mod openapi;
mod pagination;
mod receiver;
mod stats;
mod tenants;
