//! What plan, apply, drift and graph share: load the config, open the backend, read live state,
//! compute the plan. Preview and apply use this one path, so the plan shows exactly what apply does.

use std::path::PathBuf;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::checkout::Checkout;
use crate::backend::aliyun::{AliyunBackend, Credentials, Endpoint};
use crate::backend::local::LocalBackend;
use crate::backend::{Backend, ReadScope};
use crate::cli::{BackendArg, Cli, Command};
use crate::config::{BackendKind, Config};
use crate::exit_code;
use crate::model::{Resource, State};
use crate::plan::{self, FORMAT_VERSION, Plan, Source, Summary};

/// A loaded config, where it came from, and an open backend.
pub struct Session {
    pub config: Config,
    pub backend: Box<dyn Backend>,
    pub checkout: Checkout,
}

/// Why a session could not start: diagnostics were already printed (exit 1), or another error.
pub enum Start {
    Ready(Box<Session>),
    Invalid,
}

impl Session {
    pub fn start(cli: &Cli) -> anyhow::Result<Start> {
        let checkout = Checkout::open(cli)?;
        let loaded = super::load_config(cli, &checkout)?;
        let has_errors = super::report_diagnostics(&loaded, checkout.revision_note().as_deref());
        let Some(config) = loaded.config else {
            debug_assert!(has_errors);
            let rev = cli
                .rev
                .as_ref()
                .map(|r| format!(" --rev {r}"))
                .unwrap_or_default();
            eprintln!(
                "error: the configuration has errors; nothing was planned\nhint: run `msctl validate -C {}{rev}` for details",
                cli.dir.display()
            );
            return Ok(Start::Invalid);
        };
        let backend = open_backend(cli, &config)?;
        Ok(Start::Ready(Box::new(Session {
            config,
            backend,
            checkout,
        })))
    }

    /// The scopes the config governs: its workspaces' regions, RAM, its PAI regions.
    pub fn scope(&self) -> ReadScope {
        scope_of(&self.config.desired)
    }

    /// Live state, completed with what the ledger acknowledges where the API cannot read
    /// (workspace members, API-key owners): see [`plan::acknowledged_live`].
    pub fn read_live(&self) -> anyhow::Result<State> {
        self.read_live_in(&self.scope())
    }

    /// Live state in the scope of another desired state (another revision's), reusing `live`
    /// (read for this config) when the scopes are the same: a wider read would list more
    /// unmanaged objects and change the live fingerprint of the plan.
    pub fn live_for(&self, other: &State, live: &State) -> anyhow::Result<State> {
        let scope = scope_of(other);
        if scope == self.scope() {
            Ok(live.clone())
        } else {
            self.read_live_in(&scope)
        }
    }

    pub fn read_live_in(&self, scope: &ReadScope) -> anyhow::Result<State> {
        let mut live = self.backend.read(scope).with_context(|| {
            format!(
                "failed to read live state from the {} backend",
                self.backend.name()
            )
        })?;
        let caps = self.backend.capabilities();
        if !caps.missing.is_empty() {
            let ledger = self.backend.load_ledger().with_context(|| {
                format!(
                    "failed to read msctl's ledger from the {} backend",
                    self.backend.name()
                )
            })?;
            plan::acknowledged_live(&mut live, &ledger, &caps);
        }
        Ok(live)
    }

    /// Computes the plan of the loaded config against the current live state.
    pub fn plan(&self, cli: &Cli, live: &State) -> anyhow::Result<Plan> {
        self.plan_for(
            &self.config.desired,
            self.checkout.source(cli),
            live,
            self.config.settings.prune_ram,
        )
    }

