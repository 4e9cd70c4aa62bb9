//! Safety rails: plans that would do lasting damage are refused unless a flag opts in.
//!
//! Three rails, after octoDNS (`plan.py`: a share of existing records) and peribolos (minimum
//! administrators): destroying workspaces, RAM users or duplicates (a second live object at one
//! address, see `Address::Duplicate`) needs `--allow-delete`; touching more
//! than a share of the managed objects, or leaving a workspace without an administrator, needs
//! `--force`. Every refusal names the addresses that tripped it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use super::{Action, Change};
use crate::model::{Address, Principal, Resource, State};

/// Which rails are lifted, and where the share rail sits.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyOptions {
    /// Allow deleting or replacing workspaces (Model Studio and PAI) and RAM users.
    pub allow_delete: bool,
    /// Allow large plans and removing a workspace's last administrator.
    pub force: bool,
    /// Share of existing managed objects a plan may update, replace or delete (octoDNS: 30%).
    pub max_change_share: f64,
    /// The share rail applies once there are this many managed objects (octoDNS: 10).
    pub min_existing: usize,
    /// Existing managed objects (`Diff::managed_live`). `None` counts every live object, which
    /// dilutes the share when much of the account is unmanaged.
    pub managed_live: Option<usize>,
    /// API keys rotated out (`ADDRESS#ID`, see `Ledger::retiring`): their deletion after the
    /// overlap is what `rotate_after` and `overlap` declare, so it needs no `--allow-delete`.
    pub rotated_out: BTreeSet<Address>,
}

impl Default for SafetyOptions {
    fn default() -> Self {
        SafetyOptions {
            allow_delete: false,
            force: false,
            max_change_share: 0.3,
            min_existing: 10,
            managed_live: None,
            rotated_out: BTreeSet::new(),
        }
    }
}

/// Which rail refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rail {
    Delete,
    ChangeShare,
    LastAdministrator,
}

/// One refused part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub rail: Rail,
    /// The changes that tripped the rail, in plan order.
    pub addresses: Vec<Address>,
    /// What would happen, lowercase, without the addresses.
    pub message: String,
    /// The command-line flag that lifts the rail.
    pub flag: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A large plan could list thousands of addresses: show the first few.
        const SHOWN: usize = 10;
        write!(f, "refusing to {}:", self.message)?;
        for a in self.addresses.iter().take(SHOWN) {
            write!(f, " `{a}`")?;
        }
        if self.addresses.len() > SHOWN {
            write!(f, " and {} more", self.addresses.len() - SHOWN)?;
        }
        write!(f, "\nhint: review the plan, then pass `{}`", self.flag)
    }
}

