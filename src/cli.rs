//! Command-line interface: global options and the subcommands (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  success: no changes, in sync
  1  error: invalid config, refused or failed apply, backend failure
  2  changes present (plan --detailed-exitcode), drift or unapplied commits found (drift)

Docs: README.md (concepts, config reference, resource addresses).";

/// Declarative GitOps reconciler for Alibaba Cloud Model Studio access control.
///
/// Desired state lives in TOML files (workspaces, members, model permissions, quota splits, RAM,
/// API-key metadata); msctl diffs it against a backend's live state and plans or applies the
/// changes in dependency order.
#[derive(Debug, Parser)]
#[command(name = "msctl", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Config directory (holds msctl.toml and other *.toml files, subfolders too).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// Backend to reconcile against (default: msctl.toml's `[backend] kind`, else local).
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendArg>,

    /// Local backend database (default: msctl.toml's `[backend] state`, else DIR/.msctl/local.db).
    #[arg(long, global = true, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Alibaba Cloud API endpoint overriding every product's host, e.g. `http://127.0.0.1:8080`
    /// for `msctl emulator` (default: msctl.toml's `[backend] endpoint`, else the public hosts).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// msctl's ledger for the aliyun backend: owned addresses, applies, acknowledged manual
    /// steps (default: DIR/.msctl/ledger.db).
    #[arg(long, global = true, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// The RAM user whose access key msctl uses (aliyun backend): API keys owned by this user are
    /// created through the API; keys of other owners are console steps.
    #[arg(long, global = true, value_name = "USER", env = "MSCTL_CALLER")]
    pub caller: Option<String>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Never colour output (colour is only used on a terminal, and NO_COLOR is honoured).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Read the config directory as it is at a git revision (branch, tag, commit id, `HEAD~2`)
    /// instead of the working tree, straight from the repository (no checkout).
    #[arg(long, global = true, value_name = "REV")]
    pub rev: Option<String>,

    #[command(subcommand)]
    pub command: Command,
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
    Apply(ApplyArgs),
    /// Report unapplied commits and out-of-band changes to live state (exit 2 when either exists).
    Drift,
    /// Print the plan's dependency graph as Graphviz DOT.
    Graph,
    /// Show the last applied commit, the commits since, and how many changes are pending.
    Status,
    /// Serve the Model Studio, RAM and PAI APIs over HTTP from the local state (`--state`), for
    /// testing the aliyun backend and the official SDKs on loopback.
    Emulator(EmulatorArgs),
    /// Record manual steps (console-only changes) as done, so the plan stops showing them.
    Ack(AckArgs),
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// Addresses of the plan's manual steps, e.g. `workspace.chatbot-prod.member.alice`.
    #[arg(value_name = "ADDRESS", required = true)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE, for `msctl apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Allow deleting workspaces and RAM users.
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow plans that change a large share of managed objects or remove a workspace's last administrator.
    #[arg(long)]
    pub force: bool,
    /// Review a pull request: also show what changes in the desired state since revision REV
    /// (e.g. `origin/main`), and live drift from it that merging would overwrite.
    #[arg(long, value_name = "REV", conflicts_with = "out")]
    pub base: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Independent changes applied at once.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallelism: usize,
    /// Allow deleting workspaces and RAM users.
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow plans that change a large share of managed objects or remove a workspace's last administrator.
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
    /// A plan saved by `msctl plan --out FILE`: applied exactly, if live state has not moved.
    #[arg(value_name = "FILE")]
    pub plan_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also print the derived quota splits and the expanded workspaces.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
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
