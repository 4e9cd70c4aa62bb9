//! Access-key credentials for ACS3 signing, read from the environment, never shown in output.
//!
//! Only step 1 of the official credential chain (contract §6) is implemented: the three
//! `ALIBABA_CLOUD_*` environment variables. Every other source (CLI profile, INI file, ECS role)
//! ends in the same three values, so it can be added later without touching the signer.

use std::fmt;

/// Environment variable holding the access key id.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable holding the access key secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable holding an STS security token (optional).
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// An access key pair, plus an STS token when the key is temporary.
///
/// The fields are private so the secret and token can only leave through [`Credentials::secret`]
/// and [`Credentials::security_token`], which the signer alone calls; `Debug` redacts both.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

/// Why credentials could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// Required variables are unset or empty; holds their names (never their values).
    #[error(
        "failed to read Alibaba Cloud credentials: {} not set\n\
            hint: export {} (and {} for an STS token)",
        .0.join(" and "),
        .0.join(", "),
        ENV_SECURITY_TOKEN
    )]
    Missing(Vec<&'static str>),
}

impl Credentials {
    /// Long-lived access key (no token).
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
        }
    }

    /// Temporary STS credentials: the token travels in `x-acs-security-token`.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }

    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and, optionally,
    /// `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Credentials::from_env`] over any variable source, so tests need not mutate the process
    /// environment. Empty values count as unset, as a blank `export X=` in CI is a mistake.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let id = get(ENV_ACCESS_KEY_ID);
        let secret = get(ENV_ACCESS_KEY_SECRET);
        let mut missing = Vec::new();
        if id.is_none() {
            missing.push(ENV_ACCESS_KEY_ID);
        }
        if secret.is_none() {
            missing.push(ENV_ACCESS_KEY_SECRET);
        }
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Self {
                access_key_id: id,
                access_key_secret: secret,
                security_token: get(ENV_SECURITY_TOKEN),
            }),
            _ => Err(CredentialsError::Missing(missing)),
        }
    }

    /// The access key id: not a secret (it is sent in every `Authorization` header).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub(crate) fn secret(&self) -> &str {
        &self.access_key_secret
    }

    pub(crate) fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn reads_key_pair_and_optional_token() {
        let creds = Credentials::from_lookup(vars(&[
            (ENV_ACCESS_KEY_ID, "AKID"),
            (ENV_ACCESS_KEY_SECRET, "s3cret"),
        ]))
        .unwrap();
        assert_eq!(creds.access_key_id(), "AKID");
        assert_eq!(creds.security_token(), None);

        let sts = Credentials::from_lookup(vars(&[
            (ENV_ACCESS_KEY_ID, "STS.AK"),
            (ENV_ACCESS_KEY_SECRET, "s3cret"),
            (ENV_SECURITY_TOKEN, "tok"),
        ]))
        .unwrap();
        assert_eq!(sts.security_token(), Some("tok"));
    }

    #[test]
    fn missing_variables_are_named() {
        let err = Credentials::from_lookup(vars(&[(ENV_ACCESS_KEY_SECRET, "s3cret")])).unwrap_err();
        assert_eq!(err, CredentialsError::Missing(vec![ENV_ACCESS_KEY_ID]));
        let text = err.to_string();
        assert!(
            text.contains("ALIBABA_CLOUD_ACCESS_KEY_ID not set"),
            "{text}"
        );
        assert!(!text.contains("s3cret"));

        let err = Credentials::from_lookup(vars(&[(ENV_ACCESS_KEY_ID, " ")])).unwrap_err();
        assert_eq!(
            err,
            CredentialsError::Missing(vec![ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET])
        );
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let creds = Credentials::new("AKID", "topsecret").with_security_token("tokentoken");
        let text = format!("{creds:?}");
        assert!(text.contains("AKID"));
        assert!(!text.contains("topsecret"), "{text}");
        assert!(!text.contains("tokentoken"), "{text}");
    }
}
