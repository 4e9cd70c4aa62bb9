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
