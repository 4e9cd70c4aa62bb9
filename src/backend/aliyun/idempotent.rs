//! Creates that survive lost answers (issue 8), and API-key secrets that survive a killed run
//! (issue 14).
//!
//! A create whose answer never came (a dropped connection, a timeout, a 5xx) may or may not have
//! been executed. Retrying it blindly makes a second object where names are not unique (API keys
//! are numbered by the platform). So a create is sent without the client's automatic retry of
//! ambiguous failures ([`CallOptions::NO_AMBIGUOUS_RETRY`]); after one, the caller's `find` looks
//! for what the attempt may have made and adopts it, and only when nothing is found is the create
//! sent again. A conflict answer (`EntityAlreadyExists.*`, `Workspace.AlreadyExists`) to a retry
//! after an ambiguous attempt means the first attempt went through: the object is adopted. A
//! conflict without an ambiguous attempt before it is someone else's object and stays an error.
//!
//! Secrets: with `--secrets-to`, the ledger records that a key's secret is owed before the key is
//! created, and clears the record once the secret is written. A record left behind by a killed
//! run is settled by the next apply ([`AliyunBackend::deliver_owed`]): the key is reset
//! (`ResetApiKey`) and the new secret written; without `--secrets-to` the plan names the key.

use std::time::Duration;

use serde_json::Value;

use super::base::AliyunBackend;
use super::client::{CallOptions, Method, Product, RequestSpec};
use super::error::ErrorKind;
use super::ids::MsWorkspace;
use super::json::{field, int, string};
use super::modelstudio::decode_key_description;
use crate::backend::{Backend as _, BackendError, OwedSecret, SecretDelivery};
use crate::model::Address;

/// How a create ended.
#[derive(Debug)]
pub(super) enum Created<T> {
    /// The create's own answer.
    New(Value),
    /// What an earlier attempt made, found after its answer was lost.
    Adopted(T),
}

impl AliyunBackend {
    /// Sends a create, looking for what an attempt may have made (`find`) after each ambiguous
    /// failure before sending it again. Attempts are bounded by the client's retry policy.
    pub(super) fn create_idempotent<T>(
        &self,
        spec: &RequestSpec,
        mut find: impl FnMut() -> Result<Option<T>, BackendError>,
    ) -> Result<Created<T>, BackendError> {
        let policy = self.client.retry_policy();
        let mut ambiguous = false;
        let mut attempt = 1u32;
        loop {
            match self.client.call_with(spec, CallOptions::NO_AMBIGUOUS_RETRY) {
                Ok(body) => return Ok(Created::New(body)),
                Err(e) if e.is_ambiguous() => {
                    ambiguous = true;
                    if let Some(found) = find()? {
                        return Ok(Created::Adopted(found));
                    }
                    if attempt >= policy.max_attempts.max(1) {
                        return Err(e.into());
                    }
                    std::thread::sleep(backoff(policy.base_delay, policy.max_delay, attempt));
                    attempt += 1;
                }
                // Only after an ambiguous attempt: then the existing object is that attempt's.
                Err(e) if ambiguous && e.kind() == ErrorKind::Conflict => {
                    return match find()? {
                        Some(found) => Ok(Created::Adopted(found)),
                        None => Err(e.into()),
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The key named `name` in `ws` that an attempt made: one carrying msctl's name that is not
    /// `before` (the key of that name known before the attempt, if any); the lowest such id, as
    /// reads keep the lowest.
    pub(super) fn find_new_key(
        &self,
        ws: &MsWorkspace,
        name: &str,
        before: Option<i64>,
    ) -> Result<Option<i64>, BackendError> {
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "ListApiKeys",
            Method::Get,
            "/modelstudio/apikeys",
        )
        .region(ws.region.clone())
        .query("workspaceId", ws.id.clone());
        Ok(self
            .ms_pages(&spec, 100, "apiKeys")?
            .iter()
            .filter(|k| string(k, &["workspaceId"]).is_none_or(|id| id == ws.id))
            .filter(|k| {
                string(k, &["description"])
                    .and_then(|d| decode_key_description(&d))
                    .is_some_and(|(n, _)| n == name)
            })
            .filter_map(|k| int(k, &["apiKeyId"]))
            .filter(|id| Some(*id) != before)
            .min())
    }

    /// Issues a new secret for key `id` (`ResetApiKey`) and returns it. Retrying a reset whose
    /// answer was lost is safe: each reset replaces the secret, and the answer that arrives is
    /// the current one.
    pub(super) fn reset_api_key(&self, ws: &MsWorkspace, id: i64) -> Result<String, BackendError> {
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "ResetApiKey",
            Method::Put,
            format!("/modelstudio/apikeys/{id}/reset"),
        )
        .region(ws.region.clone());
        let body = self.settled(&id.to_string(), || self.call(&spec))?;
        let key = field(&body, &["apiKey"]).cloned().unwrap_or(Value::Null);
        string(&key, &["apiKeyValue"])
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                BackendError::Transport(
                    "failed to read the answer to `ResetApiKey`: no `apiKeyValue`".to_string(),
                )
            })
    }

    /// Records that the secret of the key at `address` is owed (before its create), with its id
    /// once known.
    pub(super) fn owe_secret(
        &self,
        address: &str,
        key_id: Option<i64>,
    ) -> Result<(), BackendError> {
        self.ledger_file()
            .set_owed(address, Some(OwedSecret { key_id }))
    }

    /// Writes a key's secret to the secrets file, then clears what it owed.
    pub(super) fn deliver_secret(&self, address: &str, secret: &str) -> Result<(), BackendError> {
        self.keep_secret(address, secret)?;
        self.ledger_file().set_owed(address, None)
    }

    /// Settles the secrets earlier runs owed: see
    /// [`crate::backend::Backend::deliver_owed_secrets`].
    pub(super) fn deliver_owed(&self) -> Result<SecretDelivery, BackendError> {
        let owed = self.load_ledger()?.owed_secrets;
        let mut report = SecretDelivery::default();
        for (address, record) in owed {
            let Ok(Address::ApiKey { workspace, name }) = address.parse::<Address>() else {
                // Not a key's address: nothing msctl could deliver.
                self.ledger_file().set_owed(&address, None)?;
                continue;
            };
            let ws = match self.workspace(&workspace) {
                Ok(ws) => ws,
                Err(BackendError::NotFound(_)) => {
                    self.ledger_file().set_owed(&address, None)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let id = match record.key_id {
                Some(id) => Some(id),
                None => match self.api_key_id(&workspace, &name) {
                    Ok(id) => Some(id),
                    Err(BackendError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                },
            };
            let Some(id) = id else {
                // The create never happened: nothing is owed.
                self.ledger_file().set_owed(&address, None)?;
                continue;
            };
            if !self.keeps_secrets() {
                report.owed.push(address);
                continue;
            }
            match self.reset_api_key(&ws, id) {
                Ok(secret) => {
                    self.deliver_secret(&address, &secret)?;
                    report.delivered.push(address);
                }
                // Deleted since: nothing is owed.
                Err(BackendError::NotFound(_)) => self.ledger_file().set_owed(&address, None)?,
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}

/// "Full jitter" backoff before resending a create: uniform in
/// `[0, min(max, base · 2^(attempt-1))]`.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(max);
    let mut bytes = [0u8; 8];
    let fraction = if getrandom::fill(&mut bytes).is_ok() {
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    } else {
        0.5
    };
    ceiling.mul_f64(fraction)
}
