//! Saved plans (`msctl plan --out FILE`, `msctl apply FILE`): the file format, loading, and the
//! integrity check that holds a saved plan to what its reviewed configuration produces.
//!
//! A plan file is data anyone with write access to a CI artifact can edit, and its checksum is
//! only a SHA-256 of the plan: whoever edits the plan can recompute it. So `apply FILE` trusts
//! nothing in the file but its *inputs* (the commit, or the configuration digest outside git, and
//! the live fingerprint): it rebuilds the plan from the configuration those name, against the
//! live state read now, and applies only when the rebuilt change list is identical
//! ([`first_difference`] names the first change that is not). The checksum stays as what it is:
//! a guard against accidental corruption (a truncated upload, a bad merge), not against forgery.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Action, Change, FORMAT_VERSION, Plan};
use crate::model::{Address, State};

/// The file `plan --out` writes: the plan, a checksum of it, and digests of the plan's inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// SHA-256 of the plan's JSON: detects accidental corruption, not deliberate edits.
    pub checksum: String,
    pub plan: Plan,
    #[serde(flatten)]
    pub inputs: Inputs,
}

/// Digests of what a plan was computed from, beside the commit in its [`super::Source`]. Both
/// are absent in files from older versions (they still parse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// [`config_digest`] of the configuration the plan was made from. Outside git, and for a
    /// plan made from uncommitted changes, it is the only thing naming that configuration:
    /// `apply FILE` rebuilds only from a configuration with this digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// [`ledger_digest`] when the plan was made, so that a plan outdated by another apply or
    /// `ack` is called stale rather than different. Advisory: the rebuild decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_digest: Option<String>,
}

