//! What plan, apply, drift and graph share: load the config, open the backend, read live state,
//! compute the plan. Preview and apply use this one path, so the plan shows exactly what apply
//! does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::checkout::Checkout;
use crate::backend::aliyun::{AliyunBackend, Credentials, Endpoint};
use crate::backend::local::LocalBackend;
use crate::backend::{Backend, LockInfo, ReadScope};
use crate::cli::{BackendArg, Cli, Command};

use crate::config::{BackendKind, Config};
use crate::exit_code;
use crate::model::State;
use crate::plan::snapshot::SnapshotBackend;
use crate::plan::{self, Plan, Snapshot, SnapshotOrigin, Source};

/// The command line resolved once into what a session needs: below the commands nothing reads
/// `Cli` (nor asks which subcommand runs).
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `-C DIR`: the config directory.
    pub dir: PathBuf,
    /// `--rev`: read the config at this revision.
    pub rev: Option<String>,
    /// `--backend`, overriding msctl.toml's.
    pub backend: Option<BackendKind>,
    /// `--state`, overriding msctl.toml's `[backend] state`.
    pub state: Option<PathBuf>,
    /// `--ledger`, else DIR/.msctl/ledger.db.
    pub ledger: PathBuf,
    /// `--endpoint`, overriding msctl.toml's.
    pub endpoint: Option<String>,
    /// `--caller`: the RAM user the credentials act for.
    pub caller: Option<String>,
    /// `apply --secrets-to`: where the aliyun backend writes the secrets it issues.
    pub secrets_to: Option<PathBuf>,
    /// `apply --parallelism`: bounds every call the aliyun backend makes, reads included.
    pub parallelism: Option<usize>,
    /// `--quiet`: leave out the config warnings msctl.toml acknowledges.
    pub quiet: bool,
    /// `--live FILE` (plan, drift, access): answer from this snapshot instead of the backend.
    pub snapshot: Option<PathBuf>,
    /// `--max-age`: refuse a snapshot older than this.
    pub max_age: Option<Duration>,
}

impl SessionOptions {
    /// Resolves the configuration and backend options and, for `apply`, the flags that configure
    /// the backend.
    pub fn from_cli(cli: &Cli) -> SessionOptions {
        let (secrets_to, parallelism) = match &cli.command {
            Command::Apply(args) => (args.secrets_to.clone(), Some(args.parallelism)),
            _ => (None, None),
        };
        let (snapshot, max_age) = match &cli.command {
            Command::Plan(args) => (args.live.clone(), args.max_age),
            Command::Drift(args) => (args.live.clone(), args.max_age),
            Command::Access(args) => (args.live.clone().flatten(), args.max_age),
            _ => (None, None),
        };
        SessionOptions {
            dir: cli.dir().to_path_buf(),
            rev: cli.rev().map(str::to_string),
            backend: cli.backend_kind().map(|b| match b {
                BackendArg::Local => BackendKind::Local,
                BackendArg::Aliyun => BackendKind::Aliyun,
            }),
            state: cli.state().map(Path::to_path_buf),
            ledger: ledger_path(cli),
            endpoint: cli.endpoint().map(str::to_string),
            caller: cli.caller().map(str::to_string),
            secrets_to,
            parallelism,
            quiet: cli.quiet(),
            snapshot,
            max_age,
        }
    }
}

/// A loaded config, where it came from, and an open backend.
pub struct Session {
    pub config: Config,
    pub backend: Box<dyn Backend>,
    pub checkout: Checkout,
    pub options: SessionOptions,
    /// Set when live state comes from a snapshot (`--live FILE`): which, how old, and what it
    /// read.
    pub snapshot: Option<SnapshotSource>,
}

/// The snapshot a session answers from.
pub struct SnapshotSource {
    /// What plans and reports say about it.
    pub origin: SnapshotOrigin,
    /// What it read: a wider scope asked of it is warned about.
    pub scope: ReadScope,
}

/// Why a session could not start: the config has errors (diagnostics printed), or another error.
pub enum Start {
    Ready(Box<Session>),
    Invalid,
}

impl Session {
    pub fn start(options: SessionOptions) -> anyhow::Result<Start> {
        let mut checkout = Checkout::open(&options.dir, options.rev.as_deref())?;
        let loaded = super::load_config(&options.dir, &mut checkout)?;
        let has_errors =
            super::report_diagnostics(&loaded, checkout.revision_note().as_deref(), options.quiet);
        let Some(config) = loaded.config else {
            // The caller reports it (`CommandError::InvalidConfig`).
            debug_assert!(has_errors);
            return Ok(Start::Invalid);
        };
        let (backend, snapshot) = match &options.snapshot {
            Some(path) => {
                let (backend, source) = open_snapshot(path, &options, &config)?;
                (backend, Some(source))
            }
            None => (open_backend(&options, &config)?, None),
        };
        Ok(Start::Ready(Box::new(Session {
            config,
            backend,
            checkout,
            options,
            snapshot,
        })))
    }

