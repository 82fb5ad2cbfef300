//! When to try a failed delivery again: exponential backoff with jitter (computed with
//! `backon`, the maintained successor of the unmaintained `backoff` crate), capped, and
//! overridden by the receiver's own `Retry-After`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};

use crate::config::DispatchArgs;

/// The retry settings of the dispatcher.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub factor: f32,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl From<&DispatchArgs> for RetryPolicy {
    fn from(args: &DispatchArgs) -> Self {
        RetryPolicy {
            initial: args.retry_initial,
            factor: args.retry_factor,
            max_delay: args.retry_max_delay,
            max_attempts: args.max_attempts.max(1),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failed`-th consecutive failure (1 = after the first attempt),
    /// jittered, never above the maximum delay.
    pub fn delay_after(&self, failed: u32) -> Duration {
        let index = usize::try_from(failed.saturating_sub(1)).unwrap_or(usize::MAX);
        ExponentialBuilder::new()
            .with_min_delay(self.initial)
            .with_factor(self.factor.max(1.0))
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(index)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// True when `attempts_made` exhausts the budget.
    pub fn exhausted(&self, attempts_made: u32) -> bool {
        attempts_made >= self.max_attempts
    }

    /// The wait before the next attempt: the receiver's `Retry-After` when it gave one
    /// (capped at the maximum delay), else the backoff.
    pub fn next_delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_delay),
            None => self.delay_after(failed),
        }
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(5),
            factor: 6.0,
            max_delay: Duration::from_secs(10 * 3600),
            max_attempts: 8,
        }
    }

    #[test]
    fn delays_grow_exponentially_with_bounded_jitter() {
        let p = policy();
        for (failed, base) in [(1u32, 5u64), (2, 30), (3, 180), (4, 1080)] {
            let delay = p.delay_after(failed).as_secs_f64();
            let base = base as f64;
            assert!(
                delay >= base && delay <= 2.0 * base,
                "attempt {failed}: {delay}s vs {base}s"
            );
        }
        assert!(p.delay_after(20) <= p.max_delay);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(1_000_000))),
            p.max_delay
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn budget_counts_the_first_try() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        assert!(!p.exhausted(2));
        assert!(p.exhausted(3));
    }
}