/// Why a saved plan could not be written, read or accepted as a plan file.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("failed to write plan file `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to read plan file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "failed to read plan file `{path}`: it is not a plan file saved by `msctl plan \
                --out` ({source})"
    )]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "plan file `{path}` was modified after it was saved (checksum mismatch); \
                refusing to apply it\nhint: run `msctl plan --out {path}` again and review the \
                new plan"
    )]
    Checksum { path: String },
    #[error(
        "plan file `{path}` has format version {found}, this msctl reads \
                {FORMAT_VERSION}\nhint: run `msctl plan --out {path}` again with this msctl"
    )]
    Version { path: String, found: String },
    #[error(
        "plan file `{path}` records no digest of its configuration (it was saved by an older \
         msctl), and {why}, so nothing ties it to a reviewed configuration; refusing to apply \
         it\nhint: run `msctl plan --out {path}` again and review the new plan"
    )]
    NoConfigDigest { path: String, why: &'static str },
    #[error(
        "{here} is not the one plan file `{path}` was made from (its digest differs); refusing \
         to apply it\nhint: restore that configuration, or run `msctl plan --out {path}` again \
         and review the new plan"
    )]
    ConfigChanged { path: String, here: String },
    #[error(
        "the live state changed since plan file `{path}` was made; refusing to apply a stale \
         plan\nhint: run `msctl plan --out {path}` again and review the new plan"
    )]
    LiveChanged { path: String },
    #[error(
        "live state is not the snapshot plan file `{path}` was made from: snapshot `{snapshot}` \
         (taken {taken}) has fingerprint {recorded}, live state read now has {live}; refusing to \
         apply a plan made from an out-of-date snapshot\nhint: plan against live state (`msctl \
         plan --out {path}`), or take a new snapshot (`msctl snapshot --out {snapshot}`) and plan \
         from it again"
    )]
    SnapshotStale {
        path: String,
        snapshot: String,
        taken: String,
        recorded: String,
        live: String,
    },
    #[error(
        "msctl's ledger changed since plan file `{path}` was made (another apply or `msctl ack` \
         ran); refusing to apply a stale plan\nhint: run `msctl plan --out {path}` again and \
         review the new plan"
    )]
    LedgerChanged { path: String },
    #[error(
        "plan file `{path}` is not what {from} produces against the live state now; refusing to \
         apply it\n  first difference: {difference}\nhint: the file was edited after `msctl \
         plan` wrote it, or made by another msctl version; run `msctl plan --out {path}` again \
         and review the new plan"
    )]
    Differs {
        path: String,
        from: String,
        /// Boxed: a difference carries two attribute values.
        difference: Box<Difference>,
    },
}

/// The checks a saved plan passes before it is applied: each ties the file to what it was
/// made from (`path` names the file in the refusal).
impl SavedPlan {
    /// A plan made outside git or from uncommitted changes is held to the digest of its
    /// configuration: `desired` (named `here`) must be the one it was made from.
    pub fn check_config(
        &self,
        path: &Path,
        desired: &State,
        prune_ram: bool,
        here: &str,
    ) -> Result<(), SavedPlanError> {
        let path = path.display().to_string();
        let Some(recorded) = &self.inputs.config_digest else {
            let why = if self.plan.source.dirty {
                "it was made from uncommitted changes"
            } else {
                "it was made outside git"
            };
            return Err(SavedPlanError::NoConfigDigest { path, why });
        };
        if &config_digest(desired, prune_ram) != recorded {
            return Err(SavedPlanError::ConfigChanged {
                path,
                here: here.to_string(),
            });
        }
        Ok(())
    }

    /// The live state must be the one the plan was computed from.
    pub fn check_live(&self, path: &Path, live: &State) -> Result<(), SavedPlanError> {
        let now = super::fingerprint(live);
        if let Some(snapshot) = &self.plan.snapshot
            && self.plan.live_fingerprint != now
        {
            // A plan made without credentials, from a snapshot: the first time live state is
            // read is here, and both fingerprints are named so the two reads can be compared.
            return Err(SavedPlanError::SnapshotStale {
                path: path.display().to_string(),
                snapshot: snapshot.file.clone(),
                taken: crate::model::time::utc(
                    i64::try_from(snapshot.taken_at).unwrap_or(i64::MAX),
                ),
                recorded: self.plan.live_fingerprint.clone(),
                live: now,
            });
        }
        if self.plan.live_fingerprint != now {
            return Err(SavedPlanError::LiveChanged {
                path: path.display().to_string(),
            });
        }
        Ok(())
    }

    /// msctl's ledger must be the one the plan was computed with (when the file records it).
    pub fn check_ledger(
        &self,
        path: &Path,
        ledger: &crate::backend::Ledger,
    ) -> Result<(), SavedPlanError> {
        match &self.inputs.ledger_digest {
            Some(recorded) if recorded != &ledger_digest(ledger) => {
                Err(SavedPlanError::LedgerChanged {
                    path: path.display().to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The plan rebuilt from `from` (a configuration, named) must make the file's changes.
    pub fn check_rebuilt(
        &self,
        path: &Path,
        rebuilt: &Plan,
        from: &str,
    ) -> Result<(), SavedPlanError> {
        match first_difference(&self.plan.changes, &rebuilt.changes) {
            Some(difference) => Err(SavedPlanError::Differs {
                path: path.display().to_string(),
                from: from.to_string(),
                difference: Box::new(difference),
            }),
            None => Ok(()),
        }
    }
}

/// SHA-256 of a plan's JSON.
pub fn checksum(plan: &Plan) -> String {
    let bytes = serde_json::to_vec(plan).expect("a plan serialises: it holds only plain data");
    hex::encode(Sha256::digest(bytes))
}

/// Writes `plan` to `path` with its checksum and the digests of its inputs.
pub fn save(path: &Path, plan: &Plan, inputs: Inputs) -> Result<(), SavedPlanError> {
    let saved = SavedPlan {
        checksum: checksum(plan),
        plan: plan.clone(),
        inputs,
    };
    let text = serde_json::to_string_pretty(&saved).expect("a saved plan serialises");
    std::fs::write(path, text).map_err(|source| SavedPlanError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a saved plan, refusing a corrupt one (checksum mismatch) or one of another format.
/// This is not the integrity check: a file that loads may still be forged; see the module docs.
pub fn load(path: &Path) -> Result<SavedPlan, SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|source| SavedPlanError::Parse {
        path: path.display().to_string(),
        source,
    })?;
    if checksum(&saved.plan) != saved.checksum {
        return Err(SavedPlanError::Checksum {
            path: path.display().to_string(),
        });
    }
    if saved.plan.format_version != FORMAT_VERSION {
        return Err(SavedPlanError::Version {
            path: path.display().to_string(),
            found: saved.plan.format_version.clone(),
        });
    }
    Ok(saved)
}

/// SHA-256 of what a configuration means to the planner: its desired state (policy documents
/// read from referenced files included) and the setting that widens ownership (`prune_ram`).
/// Formatting, comments and file layout do not count: two configurations with the same digest
/// produce the same plan against the same live state and ledger.
pub fn config_digest(desired: &State, prune_ram: bool) -> String {
    #[derive(Serialize)]
    struct Meaning<'a> {
        desired: &'a State,
        prune_ram: bool,
    }
    let bytes = serde_json::to_vec(&Meaning { desired, prune_ram })
        .expect("a desired state serialises: it holds only plain data");
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the parts of msctl's ledger the planner reads: the owned set, the
/// acknowledgements and the API keys rotated out (absent when there are none, so ledgers
/// without rotations keep their digest).
pub fn ledger_digest(ledger: &crate::backend::Ledger) -> String {
    #[derive(Serialize)]
    struct Inputs<'a> {
        owned: &'a BTreeSet<Address>,
        acknowledged: &'a std::collections::BTreeMap<Address, crate::model::Resource>,
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        retiring: &'a std::collections::BTreeMap<Address, crate::backend::RetiringKey>,
    }
    let bytes = serde_json::to_vec(&Inputs {
        owned: &ledger.owned,
        acknowledged: &ledger.acknowledged,
        retiring: &ledger.retiring,
    })
    .expect("a ledger serialises: it holds only plain data");
    hex::encode(Sha256::digest(bytes))
}

/// Longest rendering of one value in a [`Difference`]: enough to recognise it, never a wall.
const VALUE_CHARS: usize = 120;

/// The first way a saved plan's changes differ from the rebuilt ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// The file holds a change the configuration does not produce.
    Added { address: Address, action: Action },
    /// The configuration produces a change the file does not hold.
    Dropped { address: Address, action: Action },
    /// The file holds the same address twice.
    Duplicate { address: Address },
    /// Same address, another action.
    Action {
        address: Address,
        file: Action,
        config: Action,
    },
    /// Same address and action; one attribute's planned value differs (`None`: the attribute
    /// is absent on that side).
    Attribute {
        address: Address,
        action: Action,
        name: String,
        file: Option<Value>,
        config: Option<Value>,
    },
    /// Same address and action; another part of the change differs (its dependencies, its
    /// warnings, its manual step, or the resource it writes).
    Part {
        address: Address,
        action: Action,
        part: &'static str,
    },
    /// The same changes in another order.
    Order { position: usize, address: Address },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Added { address, action } => write!(
                f,
                "`{address}` ({}): the plan file has this change; the configuration \
                        plans nothing for `{address}`",
                verb(*action)
            ),
            Difference::Dropped { address, action } => write!(
                f,
                "`{address}` ({}): the configuration plans this change; the plan file \
                        leaves it out",
                verb(*action)
            ),
            Difference::Duplicate { address } => {
                write!(f, "`{address}`: the plan file changes it twice")
            }
            Difference::Action {
                address,
                file,
                config,
            } => write!(
                f,
                "`{address}`: the plan file says {}, the configuration says {}",
                verb(*file),
                verb(*config)
            ),
            Difference::Attribute {
                address,
                action,
                name,
                file,
                config,
            } => write!(
                f,
                "`{address}` ({}): attribute `{name}` is {} in the plan file, {} from \
                        the configuration",
                verb(*action),
                show(file.as_ref()),
                show(config.as_ref())
            ),
            Difference::Part {
                address,
                action,
                part,
            } => write!(
                f,
                "`{address}` ({}): its {part} differ from what the configuration plans",
                verb(*action)
            ),
            Difference::Order { position, address } => write!(
                f,
                "the changes are the same but in another order (change {} is `{address}` \
                        in the plan file)",
                position + 1
            ),
        }
    }
}

/// An action as the JSON plan spells it.
fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Rotate => "rotate",
    }
}

/// A value as one short line of JSON.
fn show(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "absent".to_string();
    };
    let text = value.to_string();
    if text.chars().count() <= VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(VALUE_CHARS).collect();
    format!("{cut}...")
}

/// The first difference between the changes of a saved plan and the rebuilt ones, in the order
/// the plan file lists them; `None` when they are identical.
pub fn first_difference(file: &[Change], config: &[Change]) -> Option<Difference> {
    let rebuilt: HashMap<&Address, &Change> = config.iter().map(|c| (&c.address, c)).collect();
    let mut seen = BTreeSet::new();
    for change in file {
        if !seen.insert(&change.address) {
            return Some(Difference::Duplicate {
                address: change.address.clone(),
            });
        }
        let Some(want) = rebuilt.get(&change.address) else {
            return Some(Difference::Added {
                address: change.address.clone(),
                action: change.action,
            });
        };
        if let Some(d) = change_difference(change, want) {
            return Some(d);
        }
    }
    if let Some(missing) = config.iter().find(|c| !seen.contains(&c.address)) {
        return Some(Difference::Dropped {
            address: missing.address.clone(),
            action: missing.action,
        });
    }
    file.iter()
        .zip(config)
        .position(|(a, b)| a.address != b.address)
        .map(|position| Difference::Order {
            position,
            address: file[position].address.clone(),
        })
}

/// How one change of the file differs from the rebuilt change at the same address.
fn change_difference(file: &Change, config: &Change) -> Option<Difference> {
    let address = file.address.clone();
    let action = file.action;
    if file.action != config.action {
        return Some(Difference::Action {
            address,
            file: file.action,
            config: config.action,
        });
    }
    // What the executor writes is `after` (and `before`, for updates and deletes): its
    // attributes are named first, as a reviewer reads them.
    for (side_file, side_config) in [(&file.after, &config.after), (&file.before, &config.before)] {
        if side_file == side_config {
            continue;
        }
        let attributes = |r: &Option<crate::model::Resource>| -> Vec<(String, Value)> {
            r.as_ref()
                .map(|r| {
                    r.attributes()
                        .into_iter()
                        .map(|a| (a.name.to_string(), a.value))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (a, b) = (attributes(side_file), attributes(side_config));
        let value = |list: &[(String, Value)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        };
        // In the model's display order, as a reviewer read them.
        let mut compared = BTreeSet::new();
        for (name, _) in a.iter().chain(&b) {
            if !compared.insert(name) {
                continue;
            }
            let (x, y) = (value(&a, name), value(&b, name));
            if x != y {
                return Some(Difference::Attribute {
                    address,
                    action,
                    name: name.clone(),
                    file: x,
                    config: y,
                });
            }
        }
        // Same attributes, yet not the same resource: its identity (name, workspace, ...) moved.
        return Some(Difference::Part {
            address,
            action,
            part: "resource identity fields",
        });
    }
    let parts: [(&'static str, bool); 5] = [
        ("attribute changes", file.attributes != config.attributes),
        ("dependencies", file.depends_on != config.depends_on),
        (
            "destroy dependencies",
            file.destroy_depends_on != config.destroy_depends_on,
        ),
        ("warnings", file.warnings != config.warnings),
        ("manual-step instructions", file.manual != config.manual),
    ];
    parts
        .into_iter()
        .find(|(_, differs)| *differs)
        .map(|(part, _)| Difference::Part {
            address,
            action,
            part,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RamUser, Resource};
    use crate::plan::differ::all_attributes;

    fn user(name: &str, display: Option<&str>) -> Resource {
        Resource::RamUser(RamUser {
            name: name.into(),
            display_name: display.map(str::to_string),
            comments: None,
        })
    }

    fn create(r: Resource) -> Change {
        Change {
            address: r.address(),
            action: Action::Create,
            before: None,
            attributes: all_attributes(&r, true),
            after: Some(r),
            depends_on: Vec::new(),
            destroy_depends_on: Vec::new(),
            warnings: Vec::new(),
            manual: None,
        }
    }

    fn plan() -> Vec<Change> {
        vec![
            create(user("alice", Some("Alice"))),
            create(user("bob", None)),
        ]
    }

    #[test]
    fn identical_changes_have_no_difference() {
        assert_eq!(first_difference(&plan(), &plan()), None);
        assert_eq!(first_difference(&[], &[]), None);
    }

    #[test]
    fn each_kind_of_difference_is_named() {
        let config = plan();

        let mut file = plan();
        file.swap(0, 1);
        assert_eq!(
            first_difference(&file, &config).unwrap().to_string(),
            "the changes are the same but in another order (change 1 is `ram.user.bob` in the plan \
                file)"
        );

        let mut file = plan();
        file.push(file[0].clone());
        assert_eq!(
            first_difference(&file, &config),
            Some(Difference::Duplicate {
                address: "ram.user.alice".parse().unwrap()
            })
        );

        let mut file = plan();
        file[1].action = Action::Replace;
        assert_eq!(
            first_difference(&file, &config).unwrap().to_string(),
            "`ram.user.bob`: the plan file says replace, the configuration says create"
        );

        // The resource written differs though the listed attribute changes were left alone.
        let mut file = plan();
        file[0].after = Some(user("alice", Some("Mallory")));
        assert_eq!(
            first_difference(&file, &config).unwrap().to_string(),
            "`ram.user.alice` (create): attribute `display_name` is \"Mallory\" in the plan \
                file, \"Alice\" from the configuration"
        );

        let mut file = plan();
        file[1].depends_on.push("ram.user.alice".parse().unwrap());
        assert_eq!(
            first_difference(&file, &config).unwrap().to_string(),
            "`ram.user.bob` (create): its dependencies differ from what the configuration plans"
        );

        let file = &plan()[..1];
        assert_eq!(
            first_difference(file, &config).unwrap().to_string(),
            "`ram.user.bob` (create): the configuration plans this change; the plan file leaves it \
                out"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = Value::String("x".repeat(500));
        let shown = show(Some(&long));
        assert!(shown.len() < 200 && shown.ends_with("..."), "{shown}");
        assert_eq!(show(None), "absent");
    }

    #[test]
    fn the_configuration_digest_is_its_meaning() {
        let mut a = State::default();
        a.insert(user("alice", None));
        let mut b = State::default();
        b.insert(user("alice", Some("Alice")));
        assert_ne!(config_digest(&a, false), config_digest(&b, false));
        assert_ne!(config_digest(&a, false), config_digest(&a, true));
        assert_eq!(config_digest(&a, false), config_digest(&a.clone(), false));
    }

    #[test]
    fn a_saved_plan_is_held_to_its_configuration_live_state_ledger_and_changes() {
        let mut desired = State::default();
        desired.insert(user("alice", None));
        let live = State::default();
        let ledger = crate::backend::Ledger::default();
        let p = Plan {
            format_version: FORMAT_VERSION.into(),
            msctl_version: "0".into(),
            backend: "local".into(),
            source: Default::default(),
            changes: plan(),
            unmanaged: Vec::new(),
            warnings: Vec::new(),
            summary: crate::plan::Summary::of(&plan()),
            live_fingerprint: crate::plan::fingerprint(&live),
            api_calls: 0,
            api_calls_by_operation: Default::default(),
            managed_live: 0,
            access: Default::default(),
            snapshot: None,
        };
        let saved = SavedPlan {
            checksum: checksum(&p),
            plan: p.clone(),
            inputs: Inputs {
                config_digest: Some(config_digest(&desired, false)),
                ledger_digest: Some(ledger_digest(&ledger)),
            },
        };
        let path = Path::new("plan.json");
        saved.check_config(path, &desired, false, "here").unwrap();
        saved.check_live(path, &live).unwrap();
        saved.check_ledger(path, &ledger).unwrap();
        saved.check_rebuilt(path, &p, "there").unwrap();

        let mut other = desired.clone();
        other.insert(user("bob", None));
        let e = saved.check_config(path, &other, false, "the configuration in `x`");
        assert!(
            matches!(e, Err(SavedPlanError::ConfigChanged { .. })),
            "{e:?}"
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .starts_with("the configuration in `x` is not the one plan file `plan.json`")
        );
        let e = saved.check_live(path, &other).unwrap_err();
        assert!(matches!(e, SavedPlanError::LiveChanged { .. }), "{e:?}");
        let mut moved = ledger.clone();
        moved.intend([other.resources.values().next().unwrap()]);
        let e = saved.check_ledger(path, &moved).unwrap_err();
        assert!(matches!(e, SavedPlanError::LedgerChanged { .. }), "{e:?}");
        let mut rebuilt = p.clone();
        rebuilt.changes.pop();
        let e = saved
            .check_rebuilt(path, &rebuilt, "the configuration at commit abc")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("is not what the configuration at commit abc produces")
                && e.to_string().contains("\n  first difference: "),
            "{e}"
        );
        // A file from an older msctl names no configuration: refused, saying why.
        let older = SavedPlan {
            inputs: Inputs::default(),
            ..saved
        };
        let e = older
            .check_config(path, &desired, false, "here")
            .unwrap_err();
        assert!(e.to_string().contains("it was made outside git"), "{e}");
    }

    #[test]
    fn a_saved_plan_round_trips_and_older_files_still_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let p = Plan {
            format_version: FORMAT_VERSION.into(),
            msctl_version: "0".into(),
            backend: "local".into(),
            source: Default::default(),
            changes: plan(),
            unmanaged: Vec::new(),
            warnings: Vec::new(),
            summary: crate::plan::Summary::of(&plan()),
            live_fingerprint: "f".into(),
            api_calls: 0,
            api_calls_by_operation: Default::default(),
            managed_live: 0,
            access: Default::default(),
            snapshot: None,
        };
        let inputs = Inputs {
            config_digest: Some("c".into()),
            ledger_digest: Some("l".into()),
        };
        save(&path, &p, inputs.clone()).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.plan, p);
        assert_eq!(loaded.inputs, inputs);

        // Before this version: no digests.
        let old = serde_json::json!({"checksum": checksum(&p), "plan": p});
        std::fs::write(&path, old.to_string()).unwrap();
        assert_eq!(load(&path).unwrap().inputs, Inputs::default());

        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(SavedPlanError::Parse { .. })));
    }
}
