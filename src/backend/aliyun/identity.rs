//! Who a set of access-key credentials belongs to (STS `GetCallerIdentity`), which decides who
//! owns the API keys they create.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
