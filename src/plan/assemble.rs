//! Plan assembly: the diff, the dependency links, the summary, the access changes and the
//! fingerprints, into one [`Plan`]. Preview, apply, drift and saved-plan checks all call
//! [`assemble`], so a plan shows exactly what apply does.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Change, DiffOptions, FORMAT_VERSION, Plan, RenameConflict, Source, Summary};
use crate::backend::{Backend, Ledger, OwedSecret};
use crate::model::State;

/// What a plan is computed from.
pub struct PlanInput<'a> {
    pub desired: &'a State,
    pub live: &'a State,
    /// Where `desired` came from.
    pub source: Source,
    /// `safety.prune_ram`: undeclared RAM objects are deleted.
    pub prune_ram: bool,
    /// msctl's ledger in the backend: what it owns, secrets it owes, keys rotated out.
    pub ledger: &'a Ledger,
    /// The time the plan is made at (seconds since the epoch): key ages and overlaps count to
    /// it.
    pub now: i64,
}

/// Why no plan could be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError<E> {
    /// The changes cannot be ordered (`link` failed).
    #[error("{0}")]
    Link(E),
    /// A declared rename cannot be carried out: both of its names exist live.
    #[error("{}", rename_conflicts(.0))]
    Renames(Vec<RenameConflict>),
}

fn rename_conflicts(conflicts: &[RenameConflict]) -> String {
    let texts: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    texts.join("\n")
}

/// Computes the plan of `input` against the backend's capabilities and identity. `link` orders
/// the changes (`graph::link`: the graph layer sits above this one, as it orders plan changes).
pub fn assemble<E>(
    input: PlanInput<'_>,
    backend: &dyn Backend,
    link: impl FnOnce(&mut [Change]) -> Result<(), E>,
) -> Result<Plan, AssembleError<E>> {
    let options = DiffOptions {
        prune_ram: input.prune_ram,
        owned: input.ledger.owned.clone(),
        caller: backend.caller(),
        rotations: super::rotation::Rotations::of(
            input.desired,
            input.live,
            &input.ledger.retiring,
            input.now,
        ),
    };
    let mut diff = super::diff(input.desired, input.live, &options, &backend.capabilities());
    if !diff.conflicts.is_empty() {
        return Err(AssembleError::Renames(diff.conflicts));
    }
    diff.warnings
        .extend(undelivered_secrets(&input.ledger.owed_secrets, input.live));
    link(&mut diff.changes).map_err(AssembleError::Link)?;
    let changes = diff.changes;
    let summary = Summary::of(&changes);
    // Access is compared with the renames done: a renamed principal keeps what it could do.
    let planned = super::renames::renames(input.desired, input.live).planned;
    let access = super::access::access_changes(&input.live.renamed(&planned), &changes);
    Ok(Plan {
        format_version: FORMAT_VERSION.to_string(),
        msctl_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: backend.name().to_string(),
        source: input.source,
        changes,
        unmanaged: diff.unmanaged,
        warnings: diff.warnings,
        summary,
        live_fingerprint: fingerprint(input.live),
        api_calls: backend.api_calls(),
        api_calls_by_operation: backend.api_calls_by_operation(),
        managed_live: diff.managed_live,
        access,
        snapshot: None,
    })
}

/// SHA-256 of the live state: a saved plan applies only to the state it was computed from.
pub fn fingerprint(live: &State) -> String {
    let bytes = serde_json::to_vec(live).expect("live state serialises");
    hex::encode(Sha256::digest(bytes))
}

/// Warnings for API keys that exist but whose secret a run owed and never wrote (issue 14):
/// addresses only, never secrets.
fn undelivered_secrets(owed: &BTreeMap<String, OwedSecret>, live: &State) -> Vec<String> {
    owed.keys()
        // A lookup per owed key, not a scan of the live state: an unparsable record names no key.
        .filter(|address| {
            address
                .parse::<crate::model::Address>()
                .is_ok_and(|a| live.resources.contains_key(&a))
        })
        .map(|address| {
            format!(
                "API key `{address}` has an undelivered secret: a run created it but stopped \
                 before writing its secret; `msctl apply --secrets-to FILE` resets the key and \
                 writes the new secret"
            )
        })
        .collect()
}