    /// A warning for what a snapshot did not read of the scope `desired` governs, `None` when
    /// it covers it all (or live state is read fresh).
    fn snapshot_gaps(&self, desired: &State) -> anyhow::Result<Option<String>> {
        let Some(snapshot) = &self.snapshot else {
            return Ok(None);
        };
        let gaps = crate::plan::snapshot::uncovered(&snapshot.scope, &self.scope_for(desired)?);
        Ok((!gaps.is_empty()).then(|| {
            format!(
                "snapshot `{}` did not read {}, which the configuration or the ledger names: \
                 live objects there are unknown and taken as absent, so the plan may differ \
                 from what `msctl apply` does there",
                snapshot.origin.file,
                gaps.join(", ")
            )
        }))
    }

    /// The scopes to read: what the config governs (its workspaces' regions, RAM, its PAI
    /// regions) and the regions of every workspace the ledger owns, so an owned workspace the
    /// config no longer names is still seen (and planned for deletion).
    pub fn scope(&self) -> anyhow::Result<ReadScope> {
        self.scope_for(&self.config.desired)
    }

    fn scope_for(&self, desired: &State) -> anyhow::Result<ReadScope> {
        let mut scope = ReadScope::governed_by(desired);
        let owned = self.ledger()?.scope();
        scope.regions.extend(owned.regions);
        scope.pai_regions.extend(owned.pai_regions);
        Ok(scope)
    }

    fn ledger(&self) -> anyhow::Result<crate::backend::Ledger> {
        self.backend.load_ledger().with_context(|| {
            format!(
                "failed to read msctl's ledger from the {} backend",
                self.backend.name()
            )
        })
    }

    /// Live state, completed with what the ledger acknowledges where the API cannot read
    /// (workspace members, API-key owners): see [`plan::acknowledged_live`].
    pub fn read_live(&self) -> anyhow::Result<State> {
        self.read_live_in(&self.scope()?)
    }

    /// Live state in the scope of another desired state (another revision's), reusing `live`
    /// (read for this config) when the scopes are the same: a wider read would list more
    /// unmanaged objects and change the live fingerprint of the plan.
    pub fn live_for(&self, other: &State, live: &State) -> anyhow::Result<State> {
        let scope = self.scope_for(other)?;
        if scope == self.scope()? {
            Ok(live.clone())
        } else {
            self.read_live_in(&scope)
        }
    }

    /// Takes msctl's run lock for `command` (`apply`, `ack`), waiting up to `timeout` for a
    /// run that holds it, then refuses with an error naming the holder. The lock is released
    /// when the returned guard is dropped.
    pub fn lock(&self, command: &str, timeout: Duration) -> anyhow::Result<RunLock<'_>> {
        let me = LockInfo::for_this_process(
            command,
            self.checkout.commit.as_ref().map(|c| c.id.clone()),
        );
        let deadline = Instant::now() + timeout;
        let mut said_waiting = false;
        loop {
            let held = self.backend.try_lock(&me).with_context(|| {
                format!(
                    "failed to take msctl's run lock in the {} backend",
                    self.backend.name()
                )
            })?;
            let Some(holder) = held else { break };
            let now = Instant::now();
            if now >= deadline {
                let waited = if timeout.is_zero() {
                    String::new()
                } else {
                    format!(
                        " after waiting {}",
                        crate::model::time::format_duration(timeout)
                    )
                };
                anyhow::bail!(
                    "another msctl run holds the run lock{waited}: {holder}\nhint: wait \
                            for it to finish (or pass `--lock-timeout 10m` to wait); if that run \
                            died, remove its lock with `msctl force-unlock {}`",
                    holder.id
                );
            }
            if !said_waiting {
                said_waiting = true;
                diag!("Waiting for the run lock: {holder}");
            }
            // Polling: a lock row has no wake-up; a short interval keeps the wait responsive.
            std::thread::sleep((deadline - now).min(LOCK_POLL));
        }
        let guard = RunLock {
            backend: self.backend.as_ref(),
            id: me.id.clone(),
        };
        if std::env::var_os(HOLD_LOCK_HOOK).is_some() {
            // Test hook: hold the lock until the test closes stdin, so concurrency tests meet a
            // held lock without timing assumptions.
            diag!("msctl: holding run lock {} until stdin closes", me.id);
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        }
        Ok(guard)
    }

    pub fn read_live_in(&self, scope: &ReadScope) -> anyhow::Result<State> {
        read_acknowledged(self.backend.as_ref(), scope)
    }

    /// Computes the plan of the loaded config against the current live state.
    pub fn plan(&self, live: &State) -> anyhow::Result<Plan> {
        self.plan_for(
            &self.config.desired,
            self.checkout.source(&self.options.dir),
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
        let ledger = self.ledger()?;
        let input = plan::PlanInput {
            desired,
            live,
            source,
            prune_ram,
            ledger: &ledger,
            now: now()?,
        };
        let mut plan = plan::assemble(input, self.backend.as_ref(), crate::graph::link)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(snapshot) = &self.snapshot {
            plan.snapshot = Some(snapshot.origin.clone());
            plan.warnings.extend(self.snapshot_gaps(desired)?);
        }
        Ok(plan)
    }
}

