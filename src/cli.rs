//! Command-line interface: the option groups (configuration, backend, output), the subcommands
//! that take them, and the accessors command code reads them through (clap derive).

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit_code;

/// The text after `msctl --help`'s options: the exit-code table ([`exit_code::TABLE`]) and where
/// the docs are.
pub fn after_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in exit_code::TABLE {
        text.push_str(&format!("  {code:<3}  {meaning}\n"));
    }
    text.push_str("\nDocs: README.md (concepts, config reference, resource addresses).");
    text
}

/// Declarative GitOps reconciler for Alibaba Cloud Model Studio access control.
///
/// Desired state lives in TOML files (workspaces, members, model permissions, quota splits, RAM,
/// API-key metadata); msctl diffs it against a backend's live state and plans or applies the
/// changes in dependency order.
///
/// Each subcommand's `--help` lists the options it uses. Given before the subcommand
/// (`msctl -C DIR plan`), an option applies to a subcommand that uses it and is ignored by one
/// that does not; after the subcommand, it wins over the same option given before.
//
// The option groups (`ConfigArgs`, `BackendArgs`, `OutputArgs`) are flattened into each
// subcommand that uses them ([`Command::groups`] says which), and once more into `Cli`, not
// global, so that `msctl -C DIR plan` keeps working without every subcommand's help listing
// every flag. Command code reads options through the accessors ([`Cli::dir`], [`Cli::format`],
// ...), which merge the two places, never through the fields.
#[derive(Debug, Parser)]
#[command(name = "msctl", version, after_help = after_help())]
pub struct Cli {
    /// The configuration options given before the subcommand.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The backend options given before the subcommand.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// The output options given before the subcommand.
    #[command(flatten)]
    pub output: OutputArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration is read from, and how its warnings are shown: every subcommand that
/// loads the configuration takes this group.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Config directory (holds msctl.toml and other *.toml files, subfolders too) [default: .]
    #[arg(
        help_heading = "Configuration",
        short = 'C',
        long = "dir",
        value_name = "DIR"
    )]
    pub dir: Option<PathBuf>,

    /// Read the config directory as it is at a git revision (branch, tag, commit id, `HEAD~2`)
    /// instead of the working tree, straight from the repository (no checkout).
    #[arg(help_heading = "Configuration", long, value_name = "REV")]
    pub rev: Option<String>,

    /// Do not print the config warnings that msctl.toml acknowledges (`safety.accept = [ADDRESS,
    /// ...]`); other warnings still print.
    #[arg(help_heading = "Configuration", long)]
    pub quiet: bool,
}

/// Which backend to reconcile against and how to reach it: the subcommands that read or change
/// live state take this group.
#[derive(Debug, Clone, Default, Args)]
pub struct BackendArgs {
    /// Backend to reconcile against (default: msctl.toml's `[backend] kind`, else local).
    #[arg(help_heading = "Backend", long, value_enum)]
    pub backend: Option<BackendArg>,

    #[command(flatten)]
    pub state: StateArgs,

    /// Alibaba Cloud API endpoint overriding every product's host, e.g. `http://127.0.0.1:8080`
    /// for `msctl emulator` (default: msctl.toml's `[backend] endpoint`, else the public hosts).
    #[arg(help_heading = "Backend", long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// msctl's ledger for the aliyun backend: owned addresses, applies, acknowledged manual
    /// steps (default: DIR/.msctl/ledger.db).
    #[arg(help_heading = "Backend", long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Overrides the RAM user msctl acts as (aliyun backend; by default STS GetCallerIdentity
    /// names it): API keys owned by this user are created through the API; keys of other owners
    /// are console steps.
    #[arg(
        help_heading = "Backend",
        long,
        value_name = "USER",
        env = "MSCTL_CALLER"
    )]
    pub caller: Option<String>,
}

/// The local backend's database: part of [`BackendArgs`], and alone in `msctl emulator`, which
/// serves it.
#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// Local backend database (default: msctl.toml's `[backend] state`, else DIR/.msctl/local.db).
    #[arg(help_heading = "Backend", long, value_name = "PATH")]
    pub state: Option<PathBuf>,
}

