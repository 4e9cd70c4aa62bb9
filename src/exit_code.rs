//! Named exit codes: scripts and CI pipelines depend on these numbers.
//!
//! The table below is printed by `msctl --help` ([`TABLE`]) and repeated in the README; a test
//! holds the two equal, and `tests/cli_contract.rs` has a test per row.

/// Success: no changes, in sync, or the command did what was asked.
pub const SUCCESS: i32 = 0;
/// An error: a usage error (unknown flag, bad value), invalid config, a refused or failed apply,
/// a backend failure.
pub const ERROR: i32 = 1;
/// Changes present (`plan --detailed-exitcode`) or drift found (`drift`). Never used for errors,
/// so a typo in a drift cron cannot read as drift.
pub const CHANGES: i32 = 2;
/// Stopped by SIGINT (Ctrl-C), after finishing what was in flight: 128 + 2, the shell convention.
pub const INTERRUPTED: i32 = 130;
/// Stopped by SIGTERM, after finishing what was in flight: 128 + 15.
pub const TERMINATED: i32 = 143;

/// The exit codes as `msctl --help` shows them (and the README, in a markdown table).
pub const TABLE: &[(i32, &str)] = &[
    (
        SUCCESS,
        "success: no changes (`plan --detailed-exitcode`), in sync (`drift`), everything applied",
    ),
    (
        ERROR,
        "error: usage error, invalid config, refused apply, a change failed, backend failure",
    ),
    (
        CHANGES,
        "changes present (`plan --detailed-exitcode`), drift found (`drift`)",
    ),
    (
        INTERRUPTED,
        "stopped by SIGINT: in-flight changes finished, partial apply recorded",
    ),
    (
        TERMINATED,
        "stopped by SIGTERM: in-flight changes finished, partial apply recorded",
    ),
];
