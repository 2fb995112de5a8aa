//! Sinks deliver events to the outside world (webhook now; MQTT and Open311 later).
//!
//! A [`Sink`] makes exactly one delivery attempt per call and reports a [`DeliveryOutcome`];
//! it never retries or sleeps by itself. Retrying belongs to the outbox, which keeps each
//! sink's undelivered events on disk and asks [`RetryPolicy`] when to try again.
//! The trait is object-safe (`Box<dyn Sink>`), so the daemon can hold a list of sinks.

pub mod webhook;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::event::Event;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver took it: remove it from the outbox.
    Delivered,
    /// A transient failure: try again, not before `after` if the receiver said so.
    Retry {
        /// The receiver's requested delay (`Retry-After`), if any.
        after: Option<Duration>,
        /// Human-readable reason, kept as the outbox entry's last error.
        reason: String,
    },
    /// A permanent failure: stop trying (the outbox moves the event to `dead/`).
    Reject {
        /// Human-readable reason.
        reason: String,
    },
}

impl DeliveryOutcome {
    /// Why it failed ("" when delivered).
    pub fn reason(&self) -> &str {
        match self {
            DeliveryOutcome::Delivered => "",
            DeliveryOutcome::Retry { reason, .. } | DeliveryOutcome::Reject { reason } => reason,
        }
    }
}

/// The future returned by [`Sink::deliver`].
pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = DeliveryOutcome> + Send + 'a>>;

/// A destination for events.
pub trait Sink: Send + Sync {
    /// A short name for logs, metrics and the outbox folder (e.g. `webhook`).
    fn name(&self) -> &str;

    /// One attempt to deliver `event`. Must not panic; every failure is an outcome.
    fn deliver<'a>(&'a self, event: &'a Event) -> DeliverFuture<'a>;
}

/// A source of uniform numbers in `[0, 1)` for jitter, injected so schedules are testable.
pub trait Jitter {
    /// The next number in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

/// SplitMix64: a tiny seeded generator, good enough for jitter (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed (tests).
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A generator seeded from the OS random source (daemon).
    pub fn from_os() -> Self {
        SplitMix64(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Jitter for SplitMix64 {
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// When to try again after a failed attempt: capped exponential backoff with jitter, and the
/// receiver's `Retry-After` honoured (as a lower bound, itself capped).
///
/// After `n` failed attempts the base delay is `initial * 2^(n-1)`, capped at `max_delay`; the
/// jittered delay is uniform in `[base * (1 - jitter), base]`. With the defaults (5 s, cap 1 h,
/// jitter 0.25) the delays run about 5 s, 10 s, 20 s, ... 1 h, then hourly for ever: the outbox
/// keeps trying unless `give_up_after` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Fraction of the delay that is randomised, `0..=1`.
    pub jitter: f64,
    /// Largest `Retry-After` honoured (a receiver asking for more gets this).
    pub max_retry_after: Duration,
    /// Dead-letter an event still undelivered this long after it was queued (`None`: never).
    pub give_up_after: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            jitter: 0.25,
            max_retry_after: Duration::from_secs(6 * 3600),
            give_up_after: None,
        }
    }
}

impl RetryPolicy {
    /// Backoff after `failures` failed attempts (1 for the first failure).
    pub fn backoff(&self, failures: u32, rng: &mut dyn Jitter) -> Duration {
        let exp = failures.saturating_sub(1);
        let base = if exp >= 32 {
            self.max_delay
        } else {
            self.initial.saturating_mul(1u32 << exp).min(self.max_delay)
        };
        let j = self.jitter.clamp(0.0, 1.0);
        let u = rng.next_unit().clamp(0.0, 1.0);
        base.mul_f64(1.0 - j * u)
    }

    /// Delay before the next attempt: the backoff, or the receiver's `Retry-After` if longer.
    pub fn next_delay(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        rng: &mut dyn Jitter,
    ) -> Duration {
        let backoff = self.backoff(failures, rng);
        match retry_after {
            Some(ra) => backoff.max(ra.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(f64);
    impl Jitter for Fixed {
        fn next_unit(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..Default::default()
        };
        let got: Vec<u64> = (1..=12)
            .map(|n| p.backoff(n, &mut Fixed(0.5)).as_secs())
            .collect();
        assert_eq!(
            got,
            vec![5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(
            p.backoff(u32::MAX, &mut Fixed(0.5)),
            Duration::from_secs(3600)
        );
        assert_eq!(p.backoff(0, &mut Fixed(0.5)), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_in_range_and_is_seeded() {
        let p = RetryPolicy::default();
        let mut rng = SplitMix64::new(42);
        for n in 1..=20 {
            let base = Duration::from_secs(5)
                .saturating_mul(1 << (n - 1).min(20))
                .min(Duration::from_secs(3600));
            for _ in 0..50 {
                let d = p.backoff(n, &mut rng);
                assert!(d <= base && d >= base.mul_f64(0.75), "{n}: {d:?}");
            }
        }
        let a: Vec<_> = {
            let mut r = SplitMix64::new(7);
            (1..10).map(|n| p.backoff(n, &mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = SplitMix64::new(7);
            (1..10).map(|n| p.backoff(n, &mut r)).collect()
        };
        assert_eq!(a, b);
        assert_eq!(p.backoff(1, &mut Fixed(0.0)), Duration::from_secs(5));
        assert_eq!(p.backoff(1, &mut Fixed(1.0)), Duration::from_millis(3750));
        let mut r = SplitMix64::new(1);
        assert!(
            (0..1000)
                .map(|_| r.next_unit())
                .all(|u| (0.0..1.0).contains(&u))
        );
    }

    #[test]
    fn retry_after_is_a_capped_lower_bound() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..Default::default()
        };
        let mut r = Fixed(0.0);
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(120)), &mut r),
            Duration::from_secs(120)
        );
        assert_eq!(
            p.next_delay(5, Some(Duration::from_secs(1)), &mut r),
            Duration::from_secs(80)
        );
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(999_999)), &mut r),
            Duration::from_secs(6 * 3600)
        );
        assert_eq!(p.next_delay(2, None, &mut r), Duration::from_secs(10));
    }
}