/// The time plans are made at, in seconds since the epoch: the clock, unless `MSCTL_NOW` (seconds
/// since the epoch) says otherwise. Only tests set it, to move time past a key's `rotate_after`
/// or overlap without waiting; a value that is not a number is an error, not the clock.
pub fn now() -> anyhow::Result<i64> {
    match std::env::var("MSCTL_NOW") {
        Ok(text) => text.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "failed to read `MSCTL_NOW={text}`: not a number of seconds since the epoch\n\
                 hint: unset MSCTL_NOW; it exists for tests"
            )
        }),
        Err(_) => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
    }
}

/// Live state in `scope`, completed with what the ledger acknowledges where the API cannot
/// read (workspace members, API-key owners): see [`plan::acknowledged_live`].
pub fn read_acknowledged(backend: &dyn Backend, scope: &ReadScope) -> anyhow::Result<State> {
    let mut live = backend.read(scope).with_context(|| {
        format!(
            "failed to read live state from the {} backend",
            backend.name()
        )
    })?;
    let caps = backend.capabilities();
    if !caps.missing.is_empty() {
        let ledger = backend.load_ledger().with_context(|| {
            format!(
                "failed to read msctl's ledger from the {} backend",
                backend.name()
            )
        })?;
        plan::acknowledged_live(&mut live, &ledger, &caps);
    }
    Ok(live)
}

/// How often a run waiting for the run lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Environment variable of the test hook in [`Session::lock`].
pub const HOLD_LOCK_HOOK: &str = "MSCTL_TEST_HOLD_LOCK";

/// msctl's run lock, held until dropped.
pub struct RunLock<'a> {
    backend: &'a dyn Backend,
    id: String,
}

impl RunLock<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for RunLock<'_> {
    fn drop(&mut self) {
        match self.backend.unlock(&self.id) {
            Ok(Some(_)) => {}
            Ok(None) => eprintln!(
                "warning: msctl's run lock {} was removed by someone else during this \
                        run (`msctl force-unlock`?)",
                self.id
            ),
            Err(e) => eprintln!(
                "warning: failed to release msctl's run lock {}: {e}\nhint: run `msctl \
                        force-unlock {}`",
                self.id, self.id
            ),
        }
    }
}

/// The backend of `--live FILE`: the snapshot, checked (format, fingerprint, `--max-age`, the
/// backend the configuration names). No credentials are read and no connection is opened.
fn open_snapshot(
    path: &std::path::Path,
    options: &SessionOptions,
    config: &Config,
) -> anyhow::Result<(Box<dyn Backend>, SnapshotSource)> {
    let snapshot = Snapshot::load(path)?;
    // The clock plans are made at (`now()`), so a snapshot's age agrees with the plan's time.
    let now = u64::try_from(now()?).unwrap_or(0);
    if let Some(max_age) = options.max_age {
        snapshot.check_age(path, now, max_age)?;
    }
    let kind = options.backend.unwrap_or(config.settings.backend);
    let wanted = match kind {
        BackendKind::Local => "local",
        BackendKind::Aliyun => "aliyun",
    };
    if snapshot.backend != wanted {
        anyhow::bail!(
            "snapshot `{}` was taken through the {} backend, and this configuration uses the {} \
             backend; refusing to plan one against the other\nhint: take the snapshot with the \
             same backend (`msctl snapshot --out FILE`), or pass `--backend {}`",
            path.display(),
            snapshot.backend,
            wanted,
            snapshot.backend
        );
    }
    let source = SnapshotSource {
        origin: snapshot.origin(path, now),
        scope: snapshot.scope.clone(),
    };
    Ok((Box::new(SnapshotBackend::new(snapshot)), source))
}