    /// Computes the plan of any desired state (another revision's) against live state, with
    /// this backend's ledger and capabilities: the one planning path.
    pub fn plan_for(
        &self,
        desired: &State,
        source: Source,
        live: &State,
        prune_ram: bool,
    ) -> anyhow::Result<Plan> {
        let ledger = self.backend.load_ledger().with_context(|| {
            format!(
                "failed to read msctl's ledger from the {} backend",
                self.backend.name()
            )
        })?;
        let options = plan::DiffOptions {
            prune_ram,
            owned: ledger.owned,
            caller: self.backend.caller(),
        };
        let mut diff = plan::diff(desired, live, &options, &self.backend.capabilities());
        crate::graph::link(&mut diff.changes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let changes = diff.changes;
        let summary = Summary::of(&changes);
        let access = plan::access::access_changes(live, &changes);
        Ok(Plan {
            format_version: FORMAT_VERSION.to_string(),
            msctl_version: env!("CARGO_PKG_VERSION").to_string(),
            backend: self.backend.name().to_string(),
            source,
            changes,
            unmanaged: diff.unmanaged,
            warnings: diff.warnings,
            summary,
            live_fingerprint: fingerprint(live),
            api_calls: self.backend.api_calls(),
            managed_live: diff.managed_live,
            access,
        })
    }
}

/// The scopes a desired state governs: its workspaces' regions, RAM, its PAI regions.
fn scope_of(desired: &State) -> ReadScope {
    let mut scope = ReadScope {
        ram: true,
        ..ReadScope::default()
    };
    for r in desired.resources.values() {
        match r {
            Resource::Workspace(w) => {
                scope.regions.insert(w.region.clone());
            }
            Resource::PaiWorkspace(w) => {
                scope.pai_regions.insert(w.region.clone());
            }
            _ => {}
        }
    }
    scope
}

/// SHA-256 of the live state: a saved plan applies only to the state it was computed from.
pub fn fingerprint(live: &State) -> String {
    let bytes = serde_json::to_vec(live).expect("live state serialises");
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open_backend(cli: &Cli, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let kind = match cli.backend {
        Some(BackendArg::Local) => BackendKind::Local,
        Some(BackendArg::Aliyun) => BackendKind::Aliyun,
        None => config.settings.backend,
    };
    match kind {
        BackendKind::Local => {
            let path = state_path(cli, config);
            let backend = LocalBackend::open(&path).with_context(|| {
                format!(
                    "failed to open the local state database `{}`",
                    path.display()
                )
            })?;
            Ok(Box::new(backend))
        }
        BackendKind::Aliyun => Ok(Box::new(open_aliyun(cli, config)?)),
    }
}

/// The aliyun backend: credentials from the environment, `--endpoint` (or msctl.toml's), the
/// regions the config governs, the ledger file and, for apply, the secrets file.
fn open_aliyun(cli: &Cli, config: &Config) -> anyhow::Result<AliyunBackend> {
    let credentials = Credentials::from_env()?;
    let endpoint = match cli.endpoint.as_ref().or(config.settings.endpoint.as_ref()) {
        Some(url) => Some(Endpoint::parse(url)?),
        None => None,
    };
    let mut regions: std::collections::BTreeSet<String> = Default::default();
    let mut pai_regions: std::collections::BTreeSet<String> = Default::default();
    for r in config.desired.resources.values() {
        match r {
            Resource::Workspace(w) => {
                regions.insert(w.region.clone());
            }
            Resource::PaiWorkspace(w) => {
                pai_regions.insert(w.region.clone());
            }
            _ => {}
        }
    }
    if let Some(region) = &config.settings.default_region {
        regions.insert(region.clone());
    }
    let mut backend = AliyunBackend::new(credentials, endpoint, regions)
        .with_pai_regions(pai_regions)
        .with_ledger(ledger_path(cli))
        .with_caller(cli.caller.clone());
    if let Command::Apply(args) = &cli.command
        && let Some(path) = &args.secrets_to
    {
        backend = backend.with_secrets_to(path);
    }
    Ok(backend)
}

/// `--ledger`, else DIR/.msctl/ledger.db.
pub fn ledger_path(cli: &Cli) -> PathBuf {
    match &cli.ledger {
        Some(p) => p.clone(),
        None => cli.dir.join(".msctl").join("ledger.db"),
    }
}

/// `--state`, else msctl.toml's `[backend] state` (relative to the config dir), else DIR/.msctl/local.db.
pub fn state_path(cli: &Cli, config: &Config) -> PathBuf {
    if let Some(p) = &cli.state {
        return p.clone();
    }
    match &config.settings.state {
        Some(s) => cli.dir.join(s),
        None => cli.dir.join(".msctl").join("local.db"),
    }
}

/// The exit code of a plan under `--detailed-exitcode`.
pub fn detailed(plan: &Plan) -> i32 {
    if plan.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHANGES
    }
}
