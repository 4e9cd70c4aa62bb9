//! `msctl access`: who can do what, and why — callers of a model in a workspace, everything one
//! principal or key can do, a workspace's access sheet — from the configuration (default, or at
//! `--rev`) or from live state (`--live`).

use super::checkout::Checkout;
use super::session::Session;
use super::{CommandError, Outcome, output};
use crate::access::{self, AccessQuery, Subject};
use crate::cli::{AccessArgs, Cli};
use crate::config::Config;
use crate::model::{Resource, State};

pub fn run(cli: &Cli, args: &AccessArgs) -> Result<Outcome, CommandError> {
    if args.max_age.is_some() && matches!(args.live, Some(None)) {
        // A bare `--live` reads the backend now: an age limit would be silently meaningless.
        return Err(CommandError::Usage(
            "--max-age limits the age of a snapshot, and a bare `--live` reads the backend \
             now\nhint: pass the snapshot file: `--live FILE --max-age DURATION`"
                .to_string(),
        ));
    }
    let input = Input::load(cli, args.live.is_some())?;
    let where_ = if args.live.is_some() {
        "live state"
    } else {
        "the configuration"
    };
    let query = query(args, &input.state, where_)?;
    let model = access::build(&input.state, &input.config.quotas);
    let answer = access::query::answer(&model, &query, input.source.clone());
    output::emit(super::output_format(cli), &answer)?;
    Ok(Outcome::Success)
}

/// What the access commands read: the configuration, and the state to answer from (the desired
/// state, or live state read in the configuration's scope).
pub(crate) struct Input {
    pub config: Config,
    pub state: State,
    /// Said at the top of every answer: where the facts come from.
    pub source: String,
}

impl Input {
    /// A configuration with errors (its diagnostics printed) is [`CommandError::InvalidConfig`].
    pub(crate) fn load(cli: &Cli, live: bool) -> Result<Input, CommandError> {
        if live {
            let session = super::start(cli)?;
            let state = session.read_live()?;
            let source = match &session.snapshot {
                Some(snapshot) => format!(
                    "live state, {} backend, from {} (no credentials used)",
                    session.backend.name(),
                    snapshot.origin.describe()
                ),
                None => format!("live state, {} backend", session.backend.name()),
            };
            let Session { config, .. } = *session;
            return Ok(Input {
                config,
                state,
                source,
            });
        }
        let mut checkout = Checkout::open(cli.dir(), cli.rev())?;
        let loaded = super::load_config(cli.dir(), &mut checkout)?;
        let Some(config) = loaded.config else {
            // Warnings are `validate`'s business; an answer only needs a usable config.
            super::report_diagnostics(&loaded, checkout.revision_note().as_deref(), cli.quiet());
            return Err(CommandError::InvalidConfig {
                dir: cli.dir().display().to_string(),
                rev: cli.rev().map(|r| format!(" --rev {r}")).unwrap_or_default(),
            });
        };
        let s = checkout.source(cli.dir());
        let mut source = format!("configuration `{}`", s.config_dir);
        let short = s.commit.as_ref().map(|c| c.get(..12).unwrap_or(c));
        match (cli.rev(), short) {
            (Some(rev), Some(commit)) => source.push_str(&format!(" at `{rev}` ({commit})")),
            (Some(rev), None) => source.push_str(&format!(" at `{rev}`")),
            (None, Some(commit)) => source.push_str(&format!(" at commit {commit}")),
            (None, None) => {}
        }
        if s.dirty && cli.rev().is_none() {
            source.push_str(" (uncommitted changes)");
        }
        let state = config.desired.clone();
        Ok(Input {
            config,
            state,
            source,
        })
    }
}

/// The query of the arguments, refusing names the state does not know (with a suggestion).
fn query(args: &AccessArgs, state: &State, where_: &'static str) -> anyhow::Result<AccessQuery> {
    let names = Names::of(state, where_);
    if let Some(w) = &args.workspace {
        names.require("workspace", w, &names.workspaces)?;
    }
    let subject = if let Some(u) = &args.user {
        names.require("user", u, &names.users)?;
        Some(Subject::User { name: u.clone() })
    } else if let Some(g) = &args.group {
        names.require("group", g, &names.groups)?;
        Some(Subject::Group { name: g.clone() })
    } else if let Some(r) = &args.role {
        names.require("role", r, &names.roles)?;
        Some(Subject::Role { name: r.clone() })
    } else if let Some(k) = &args.key {
        names.require("API key", k, &names.keys)?;
        Some(Subject::Key {
            // Empty: every workspace's key of that name (narrowed by `--workspace`).
            workspace: String::new(),
            name: k.clone(),
        })
    } else {
        None
    };
    Ok(AccessQuery {
        model: args.model.clone(),
        workspace: args.workspace.clone(),
        subject,
    })
}

/// The names a question may use, from the state.
struct Names {
    workspaces: Vec<String>,
    users: Vec<String>,
    groups: Vec<String>,
    roles: Vec<String>,
    keys: Vec<String>,
    where_: &'static str,
}

impl Names {
    fn of(state: &State, where_: &'static str) -> Names {
        let mut n = Names {
            workspaces: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            roles: Vec::new(),
            keys: Vec::new(),
            where_,
        };
        for r in state.resources.values() {
            match r {
                Resource::Workspace(w) => n.workspaces.push(w.name.clone()),
                Resource::RamUser(u) => n.users.push(u.name.clone()),
                Resource::RamGroup(g) => n.groups.push(g.name.clone()),
                Resource::RamRole(r) => n.roles.push(r.name.clone()),
                Resource::ApiKey(k) => {
                    n.keys.push(k.name.clone());
                    n.users.push(k.owner.clone());
                }
                Resource::Member(m) => match &m.principal {
                    crate::model::Principal::User(u) => n.users.push(u.clone()),
                    crate::model::Principal::Role(r) => n.roles.push(r.clone()),
                    crate::model::Principal::Group(g) => n.groups.push(g.clone()),
                },
                Resource::GroupMember(g) => n.users.push(g.user.clone()),
                _ => {}
            }
        }
        for list in [
            &mut n.workspaces,
            &mut n.users,
            &mut n.groups,
            &mut n.roles,
            &mut n.keys,
        ] {
            list.sort();
            list.dedup();
        }
        n
    }

    fn require(&self, what: &str, name: &str, known: &[String]) -> anyhow::Result<()> {
        if known.binary_search_by(|k| k.as_str().cmp(name)).is_ok() {
            return Ok(());
        }
        let best = known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, name), k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = match best {
            Some((_, k)) => format!("did you mean `{k}`?"),
            None if known.is_empty() => format!("{} holds no {what}", self.where_),
            None => format!(
                "known: {}{}",
                known
                    .iter()
                    .take(10)
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if known.len() > 10 {
                    format!(" and {} more", known.len() - 10)
                } else {
                    String::new()
                }
            ),
        };
        anyhow::bail!(
            "failed to find {what} `{name}` in {}\nhint: {hint}",
            self.where_
        )
    }
}
