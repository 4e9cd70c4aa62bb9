//! Access-key credentials for signing, read from the environment, never shown in output; and
//! who they belong to (STS `GetCallerIdentity`), which decides who owns the API keys they create.
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
        "failed to read Alibaba Cloud credentials: {} not set\nhint: export {} (and {} for an STS token)",
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

/// Who a set of credentials belongs to, as STS `GetCallerIdentity` answers (2015-04-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `Account` (the account's own access key), `RAMUser`, or `AssumedRoleUser` (an STS token).
    pub identity_type: String,
    pub account_id: String,
    /// What `createdBy` of an API key this identity creates holds: the RAM user's id, or the
    /// account's UID for the account's own key.
    pub user_id: String,
    /// `acs:ram::<account>:root`, `acs:ram::<account>:user/<name>`, or
    /// `acs:ram::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
}

/// Why a `GetCallerIdentity` answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read the caller identity from STS: the answer has no `{0}`")]
pub struct IdentityError(&'static str);

impl CallerIdentity {
    /// Reads a `GetCallerIdentity` response body.
    pub fn from_response(body: &serde_json::Value) -> Result<Self, IdentityError> {
        let field = |name: &'static str| {
            body.get(name)
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.trim().to_string()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .ok_or(IdentityError(name))
        };
        Ok(CallerIdentity {
            identity_type: field("IdentityType")?,
            account_id: field("AccountId")?,
            user_id: field("UserId")?,
            arn: field("Arn")?,
        })
    }

    /// The RAM user name, for a RAM user's access key (from its Arn).
    pub fn ram_user(&self) -> Option<&str> {
        if self.identity_type != "RAMUser" {
            return None;
        }
        let (_, name) = self.arn.rsplit_once(":user/")?;
        // A user path (`user/dir/alice`) ends in the name.
        let name = name.rsplit('/').next().unwrap_or(name);
        (!name.is_empty()).then_some(name)
    }
}

/// How the `createdBy` of an API key reads as its owner, from what is known about who msctl's
/// credentials are. Used only when `createdBy` is not a listed RAM user's id.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyCreators<'a> {
    /// `--caller`: the RAM user the operator says the credentials act for.
    pub flag: Option<&'a str>,
    /// STS's answer for the credentials; `None` when it gave none.
    pub identity: Option<&'a CallerIdentity>,
    /// The identity an earlier apply recorded in the ledger (`createdBy` id, owner name).
    pub recorded: Option<(&'a str, &'a str)>,
}

impl<'a> KeyCreators<'a> {
    /// The owner of a key made by `created_by`: `None` when nothing known names it (the key's
    /// owner is then unknown, and never compared).
    pub fn owner_of(&self, created_by: &'a str) -> Option<&'a str> {
        let recorded = self
            .recorded
            .filter(|(id, _)| *id == created_by)
            .map(|(_, name)| name);
        match self.identity {
            // These credentials made it: `--caller` overrides, else the RAM user STS names,
            // else what an earlier apply recorded, else the identity itself (the account's
            // UID or a role session: known, and no RAM user).
            Some(me) if me.user_id == created_by => Some(
                self.flag
                    .or(me.ram_user())
                    .or(recorded)
                    .unwrap_or(created_by),
            ),
            // Someone else that is no listed RAM user (the account, a deleted user, a role):
            // known by its id.
            Some(_) => Some(recorded.unwrap_or(created_by)),
            // Who the credentials are is unknown: the operator's word covers what they made,
            // then the ledger's record; otherwise the owner is unknown, not guessed.
            None => self.flag.or(recorded),
        }
    }

    /// The RAM user the credentials act as, for deciding which keys the API can create.
    pub fn caller(&self) -> Option<&'a str> {
        self.flag
            .or(self.identity.and_then(CallerIdentity::ram_user))
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

    fn identity(kind: &str, user_id: &str, arn: &str) -> CallerIdentity {
        CallerIdentity::from_response(&serde_json::json!({
            "RequestId": "r", "IdentityType": kind, "AccountId": "100",
            "UserId": user_id, "PrincipalId": user_id, "Arn": arn,
        }))
        .unwrap()
    }

    #[test]
    fn caller_identity_names_ram_users_only() {
        let alice = identity("RAMUser", "200", "acs:ram::100:user/alice");
        assert_eq!(alice.ram_user(), Some("alice"));
        let pathed = identity("RAMUser", "201", "acs:ram::100:user/ops/bob");
        assert_eq!(pathed.ram_user(), Some("bob"));
        let root = identity("Account", "100", "acs:ram::100:root");
        assert_eq!(root.ram_user(), None);
        let role = identity("AssumedRoleUser", "300:s", "acs:ram::100:assumed-role/ci/s");
        assert_eq!(role.ram_user(), None);
        let err =
            CallerIdentity::from_response(&serde_json::json!({"AccountId": "1"})).unwrap_err();
        assert_eq!(err, IdentityError("IdentityType"));
    }

    #[test]
    fn key_owners_are_known_or_unknown_never_guessed() {
        let root = identity("Account", "100", "acs:ram::100:root");
        let alice = identity("RAMUser", "200", "acs:ram::100:user/alice");
        // No identity, no flag, no record: unknown.
        let none = KeyCreators::default();
        assert_eq!(none.owner_of("100"), None);
        assert_eq!(none.caller(), None);
        // The ledger's record names what an earlier apply made, and nothing else.
        let recorded = KeyCreators {
            recorded: Some(("100", "alice")),
            ..KeyCreators::default()
        };
        assert_eq!(recorded.owner_of("100"), Some("alice"));
        assert_eq!(recorded.owner_of("101"), None);
        assert_eq!(recorded.caller(), None);
        // STS: a RAM user's keys are that user's; the account's own keys are the account's,
        // unless `--caller` or the record says otherwise.
        let me = KeyCreators {
            identity: Some(&alice),
            ..KeyCreators::default()
        };
        assert_eq!(me.owner_of("200"), Some("alice"));
        assert_eq!(me.owner_of("100"), Some("100"));
        assert_eq!(me.caller(), Some("alice"));
        let account = KeyCreators {
            identity: Some(&root),
            recorded: Some(("100", "alice")),
            ..KeyCreators::default()
        };
        assert_eq!(account.owner_of("100"), Some("alice"));
        assert_eq!(account.caller(), None);
        let flagged = KeyCreators {
            flag: Some("bob"),
            identity: Some(&root),
            recorded: Some(("100", "alice")),
        };
        assert_eq!(flagged.owner_of("100"), Some("bob"));
        assert_eq!(flagged.owner_of("555"), Some("555"));
        assert_eq!(flagged.caller(), Some("bob"));
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