/// How results are rendered: the subcommands that print a document take this group.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Output format [default: text]
    #[arg(help_heading = "Output", long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Never colour output (colour is only used on a terminal, and NO_COLOR is honoured).
    #[arg(help_heading = "Output", long)]
    pub no_color: bool,
}

/// The option groups a subcommand takes ([`Command::groups`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Groups<'a> {
    pub config: Option<&'a ConfigArgs>,
    pub backend: Option<&'a BackendArgs>,
    /// The backend's `--state`, or the emulator's own.
    pub state: Option<&'a StateArgs>,
    pub output: Option<&'a OutputArgs>,
}

impl Groups<'_> {
    /// Config, backend and output: what most subcommands take.
    fn all<'a>(
        config: &'a ConfigArgs,
        backend: &'a BackendArgs,
        output: &'a OutputArgs,
    ) -> Groups<'a> {
        Groups {
            config: Some(config),
            backend: Some(backend),
            state: Some(&backend.state),
            output: Some(output),
        }
    }
}

impl Command {
    /// The option groups this subcommand takes: the one place a new subcommand declares them.
    pub fn groups(&self) -> Groups<'_> {
        match self {
            Command::Validate(a) => Groups {
                config: Some(&a.config),
                output: Some(&a.output),
                ..Groups::default()
            },
            Command::Plan(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Apply(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Drift(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Graph(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Status(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Access(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Envs(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Snapshot(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Import(a) => Groups::all(&a.config, &a.backend, &a.output),
            Command::Ack(a) => Groups {
                config: Some(&a.config),
                backend: Some(&a.backend),
                state: Some(&a.backend.state),
                output: None,
            },
            Command::ForceUnlock(a) => Groups {
                config: Some(&a.config),
                backend: Some(&a.backend),
                state: Some(&a.backend.state),
                output: None,
            },
            Command::Emulator(a) => Groups {
                state: Some(&a.state),
                ..Groups::default()
            },
            Command::Init(_) | Command::Schema(_) => Groups::default(),
        }
    }
}

/// The options as the running subcommand sees them: its own, else those given before it, else
/// the default.
impl Cli {
    fn groups(&self) -> Groups<'_> {
        self.command.groups()
    }

    /// `-C DIR`: the config directory (default `.`).
    pub fn dir(&self) -> &Path {
        self.groups()
            .config
            .and_then(|c| c.dir.as_deref())
            .or(self.config.dir.as_deref())
            .unwrap_or(Path::new("."))
    }

    /// `--rev`: read the configuration at this revision.
    pub fn rev(&self) -> Option<&str> {
        self.groups()
            .config
            .and_then(|c| c.rev.as_deref())
            .or(self.config.rev.as_deref())
    }

    /// `--quiet`: hide the config warnings msctl.toml acknowledges.
    pub fn quiet(&self) -> bool {
        self.groups().config.is_some_and(|c| c.quiet) || self.config.quiet
    }

    /// `--backend`, overriding msctl.toml's.
    pub fn backend_kind(&self) -> Option<BackendArg> {
        self.groups()
            .backend
            .and_then(|b| b.backend)
            .or(self.backend.backend)
    }

    /// `--state`: the local backend's database (the emulator's too).
    pub fn state(&self) -> Option<&Path> {
        self.groups()
            .state
            .and_then(|s| s.state.as_deref())
            .or(self.backend.state.state.as_deref())
    }

    /// `--endpoint`, overriding msctl.toml's.
    pub fn endpoint(&self) -> Option<&str> {
        self.groups()
            .backend
            .and_then(|b| b.endpoint.as_deref())
            .or(self.backend.endpoint.as_deref())
    }

    /// `--ledger`: the aliyun backend's ledger file.
    pub fn ledger(&self) -> Option<&Path> {
        self.groups()
            .backend
            .and_then(|b| b.ledger.as_deref())
            .or(self.backend.ledger.as_deref())
    }

    /// `--caller` (or `MSCTL_CALLER`): the RAM user the credentials act for.
    pub fn caller(&self) -> Option<&str> {
        self.groups()
            .backend
            .and_then(|b| b.caller.as_deref())
            .or(self.backend.caller.as_deref())
    }

    /// `--format` (default text).
    pub fn format(&self) -> Format {
        self.groups()
            .output
            .and_then(|o| o.format)
            .or(self.output.format)
            .unwrap_or(Format::Text)
    }

    /// `--no-color`.
    pub fn no_color(&self) -> bool {
        self.groups().output.is_some_and(|o| o.no_color) || self.output.no_color
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Local,
    Aliyun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config: every problem at once, with file:line:column.
    Validate(ValidateArgs),
    /// Show what apply would change (create, update, replace, delete), in dependency order.
    Plan(PlanArgs),
    /// Apply the changes (asks for `yes` on a terminal), or apply a saved plan file exactly.
    ///
    /// Results go to stdout: in text, one line per change and the summary; with `--format json`,
    /// exactly one document (schema/apply.schema.json): each change's outcome, error kind and
    /// duration, the summary, and the plan. The first SIGINT/SIGTERM starts no new change, lets
    /// those in flight finish, records the partial apply and exits 130/143; a second exits at once.
    Apply(ApplyArgs),
    /// Report unapplied commits and out-of-band changes to live state (exit 2 when either exists).
    Drift(DriftArgs),
    /// Print a dependency graph: the plan's (default) or the configuration's (`--config`), as
    /// Graphviz DOT, or nodes and edges with `--format json`.
    Graph(GraphArgs),
    /// Show the last applied commit, the commits since, and how many changes are pending.
    Status(StatusArgs),
    /// Serve the Model Studio, RAM and PAI APIs over HTTP from the local state (`--state`), for
    /// testing the aliyun backend and the official SDKs on loopback.
    Emulator(EmulatorArgs),
    /// Record manual steps (console-only changes) as done, so the plan stops showing them.
    Ack(AckArgs),
    /// Remove msctl's run lock left by an apply or ack that died (the id is in the refusal).
    ForceUnlock(ForceUnlockArgs),
    /// Who can do what, and why: callers of a model, what a principal or key can do, a
    /// workspace's access sheet (from the config, or `--live`).
    Access(AccessArgs),
    /// Workspaces of several environments side by side, differences marked (from the config, or
    /// `--live`).
    Envs(EnvsArgs),
    /// Write a starter configuration into DIR: msctl.toml, a workspace declaration, a quota
    /// split, a RAM user and a `.gitignore`; it validates, plans and applies on the local backend.
    Init(InitArgs),
    /// Print one of msctl's JSON Schemas (the config files', or an output document's), for
    /// editors and tools.
    Schema(SchemaArgs),
    /// Save the live state as read (no secrets), with msctl's ledger, its fingerprint, time,
    /// account, regions and API versions, for `plan --live FILE` without credentials.
    Snapshot(SnapshotArgs),
    /// Write config files (TOML and policy JSON) from the live account, so that `plan` on them
    /// shows no changes; with `-C` of an existing config, only what it does not declare.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Write the snapshot to FILE (JSON, schema/snapshot.schema.json).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Compare a snapshot (`msctl snapshot --out FILE`) instead of reading live state: no
    /// credentials and no network are used.
    #[arg(long, value_name = "FILE")]
    pub live: Option<PathBuf>,
    /// Refuse a snapshot older than this (`12h`, `2d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "live")]
    pub max_age: Option<std::time::Duration>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The configuration's dependency graph: every declared resource and what it needs (the
    /// plan's graph holds only pending changes, and is empty once applied). Reads no live state.
    #[arg(long = "config")]
    pub desired: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the starter configuration (created if missing) [default: `-C`, else .]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema: the config files', or an output document's.
    #[arg(value_enum, value_name = "WHICH")]
    pub which: SchemaKind,
}

/// The JSON Schemas msctl prints (the same text as `schema/<name>.schema.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The config files (`#:schema` for editors).
    Config,
    /// `msctl plan --format json`.
    Plan,
    /// `msctl drift --format json`.
    Drift,
    /// `msctl apply --format json`.
    Apply,
    /// `msctl access --format json`.
    Access,
    /// `msctl envs --format json`.
    Envs,
    /// `msctl plan --base REV --format json`.
    Review,
    /// `msctl snapshot --out FILE`: the snapshot file.
    Snapshot,
}

impl SchemaKind {
    /// The file name under `schema/`, e.g. `config.schema.json`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Config => "config.schema.json",
            SchemaKind::Plan => "plan.schema.json",
            SchemaKind::Drift => "drift.schema.json",
            SchemaKind::Apply => "apply.schema.json",
            SchemaKind::Access => "access.schema.json",
            SchemaKind::Envs => "envs.schema.json",
            SchemaKind::Review => "review.schema.json",
            SchemaKind::Snapshot => "snapshot.schema.json",
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Directory to write into (created; it must be empty unless `--force`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Import only objects whose address, or the address of anything in them, matches this
    /// glob (`workspace.chatbot-*`, `ram.user.*`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub select: Vec<String>,
    /// Model Studio and PAI regions to read (default: every region msctl knows); repeatable.
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Write into a non-empty DIR, replacing the files import writes (others are left alone).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// The id of the lock to remove, as named by the run that was refused.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: String,
}

/// A duration such as `0`, `30s`, `5m`, `1h`, `2d`, `500ms`: how long to wait for msctl's run
/// lock, how old a snapshot may be.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::model::time::parse_duration_millis(text)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            format!(
                "`{}` is not a duration; use a number with a unit: `500ms`, `30s`, `5m`, `1h`, \
                 `2d`",
                text.trim()
            )
        })
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Who can call, fine-tune or deploy this model (with `--workspace`: there).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Narrow to one workspace; alone, its access sheet.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Everything this RAM user can do, per workspace and account-wide.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["group", "role", "key"])]
    pub user: Option<String>,
    /// Everything this RAM group (and so its users) can do.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["role", "key"])]
    pub group: Option<String>,
    /// Everything this RAM role can do.
    #[arg(long, value_name = "NAME", conflicts_with = "key")]
    pub role: Option<String>,
    /// What this API key can call (every workspace's key of that name, or `--workspace`'s).
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,
    /// Answer from live state instead of the configuration: read through the backend, or, given
    /// FILE, from a snapshot (`msctl snapshot --out FILE`) with no credentials and no network.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub live: Option<Option<PathBuf>>,
    /// Refuse a snapshot older than this (`12h`, `2d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "live")]
    pub max_age: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct EnvsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Workspaces to compare (one per environment), or a declaration such as `chatbot-{env}`;
    /// default: every workspace declaration expanded over environments.
    #[arg(value_name = "WORKSPACE")]
    pub workspaces: Vec<String>,
    /// Compare live state (read through the backend) instead of the configuration.
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Addresses of the plan's manual steps, e.g. `workspace.chatbot-prod.member.alice`.
    #[arg(value_name = "ADDRESS", required = true)]
    pub addresses: Vec<String>,
    /// How long to wait for another run's lock (`30s`, `5m`); 0 refuses at once.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE, for `msctl apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Allow deleting workspaces and RAM users.
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow plans that change a large share of managed objects or remove a workspace's last
    /// administrator.
    #[arg(long)]
    pub force: bool,
    /// Review a pull request: also show what changes in the desired state since revision REV
    /// (e.g. `origin/main`), and live drift from it that merging would overwrite.
    #[arg(long, value_name = "REV", conflicts_with = "out")]
    pub base: Option<String>,
    /// Plan against a snapshot (`msctl snapshot --out FILE`) instead of reading live state: no
    /// credentials and no network are used; `apply` of the saved plan re-reads live state.
    #[arg(long, value_name = "FILE")]
    pub live: Option<PathBuf>,
    /// Refuse a snapshot older than this (`12h`, `2d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "live")]
    pub max_age: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Independent changes applied at once (at least 1); with the aliyun backend, also the most
    /// calls made at once while reading live state.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Allow deleting workspaces and RAM users.
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow plans that change a large share of managed objects or remove a workspace's last
    /// administrator.
    #[arg(long)]
    pub force: bool,
    /// Apply although the config directory has uncommitted changes (the ledger then records a
    /// commit that does not hold exactly what was applied).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Write the secret of every API key this apply creates to FILE (created with mode 0600),
    /// and nowhere else; without it, secrets are never seen (aliyun backend).
    #[arg(long, value_name = "FILE")]
    pub secrets_to: Option<PathBuf>,
    /// How long to wait for another run's lock (`30s`, `5m`); 0 refuses at once.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Do not record the apply as a git note (`refs/notes/msctl`) on the applied commit, as
    /// msctl.toml's `project.git_notes = false`; the backend's ledger still records it.
    #[arg(long)]
    pub no_notes: bool,
    /// A plan saved by `msctl plan --out FILE`: applied exactly, if live state has not moved.
    #[arg(value_name = "FILE")]
    pub plan_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also print the derived quota splits and the expanded workspaces.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Address to listen on; port 0 picks a free one. The address is printed once listening.
    #[arg(long, default_value = "127.0.0.1:18080", value_name = "HOST:PORT")]
    pub listen: String,
    /// Region of requests whose Host names none (a loopback endpoint) and that send no
    /// `x-acs-region-id`.
    #[arg(long, default_value = "cn-beijing", value_name = "REGION")]
    pub region: String,
    /// The emulated account's UID (API keys' `createdBy`, role ARNs).
    #[arg(long, default_value = "1378030599924858", value_name = "UID")]
    pub account_uid: String,
    /// Seed of the fault generator: the same seed gives the same faults in the same order.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Delay added to every request, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub latency_ms: u64,
    /// Share of requests throttled (`Throttling.User`, 429 or 400, with `x-acs-retry-after`).
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub throttle_rate: f64,
    /// Share of requests failed with 500 `InternalError` or 503 `ServiceUnavailable`.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub error_rate: f64,
    /// Share of requests whose connection is closed without an answer.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub drop_rate: f64,
    /// `x-acs-retry-after` of a throttled answer, in milliseconds.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub retry_after_ms: u64,
    /// Share of requests executed (their changes commit) whose connection is then closed
    /// without an answer, as a lost response in a real network.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub lost_reply_rate: f64,
    /// Accept any `x-acs-date` (for tests that pin the clock); nonces are still checked.
    #[arg(long)]
    pub no_clock_check: bool,
    /// Connections served at once; at least `msctl apply`'s default --parallelism (10), so a
    /// default apply never queues for a connection.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub workers: usize,
    /// Do not log one line per request on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--parallelism`: a whole number of at least 1 (0 would apply nothing; it is not quietly 1).
fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("msctl").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn options_before_the_subcommand_reach_it() {
        let cli = parse(&[
            "-C", "cfg", "--state", "s.db", "--format", "json", "--rev", "HEAD", "plan",
        ]);
        assert_eq!(cli.dir(), Path::new("cfg"));
        assert_eq!(cli.state(), Some(Path::new("s.db")));
        assert_eq!(cli.format(), Format::Json);
        assert_eq!(cli.rev(), Some("HEAD"));
    }

    #[test]
    fn options_after_the_subcommand_win_over_those_before() {
        let cli = parse(&[
            "-C", "a", "--format", "text", "plan", "-C", "b", "--format", "markdown",
        ]);
        assert_eq!(cli.dir(), Path::new("b"));
        assert_eq!(cli.format(), Format::Markdown);
    }

    #[test]
    fn defaults_when_given_nowhere() {
        let cli = parse(&["status"]);
        assert_eq!(cli.dir(), Path::new("."));
        assert_eq!(cli.format(), Format::Text);
        assert!(!cli.quiet() && !cli.no_color());
        assert_eq!(cli.rev(), None);
    }

    #[test]
    fn a_subcommand_refuses_an_option_of_a_group_it_does_not_take() {
        let after = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("msctl").chain(args.iter().copied())).is_err()
        };
        assert!(after(&["emulator", "--backend", "aliyun"]));
        assert!(after(&["emulator", "--rev", "HEAD"]));
        assert!(after(&["validate", "--state", "x.db"]));
        assert!(after(&["schema", "config", "-C", "dir"]));
        // The emulator's own --state is its group's.
        let cli = parse(&["emulator", "--state", "e.db"]);
        assert_eq!(cli.state(), Some(Path::new("e.db")));
    }
}
