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
//! On top of the client, [`AliyunBackend`] implements [`crate::backend::Backend`]:
//! [`backend`] (construction, bulk reads, paging, secrets file), [`ledger`] (where msctl's ledger
//! lives), [`modelstudio`], [`ram`] and [`pai`] (one file per API: what is read, and how each
//! change is made).

pub mod backend;
pub mod client;
pub mod error;
mod idempotent;
pub mod identity;
mod ledger;
pub mod modelstudio;
pub mod pai;
pub mod ram;

// TEMPORARY for the emulator until the merge: it still names these under `backend::aliyun`.
pub use crate::acs::{encoding, signing, verify};
// TEMPORARY for the emulator until the merge.
pub use crate::acs::verify::{AccessKeyId, NonceCache, VerifyError, VerifyOptions};

pub use crate::acs::credentials::{Credentials, CredentialsError};
pub use crate::acs::signing::Signer;
pub use backend::AliyunBackend;
pub use client::{
    Body, BreakerPolicy, CallOptions, Client, ClientConfig, Endpoint, Method, Product, RequestSpec,
    RetryPolicy,
};
pub use error::{AccessDenied, ApiError, CallError, ErrorKind};

#[cfg(test)]
mod tests;