/// Checks `changes` against the rails; `live` is the state the plan was computed from.
pub fn check(
    changes: &[Change],
    live: &State,
    options: &SafetyOptions,
) -> Result<(), Vec<Refusal>> {
    let mut refusals = Vec::new();

    if !options.allow_delete {
        let destroyed: Vec<Address> = changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .filter(|c| !options.rotated_out.contains(&c.address))
            .filter(|c| {
                matches!(
                    c.address,
                    Address::Workspace { .. }
                        | Address::PaiWorkspace { .. }
                        | Address::RamUser { .. }
                        // An extra live object at one address: a live credential, maybe in use.
                        | Address::Duplicate { .. }
                )
            })
            .map(|c| c.address.clone())
            .collect();
        if !destroyed.is_empty() {
            refusals.push(Refusal {
                rail: Rail::Delete,
                message: format!(
                    "delete or replace {} workspace(s), RAM user(s) or duplicate \
                            object(s), which destroys API keys for good",
                    destroyed.len()
                ),
                addresses: destroyed,
                flag: "--allow-delete",
            });
        }
    }

    if !options.force {
        let existing = options.managed_live.unwrap_or(live.len());
        let touched: Vec<Address> = changes
            .iter()
            // A rotation adds a key, like a create.
            .filter(|c| !matches!(c.action, Action::Create | Action::Rotate))
            .map(|c| c.address.clone())
            .collect();
        if existing >= options.min_existing
            && touched.len() as f64 > options.max_change_share * existing as f64
        {
            refusals.push(Refusal {
                rail: Rail::ChangeShare,
                message: format!(
                    "change or delete {} of {existing} managed objects ({:.0}%, above \
                            the {:.0}% limit)",
                    touched.len(),
                    100.0 * touched.len() as f64 / existing as f64,
                    100.0 * options.max_change_share
                ),
                addresses: touched,
                flag: "--force",
            });
        }
        refusals.extend(last_administrators(changes, live));
    }

    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

/// Workspaces that have an administrator live and would have none after the plan.
fn last_administrators(changes: &[Change], live: &State) -> Vec<Refusal> {
    let mut admins: HashMap<&str, BTreeSet<&Principal>> = HashMap::new();
    for r in live.resources.values() {
        if let Resource::Member(m) = r
            && m.administrator
        {
            admins.entry(&m.workspace).or_default().insert(&m.principal);
        }
    }
    let deleted_workspaces: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .filter_map(|c| match &c.address {
            Address::Workspace { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    // Workspace -> the member changes that took an administrator away, in plan order.
    let mut removed: HashMap<&str, Vec<Address>> = HashMap::new();
    for c in changes {
        let Address::Member {
            workspace,
            principal,
        } = &c.address
        else {
            continue;
        };
        let Some(set) = admins.get_mut(workspace.as_str()) else {
            continue;
        };
        let stays_admin = matches!(&c.after, Some(Resource::Member(m)) if m.administrator);
        if stays_admin {
            set.insert(principal);
        } else if set.remove(principal) {
            removed
                .entry(workspace.as_str())
                .or_default()
                .push(c.address.clone());
        }
    }
    let mut out: Vec<Refusal> = removed
        .into_iter()
        .filter(|(ws, _)| !deleted_workspaces.contains(ws))
        .filter(|(ws, _)| admins.get(ws).is_some_and(BTreeSet::is_empty))
        .map(|(ws, addresses)| Refusal {
            rail: Rail::LastAdministrator,
            message: format!("remove the last Administrator of workspace `{ws}`"),
            addresses,
            flag: "--force",
        })
        .collect();
    out.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Capabilities;
    use crate::plan::{DiffOptions, diff};
    use crate::testing::*;

    fn plan(desired: &State, live: &State) -> Vec<Change> {
        diff(
            desired,
            live,
            &DiffOptions::default(),
            &Capabilities::full(),
        )
        .changes
    }

    #[test]
    fn deleting_a_ram_user_needs_allow_delete() {
        let live = rich_state();
        let mut desired = live.clone();
        desired.resources.remove(&user("carol").address());
        let options = DiffOptions {
            owned: [user("carol").address()].into(),
            ..DiffOptions::default()
        };
        let changes = diff(&desired, &live, &options, &Capabilities::full()).changes;
        let err = check(&changes, &live, &SafetyOptions::default()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].rail, Rail::Delete);
        assert_eq!(err[0].addresses, vec![user("carol").address()]);
        let text = err[0].to_string();
        assert!(text.contains("`ram.user.carol`"), "{text}");
        assert!(text.contains("--allow-delete"), "{text}");
        let allowed = SafetyOptions {
            allow_delete: true,
            ..SafetyOptions::default()
        };
        assert_eq!(check(&changes, &live, &allowed), Ok(()));
    }

    #[test]
    fn replacing_a_workspace_needs_allow_delete() {
        let live = rich_state();
        let mut desired = live.clone();
        desired.insert(workspace("chatbot-prod", "us-east-1"));
        let changes = plan(&desired, &live);
        let err = check(&changes, &live, &SafetyOptions::default()).unwrap_err();
        assert_eq!(err[0].rail, Rail::Delete);
        assert_eq!(
            err[0].addresses,
            vec![workspace("chatbot-prod", "x").address()]
        );
    }

    #[test]
    fn large_share_of_changes_needs_force() {
        let live = rich_state();
        assert!(live.len() >= 10);
        // Nine of 25 objects change (36%): every permission, limit, member and key.
        let desired: State = live
            .resources
            .values()
            .cloned()
            .map(|mut r| {
                match &mut r {
                    Resource::ModelPermission(m) => m.deploy = true,
                    Resource::ModelLimit(l) => l.requests += 1,
                    Resource::Member(m) => {
                        m.pages.insert("DataManagement-FullAccess".into());
                    }
                    Resource::ApiKey(k) => k.description.push('!'),
                    _ => {}
                }
                r
            })
            .collect();
        let changes = plan(&desired, &live);
        let options = SafetyOptions {
            allow_delete: true,
            ..SafetyOptions::default()
        };
        let err = check(&changes, &live, &options).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].rail, Rail::ChangeShare);
        assert!(err[0].to_string().contains("--force"));
        assert_eq!(err[0].addresses.len(), changes.len());
        let forced = SafetyOptions {
            force: true,
            ..options
        };
        assert_eq!(check(&changes, &live, &forced), Ok(()));
    }

    #[test]
    fn the_share_rail_waits_for_ten_objects() {
        let live: State = [workspace("a", "cn-beijing"), member("a", "x", true)]
            .into_iter()
            .collect();
        let desired: State = [workspace("a", "cn-beijing"), member("a", "x", false)]
            .into_iter()
            .collect();
        let changes = plan(&desired, &live);
        // One of two objects changes (50%), but there are fewer than ten; the admin rail trips.
        let err = check(&changes, &live, &SafetyOptions::default()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].rail, Rail::LastAdministrator);
    }

    #[test]
    fn removing_the_last_administrator_needs_force() {
        let live = rich_state();
        let mut desired = live.clone();
        // chatbot-prod has one administrator, alice.
        desired
            .resources
            .remove(&member("chatbot-prod", "alice", true).address());
        let changes = plan(&desired, &live);
        let err = check(&changes, &live, &SafetyOptions::default()).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].rail, Rail::LastAdministrator);
        assert_eq!(
            err[0].to_string(),
            "refusing to remove the last Administrator of workspace `chatbot-prod`: \
             `workspace.chatbot-prod.member.alice`\nhint: review the plan, then pass `--force`"
        );

        // Promoting someone else in the same plan keeps the workspace administered.
        desired.insert(member("chatbot-prod", "bob", true));
        let changes = plan(&desired, &live);
        assert_eq!(check(&changes, &live, &SafetyOptions::default()), Ok(()));
    }
}