/// The backend the options and the config name (the options win).
pub fn open_backend(options: &SessionOptions, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    match options.backend.unwrap_or(config.settings.backend) {
        BackendKind::Local => {
            let path = state_path(options, config);
            prepare_state_dir(&path)?;
            // The store's errors already say "failed to open state database `PATH`" and why:
            // wrapping them in the same words again doubled the message.
            let backend = LocalBackend::open(&path).map_err(anyhow::Error::new)?;
            Ok(Box::new(backend))
        }
        BackendKind::Aliyun => {
            prepare_state_dir(&options.ledger)?;
            Ok(Box::new(open_aliyun(options, config)?))
        }
    }
}

/// The folder msctl keeps its own files in, beside the config (`DIR/.msctl/local.db`,
/// `DIR/.msctl/ledger.db`).
pub const STATE_DIR: &str = ".msctl";

/// What msctl writes into `.msctl/.gitignore`: nothing in the folder is configuration, and a
/// `git add -A` must not commit a database that changes on every apply.
pub const STATE_DIR_GITIGNORE: &str =
    "# Written by msctl: local state and ledger, never configuration.\n*\n";

/// Creates msctl's folder `.msctl/` for `file` (a state database, a ledger) when that is where
/// the file goes and the folder is missing, with a `.gitignore` ignoring all of it. Any other
/// folder is left to the store, which creates it as it is.
pub fn prepare_state_dir(file: &Path) -> anyhow::Result<()> {
    let Some(dir) = file.parent() else {
        return Ok(());
    };
    if dir.file_name() != Some(std::ffi::OsStr::new(STATE_DIR)) || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "failed to create directory `{}`\nhint: check that the config directory is writable, \
             or pass `--state PATH`",
            dir.display()
        )
    })?;
    let ignore = dir.join(".gitignore");
    std::fs::write(&ignore, STATE_DIR_GITIGNORE)
        .with_context(|| format!("failed to write `{}`", ignore.display()))?;
    Ok(())
}

/// The aliyun backend: credentials from the environment, `--endpoint` (or msctl.toml's), the
/// regions the config governs, the ledger file and, for apply, the secrets file.
fn open_aliyun(options: &SessionOptions, config: &Config) -> anyhow::Result<AliyunBackend> {
    let credentials = Credentials::from_env()?;
    let endpoint = match options
        .endpoint
        .as_ref()
        .or(config.settings.endpoint.as_ref())
    {
        Some(url) => Some(Endpoint::parse(url)?),
        None => None,
    };
    let ReadScope {
        mut regions,
        pai_regions,
        ..
    } = ReadScope::governed_by(&config.desired);
    if let Some(region) = &config.settings.default_region {
        regions.insert(region.clone());
    }
    let mut backend = AliyunBackend::new(credentials, endpoint, regions)
        .with_pai_regions(pai_regions)
        .with_ledger(options.ledger.clone())
        .with_caller(options.caller.clone());
    // Once per run: who the credentials are decides who owns the API keys they create.
    if let Err(e) = backend.resolve_caller() {
        eprintln!(
            "warning: failed to ask STS who the credentials belong to \
                    (GetCallerIdentity): {e}\n  = API keys whose creator only that could name are \
                    read with an unknown owner, which is not compared; `--caller USER` names the \
                    RAM user the credentials act for"
        );
    }
    if let Some(path) = &options.secrets_to {
        backend = backend.with_secrets_to(path);
    }
    if let Some(parallelism) = options.parallelism {
        // `--parallelism` bounds every call apply makes, its reads of live state included: the
        // throttling hint says to lower it, and with 1 the calls go one at a time, in order.
        backend = backend.with_parallelism(parallelism);
    }
    Ok(backend)
}

/// `--ledger`, else DIR/.msctl/ledger.db.
pub fn ledger_path(cli: &Cli) -> PathBuf {
    match cli.ledger() {
        Some(p) => p.to_path_buf(),
        None => cli.dir().join(STATE_DIR).join("ledger.db"),
    }
}

/// `--state`, else msctl.toml's `[backend] state` (relative to the config dir), else
/// DIR/.msctl/local.db.
pub fn state_path(options: &SessionOptions, config: &Config) -> PathBuf {
    if let Some(p) = &options.state {
        return p.clone();
    }
    match &config.settings.state {
        Some(s) => options.dir.join(s),
        None => options.dir.join(STATE_DIR).join("local.db"),
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
