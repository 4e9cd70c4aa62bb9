//! API-key rotation as data: the policy a declared key carries (`rotate_after`, `overlap`), what
//! the platform says about a live key (its id and creation time), and the `90d`-style durations
//! both are written in. Here, low in the layers, so config, backends and the planner share it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A declared key's rotation policy, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRotation {
    /// A key older than this (by the platform's creation time) is rotated.
    pub rotate_after: u64,
    /// How long the predecessor stays enabled after its successor is made; then it is deleted.
    pub overlap: u64,
}

/// What the platform says about one live API key, beside its attributes: never compared, only
/// read by rotation and drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LiveKey {
    /// The platform's id (`apiKeyId`).
    pub id: String,
    /// Creation time, seconds since the Unix epoch (`gmtCreate`); `None` when the platform did
    /// not say.
    pub created: Option<i64>,
}

impl LiveKey {
    /// Seconds since the key was made, at `now` (never negative: a clock behind the platform's
    /// reads as age 0).
    pub fn age(&self, now: i64) -> Option<u64> {
        self.created
            .map(|c| u64::try_from(now.saturating_sub(c)).unwrap_or(0))
    }
}

/// Parses a rotation duration: a whole number with a unit `s`, `m`, `h` or `d` (`90d`, `36h`),
/// or `0`. Returns seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{}` is not a duration: write a whole number with a unit s, m, h or d, \
             like `90d` or `12h`",
            text.trim()
        )
    };
    // Rotation is counted in seconds: milliseconds are not a unit here.
    if text.trim().ends_with("ms") {
        return Err(bad());
    }
    super::time::parse_duration_millis(text)
        .map(|ms| ms / 1_000)
        .ok_or_else(bad)
}

/// A duration in seconds as the largest exact unit: `90d`, `36h`, `0`.
pub fn format_duration(secs: u64) -> String {
    super::time::format_duration(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("36h"), Ok(36 * 3_600));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration(" 0 "), Ok(0));
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        // Every malformed form is `model::time`'s to reject; milliseconds are not a unit here.
        for bad in ["90w", "500ms", "-1d"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("write a whole number with a unit s, m, h or d"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        assert_eq!(format_duration(90 * 86_400), "90d");
        assert_eq!(format_duration(36 * 3_600), "36h");
        assert_eq!(format_duration(90), "90s");
        assert_eq!(format_duration(0), "0");
    }

    #[test]
    fn age_is_never_negative() {
        let k = LiveKey {
            id: "1".into(),
            created: Some(100),
        };
        assert_eq!(k.age(160), Some(60));
        assert_eq!(k.age(50), Some(0));
        assert_eq!(LiveKey { created: None, ..k }.age(160), None);
    }
}
