//! The Alibaba Cloud wire contract both sides of msctl speak: ACS3-HMAC-SHA256 signing, its
//! verification, the SDKs' parameter encodings, access-key credentials and the products' versions
//! and hosts (`shared/api/alibaba-api.md`).
//!
//! The `aliyun` backend's client signs and encodes with it; the emulator verifies and decodes
//! with it. Both going through one [`signing`] means they cannot drift apart on
//! canonicalisation, and neither depends on the other.
//!
//! - [`signing`]: the canonical request, string to sign and signature, and the [`signing::Signer`].
//! - [`verify`]: the server-side signature check, with time window and nonce cache.
//! - [`encoding`]: flattening, form and shrink encodings, and their decoders.
//! - [`credentials`]: access keys from the environment, redacted in `Debug`.
//! - [`product`]: each product's API version and default host.

pub mod credentials;
pub mod encoding;
pub mod product;
pub mod signing;
pub mod verify;

pub use credentials::{Credentials, CredentialsError};
pub use product::Product;
pub use signing::Signer;
pub use verify::{AccessKeyId, NonceCache, VerifyError, VerifyOptions};
