//! The `aliyun` backend: an HTTP client for Model Studio 2026-02-10, RAM 2015-05-01 and PAI
//! AIWorkSpace 2021-02-04, and [`AliyunBackend`] on top of it. The wire contract it shares with
//! the emulator (signing, encodings, credentials) is [`crate::acs`].
//!
//! - [`error`]: error bodies, retry classification, hints, [`crate::backend::BackendError`] kinds.
//! - [`client`]: the blocking ureq client with time-bounded retries, an adaptive concurrency cap,
//!   a circuit breaker and an API-call counter.
//! - [`identity`]: who the credentials belong to (STS `GetCallerIdentity`), and so who owns the
//!   API keys they create.
//!
//! On top of the client, [`AliyunBackend`] implements [`crate::backend::Backend`]. [`backend`]
//! is the composition root (construction, the two-wave read, the contract); [`modelstudio`],
//! [`ram`] and [`pai`] hold one API each (what is read, and how each change is made); what they
//! share has a file each, which they import and [`backend`] composes: `base` (the struct,
//! calls, the read-after-write retry), `ids`, `parallel`, `paging`, `json`, `secrets` and
//! `ledger`.

pub mod backend;
mod base;
pub mod client;
pub mod error;
mod idempotent;
pub mod identity;
mod ids;
mod json;
mod ledger;
pub mod modelstudio;
mod paging;
pub mod pai;
mod parallel;
pub mod ram;
mod secrets;

pub use crate::acs::credentials::{Credentials, CredentialsError};
pub use crate::acs::signing::Signer;
pub use base::AliyunBackend;
pub use client::{
    Body, BreakerPolicy, CallOptions, Client, ClientConfig, Endpoint, Method, Product, RequestSpec,
    RetryPolicy,
};
pub use error::{AccessDenied, ApiError, CallError, ErrorKind};

#[cfg(test)]
mod tests;
