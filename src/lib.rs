//! Switchboard: a self-hosted, multi-tenant gateway for Meta messaging webhooks.
//!
//! Meta calls `/hooks/{tenant}`; the body is verified, stored and normalized in one
//! transaction before Meta gets its 200, and a REST API under `/v1` lets tenants and
//! operators manage everything else. The modules below read as the table of contents.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod bench;
pub mod channels;
pub mod config;
pub mod dashboard;
pub mod dispatch;
pub mod encryption;
pub mod error;
pub mod event;
pub mod health;
pub mod ingest;
pub mod listen;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod persist;
pub mod request_id;
pub mod retention;
pub mod signature;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod tenant_cache;
pub mod tokens;
