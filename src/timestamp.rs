//! Wall-clock instants as plain data: milliseconds since the Unix epoch.
//!
//! Every pure part of the daemon (debouncer, outbox scheduling, signature checks) takes time as an
//! argument of this type instead of reading a clock, so tests can replay hours of frames in
//! milliseconds. Only [`Timestamp::now`] reads the system clock; the daemon wiring calls it.
//!
//! Also formats and parses RFC 3339 (UTC, `Z`), the form used by CloudEvents `time`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An instant, in whole milliseconds since 1970-01-01T00:00:00Z. Serialized as that integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

/// A string that is not an RFC 3339 date-time this module understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 UTC date-time: {input:?}")]
pub struct ParseTimestampError {
    /// The rejected text.
    pub input: String,
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the Unix epoch.
    pub const fn from_unix_ms(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// From whole seconds since the Unix epoch.
    pub const fn from_unix_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_unix_ms(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn as_unix_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The system clock, now. Instants before 1970 are clamped to the epoch.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// From a [`SystemTime`]; instants before the epoch clamp to the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }

    /// As a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// This instant plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-12-03T19:45:00.250Z`.
    /// Whole seconds are written without a fraction: `2026-12-03T19:45:00Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1000;
        let ms = self.0 % 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        if ms == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
        }
    }

    /// Parses RFC 3339 date-times with `Z` or a numeric offset and an optional fraction
    /// (kept to milliseconds). Dates before 1970 are rejected.
    pub fn parse_rfc3339(s: &str) -> Result<Self, ParseTimestampError> {
        parse_rfc3339_inner(s.trim()).ok_or_else(|| ParseTimestampError {
            input: s.to_string(),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_rfc3339_inner(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = num(s.get(0..4)?)?;
    let mo = num(s.get(5..7)?)?;
    let d = num(s.get(8..10)?)?;
    let h = num(s.get(11..13)?)?;
    let mi = num(s.get(14..16)?)?;
    let se = num(s.get(17..19)?)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &frac[..n];
        let mut padded = String::from(&digits[..n.min(3)]);
        while padded.len() < 3 {
            padded.push('0');
        }
        ms = num(&padded)?;
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = num(rest.get(1..3)?)?;
            let om = num(rest.get(4..6)?)?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let total_ms = (days * 86_400 + h * 3600 + mi * 60 + se - offset_secs) * 1000 + ms;
    u64::try_from(total_ms).ok().map(Timestamp)
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp::EPOCH.to_rfc3339(), "1970-01-01T00:00:00Z");
        // 2026-12-03T19:45:00Z
        let t = Timestamp::from_unix_secs(1_796_327_100);
        assert_eq!(t.to_rfc3339(), "2026-12-03T19:45:00Z");
        assert_eq!(
            Timestamp::from_unix_ms(1_796_327_100_250).to_rfc3339(),
            "2026-12-03T19:45:00.250Z"
        );
        // leap day
        assert_eq!(
            Timestamp::from_unix_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ms in [
            0u64,
            1,
            951_782_400_000,
            1_796_327_100_250,
            4_102_444_799_999,
        ] {
            let t = Timestamp::from_unix_ms(ms);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-03T20:45:00+01:00"),
            Ok(Timestamp::from_unix_secs(1_796_327_100))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-03T19:45:00.123456Z"),
            Ok(Timestamp::from_unix_ms(1_796_327_100_123))
        );
        for bad in [
            "",
            "2026-12-03",
            "2026-13-03T19:45:00Z",
            "2026-12-03T19:45:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix_secs(10);
        assert_eq!(t.plus(Duration::from_millis(1500)).as_unix_ms(), 11_500);
        assert_eq!(
            t.since(Timestamp::from_unix_secs(4)),
            Duration::from_secs(6)
        );
        assert_eq!(Timestamp::from_unix_secs(4).since(t), Duration::ZERO);
        assert_eq!(
            Timestamp::from_system_time(t.to_system_time()),
            t,
            "round trip through SystemTime"
        );
    }
}
