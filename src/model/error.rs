//! How a call on live state failed (the store, a backend, the emulator on the store), in kinds
//! the caller can act on.

/// How a backend call failed, in kinds the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object the operation needs does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The object already exists, or the operation conflicts with live state.
    #[error("{0}")]
    Conflict(String),
    /// The platform refused the operation by one of its rules (e.g. deleting a default workspace).
    #[error("{0}")]
    Refused(String),
    /// The state store is locked by another msctl process.
    #[error("{0}")]
    Locked(String),
    /// The platform throttled the call; retrying later may succeed.
    #[error("{0}")]
    Throttled(String),
    /// Transport or storage failure (I/O, network, database).
    #[error("{0}")]
    Transport(String),
    /// The service looks down (a circuit breaker opened): stop starting new work, retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The input cannot be applied as given (a bug in msctl or a platform limit).
    #[error("{0}")]
    Invalid(String),
}
