//! Waking background workers: `LISTEN` on a Postgres channel so queued work is picked up
//! within milliseconds, with a periodic poll as the fallback when a notification is missed
//! or the listening connection is down.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

/// A worker's subscription to one notification channel.
pub struct Wakeup {
    channel: &'static str,
    listener: Option<PgListener>,
}

impl Wakeup {
    /// Subscribes to `channel`; without a connection now, polling covers until it returns.
    pub async fn listen(pool: &PgPool, channel: &'static str) -> Self {
        Wakeup {
            channel,
            listener: connect(pool, channel).await,
        }
    }

    /// Returns on the next notification or after `poll`, whichever comes first; a broken
    /// listener is dropped and reconnected on the next call.
    pub async fn wait(&mut self, pool: &PgPool, poll: Duration) {
        if self.listener.is_none() {
            self.listener = connect(pool, self.channel).await;
        }
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(poll).await;
            return;
        };
        tokio::select! {
            received = listener.recv() => {
                if received.is_err() {
                    self.listener = None;
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
}

async fn connect(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(channel).await.ok()?;
    Some(listener)
}
