//! API-key rotation in a plan (issue 13): which declared keys are past their `rotate_after`,
//! and which rotated-out predecessors are still inside their overlap or past it.
//!
//! A rotation keeps the key's address: the successor is created there (the plan's `rotate`)
//! while the ledger records the predecessor as retiring since that moment; reads then seat the
//! successor at the address and the predecessor at `ADDRESS#ID`
//! ([`State::seat_successors`]). Once the overlap has passed, the plan deletes the predecessor
//! by its id. Neither step is a duplicate-key problem. Key age is the platform's creation time
//! against `now`, which the command layer reads (`MSCTL_NOW` lets tests move it).

use std::collections::BTreeMap;

use crate::ledger::RetiringKey;
use crate::model::rotation::format_duration;
use crate::model::time::utc;
use crate::model::{Address, State};

/// What rotation adds to a diff, by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotations {
    /// Declared keys to rotate now: why (their age against `rotate_after`).
    pub due: BTreeMap<Address, String>,
    /// Rotated-out predecessors (`ADDRESS#ID`) still inside their overlap: when they go.
    pub waiting: BTreeMap<Address, String>,
    /// Rotated-out predecessors (`ADDRESS#ID`) past their overlap: deleted by id, and why.
    pub expired: BTreeMap<Address, String>,
}

impl Rotations {
    /// Rotation of `desired`'s keys against `live` at `now` (seconds since the epoch), given the
    /// ledger's retiring keys.
    pub fn of(
        desired: &State,
        live: &State,
        retiring: &BTreeMap<Address, RetiringKey>,
        now: i64,
    ) -> Rotations {
        let mut out = Rotations::default();
        for (address, r) in retiring {
            let predecessor = Address::Duplicate {
                of: Box::new(address.clone()),
                id: r.id.clone(),
            };
            // Seated apart only when its successor exists; otherwise the rotation never made
            // one, and the key at the address is simply rotated again when due.
            if live
                .live_keys
                .get(&predecessor)
                .is_none_or(|k| k.id != r.id)
            {
                continue;
            }
            let overlap = desired.key_rotation.get(address).map_or(0, |p| p.overlap);
            let ends = r
                .since
                .saturating_add(i64::try_from(overlap).unwrap_or(i64::MAX));
            let when = format!(
                "rotated out at {} (overlap {})",
                utc(r.since),
                format_duration(overlap)
            );
            if now >= ends {
                out.expired.insert(
                    predecessor,
                    format!(
                        "API key `{address}` was {when}, which ended at {}: the predecessor \
                         (id {}) is deleted by its id; clients still using its secret stop \
                         working",
                        utc(ends),
                        r.id
                    ),
                );
            } else {
                out.waiting.insert(
                    predecessor,
                    format!(
                        "API key `{address}` was {when}: its predecessor (id {}) stays \
                         enabled until {}, when an apply deletes it; move clients to the new \
                         secret before then",
                        r.id,
                        utc(ends)
                    ),
                );
            }
        }
        for (address, policy) in &desired.key_rotation {
            let Some(key) = live.live_keys.get(address) else {
                continue;
            };
            let rotating = retiring.get(address).is_some_and(|r| {
                let predecessor = Address::Duplicate {
                    of: Box::new(address.clone()),
                    id: r.id.clone(),
                };
                live.live_keys.contains_key(&predecessor)
            });
            if rotating {
                continue;
            }
            let Some(age) = key.age(now) else { continue };
            if age <= policy.rotate_after {
                continue;
            }
            let overlap = if policy.overlap == 0 {
                "is deleted by the next apply (overlap 0)".to_string()
            } else {
                format!(
                    "stays enabled for the overlap ({}), then an apply deletes it",
                    format_duration(policy.overlap)
                )
            };
            out.due.insert(
                address.clone(),
                format!(
                    "rotates API key `{address}`: it is {} old (rotate_after {}); a successor \
                     with a new secret is created at this address (its secret goes only to \
                     `--secrets-to`), and the current key (id {}) {overlap}",
                    age_text(age),
                    format_duration(policy.rotate_after),
                    key.id
                ),
            );
        }
        out
    }
}

/// An age as days (and hours under a week): `95d`, `2d 3h`, `5h`.
pub fn age_text(secs: u64) -> String {
    let (days, hours) = (secs / 86_400, secs % 86_400 / 3_600);
    match (days, hours) {
        (0, h) => format!("{h}h"),
        (d, h) if d < 7 && h > 0 => format!("{d}d {h}h"),
        (d, _) => format!("{d}d"),
    }
}

#[cfg(test)]
mod tests;
