//! STS 2015-04-01 `GetCallerIdentity`: who the emulator's one access key belongs to.
//!
//! The contract has no STS section; this follows the public API (RPC, `POST /`, no parameters):
//! `AccountId`, `UserId`, `Arn`, `IdentityType` and `PrincipalId`. The access key is the
//! account's own (`IdentityType` `Account`, Arn `acs:ram::<uid>:root`) unless the emulator was
//! told it belongs to a RAM user ([`super::EmulatorConfig::caller_user`]): then it is that user
//! (`RAMUser`, Arn `acs:ram::<uid>:user/<name>`), and a key of a user that no longer exists is
//! refused as the platform refuses a deleted user's access key.

use serde_json::{Value, json};

use super::wire::Failure;
use super::{Call, Ctx, Route};
use crate::backend::BackendError;

pub(crate) const ROUTES: &[Route] = &[Route {
    action: "GetCallerIdentity",
    method: "POST",
    path: "/",
}];

pub(crate) fn handle(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    match call.action {
        "GetCallerIdentity" => caller_identity(ctx),
        other => unreachable!("`{other}` passed routing but is not an STS action"),
    }
}

fn caller_identity(ctx: &mut Ctx<'_>) -> Result<Value, Failure> {
    let account = ctx.account_uid;
    let Some(name) = ctx.caller_user else {
        return Ok(json!({
            "IdentityType": "Account",
            "AccountId": account,
            "UserId": account,
            "PrincipalId": account,
            "Arn": format!("acs:ram::{account}:root"),
        }));
    };
    let user = ctx.store.user(name).map_err(|e| match e {
        BackendError::NotFound(_) => Failure::new(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ),
        other => super::wire::from_backend(
            other,
            super::wire::Codes::new(
                "InvalidAccessKeyId.NotFound",
                "InternalError",
                "InternalError",
                "InternalError",
            ),
        ),
    })?;
    Ok(json!({
        "IdentityType": "RAMUser",
        "AccountId": account,
        "UserId": user.id,
        "PrincipalId": user.id,
        "Arn": format!("acs:ram::{account}:user/{}", user.name),
    }))
}
