//! The wire layer of the `aliyun` backend: signing, parameter encodings, errors and an HTTP client
//! for Model Studio 2026-02-10, RAM 2015-05-01 and PAI AIWorkSpace 2021-02-04.
//!
//! The contract is `shared/api/alibaba-api.md`. The emulator reuses the inverse halves
//! ([`verify`], the decoders in [`encoding`]), so client and emulator cannot drift apart on
//! canonicalisation: both go through [`signing`].
//!
//! - [`signing`]: ACS3-HMAC-SHA256 canonical request and the [`signing::Signer`].
//! - [`verify`]: the emulator's signature check, with time window and nonce cache.
//! - [`encoding`]: flattening, form and shrink encodings, and their decoders.
//! - [`error`]: error bodies, retry classification, hints, [`crate::backend::BackendError`] kinds.
//! - [`client`]: the blocking ureq client with time-bounded retries, an adaptive concurrency cap,
//!   a circuit breaker and an API-call counter.
//! - [`credentials`]: access keys from the environment, redacted in `Debug`.
//!
//! On top of the wire layer, [`AliyunBackend`] implements [`crate::backend::Backend`]:
//! [`backend`] (construction, bulk reads, paging, secrets file, ledger), [`modelstudio`],
//! [`ram`] and [`pai`] (one file per API: what is read, and how each change is made).

pub mod backend;
pub mod client;
pub mod credentials;
pub mod encoding;
pub mod error;
mod idempotent;
mod ledger;
pub mod modelstudio;
pub mod pai;
pub mod ram;
pub mod signing;
pub mod verify;

pub use backend::AliyunBackend;
pub use client::{
    Body, BreakerPolicy, CallOptions, Client, ClientConfig, Endpoint, Method, Product, RequestSpec,
    RetryPolicy,
};
pub use credentials::{Credentials, CredentialsError};
pub use error::{AccessDenied, ApiError, CallError, ErrorKind};
pub use signing::Signer;
pub use verify::{AccessKeyId, NonceCache, VerifyError, VerifyOptions};

#[cfg(test)]
mod tests;
