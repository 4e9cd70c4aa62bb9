//! Named exit codes: scripts and CI pipelines depend on these numbers.

/// Success: no changes, in sync, or the command did what was asked.
pub const SUCCESS: i32 = 0;
/// An error: invalid config, a refused or failed apply, a backend failure.
pub const ERROR: i32 = 1;
/// Changes present (`plan --detailed-exitcode`) or drift found (`drift`).
pub const CHANGES: i32 = 2;
