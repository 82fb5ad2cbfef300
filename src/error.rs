//! The crate-wide error. Each variant maps to one HTTP status and stable code in
//! `api::error`; database outages are told apart so ingest can answer 503 (Meta retries)
//! instead of 500.

/// Everything that can go wrong inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named resource does not exist or belongs to another tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Missing, unknown, revoked or disabled credentials.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Input that parses but is not acceptable; `code` is stable for clients.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The database cannot be reached right now; the caller should retry later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored secret cannot be decrypted with the configured keys.
    #[error(transparent)]
    Encryption(#[from] crate::encryption::EncryptionError),
    /// Unexpected internal failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// Shorthand for a validation error.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if is_connectivity(&err) {
            Error::Unavailable(err)
        } else if is_unstorable_text(&err) {
            Error::invalid(
                "invalid_text",
                "text must not contain NUL characters or invalid UTF-8",
            )
        } else {
            Error::Database(err)
        }
    }
}

/// True when Postgres refused a text value given by the caller (a NUL character, which
/// `text` cannot hold): the request is at fault, not the gateway. Checked here, once, so
/// every text field of every route answers 422 rather than 500.
fn is_unstorable_text(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().is_some_and(|code| code == "22021" || code == "22P05"))
}

/// True when the error means "the database is not reachable now" rather than "this query
/// is wrong": pool timeouts, I/O, and the SQLSTATE classes for connection loss and shutdown.
fn is_connectivity(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03"
        }),
        _ => false,
    }
}

/// Result with the crate error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
