//! Times as msctl shows them: a commit's time in its author's offset (like `git log`) and
//! machine-made times (applies, locks) in UTC. Here, low in the layers, so that rendering, git
//! and the backends share one formatter without importing each other.

use std::fmt;

use serde::Serialize;

/// When a commit was made: seconds since the epoch and the author's UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommitTime {
    pub seconds: i64,
    pub offset_minutes: i32,
}

impl fmt::Display for CommitTime {
    /// `2024-05-01 14:03:00 +0800`, in the author's own offset like `git log`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Saturating: the time comes from repository contents, which may hold anything.
        let local = self
            .seconds
            .saturating_add(i64::from(self.offset_minutes) * 60);
        let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        let (y, m, d) = crate::calendar::civil_from_days(days);
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            off / 60,
            off % 60
        )
    }
}

/// `2023-11-14 22:13:20 UTC`.
pub fn utc(seconds: i64) -> String {
    let t = CommitTime {
        seconds,
        offset_minutes: 0,
    }
    .to_string();
    // CommitTime renders the offset as `+0000`; UTC reads better for machine-made times.
    t.strip_suffix(" +0000")
        .map_or(t.clone(), |s| format!("{s} UTC"))
}

/// Parses the durations msctl's flags and config take: `0`, or a whole number with a unit
/// `ms`, `s`, `m`, `h` or `d` (`500ms`, `90d`). Returns milliseconds; `None` when malformed or
/// too large. Callers word the error for what they accept.
pub fn parse_duration_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    if split == 0 {
        return None;
    }
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A duration in its largest exact unit, the way it is written: `90d`, `36h`, `5m`, `45s`,
/// `500ms`, `0`.
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0".to_string();
    }
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_format_back() {
        for (text, ms) in [
            ("0", 0),
            ("500ms", 500),
            ("45s", 45_000),
            ("5m", 300_000),
            ("36h", 129_600_000),
            ("90d", 7_776_000_000),
        ] {
            assert_eq!(parse_duration_millis(text), Some(ms), "{text}");
            assert_eq!(format_duration(Duration::from_millis(ms)), text);
        }
        assert_eq!(parse_duration_millis(" 2d "), Some(172_800_000));
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn malformed_durations_are_none() {
        for bad in [
            "",
            "90",
            "d",
            "90w",
            "1.5d",
            "-1d",
            "90 d",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration_millis(bad), None, "{bad}");
        }
    }
}
