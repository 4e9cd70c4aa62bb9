//! Declared renames (`renamed_from`) against live state: which ones the plan carries out, which
//! are done already, and which cannot be (both names live).
//!
//! A planned rename is one in-place change of the user or group; everything that names it
//! (group memberships, policy attachments, workspace and PAI memberships, API-key owners) is
//! compared under the new name ([`State::renamed`]), so none of it is deleted and recreated.

use crate::model::{Address, Rename, State};

/// Both the old and the new name of a declared rename exist live: which one is the object to
/// keep is a person's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed to plan the rename of `{from}` to `{to}` (`renamed_from`): both exist live\n\
     hint: the rename was done and the old name made again, or both were made by hand; move \
     what you need to `{to}`, then delete `{from}` by hand, or remove `renamed_from` to manage \
     `{to}` alone"
)]
pub struct RenameConflict {
    pub from: Address,
    pub to: Address,
}

/// What the declared renames mean against one live state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    /// The old name is live and the new one is not: the plan renames it.
    pub planned: Vec<Rename>,
    /// Both names are live: the plan is refused.
    pub conflicts: Vec<RenameConflict>,
}

/// Sorts `desired`'s renames by what `live` holds. A rename whose old name is not live is done
/// already (or was never needed) and is no change, so a config may keep its `renamed_from`.
pub fn renames(desired: &State, live: &State) -> Renames {
    let mut out = Renames::default();
    for (to, from) in &desired.renames {
        let Some(rename) = Rename::between(from, to) else {
            continue;
        };
        match (live.get(from).is_some(), live.get(to).is_some()) {
            (true, false) => out.planned.push(rename),
            (true, true) => out.conflicts.push(RenameConflict {
                from: from.clone(),
                to: to.clone(),
            }),
            (false, _) => {}
        }
    }
    out
}

/// The renames a config has already carried out: the new name is live and the old one is not.
/// The ledger's records under the old name are carried over to the new one for these.
pub fn done(desired: &State, live: &State) -> Vec<Rename> {
    desired
        .renames
        .iter()
        .filter(|(to, from)| live.get(to).is_some() && live.get(from).is_none())
        .filter_map(|(to, from)| Rename::between(from, to))
        .collect()
}
