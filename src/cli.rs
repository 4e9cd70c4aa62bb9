//! Command-line interface: global options and the subcommands (clap derive).

use std::path::PathBuf;

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
#[derive(Debug, Parser)]
#[command(name = "msctl", version, after_help = after_help())]
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

    /// Overrides the RAM user msctl acts as (aliyun backend; by default STS GetCallerIdentity
    /// names it): API keys owned by this user are created through the API; keys of other owners
    /// are console steps.
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
    ///
    /// Results go to stdout: in text, one line per change and the summary; with `--format json`,
    /// exactly one document (schema/apply.schema.json): each change's outcome, error kind and
    /// duration, the summary, and the plan. The first SIGINT/SIGTERM starts no new change, lets
    /// those in flight finish, records the partial apply and exits 130/143; a second exits at once.
    Apply(ApplyArgs),
    /// Report unapplied commits and out-of-band changes to live state (exit 2 when either exists).
    Drift,
    /// Print the plan's dependency graph: Graphviz DOT, or nodes and edges with `--format json`.
    Graph,
    /// Show the last applied commit, the commits since, and how many changes are pending.
    Status,
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
    /// Write config files (TOML and policy JSON) from the live account, so that `plan` on them
    /// shows no changes; with `-C` of an existing config, only what it does not declare.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
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
    /// The id of the lock to remove, as named by the run that was refused.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: String,
}

/// A duration such as `0`, `30s`, `5m`, `1h`, `500ms`: how long to wait for msctl's run lock.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let bad = || {
        format!("`{text}` is not a duration; use a number with a unit: `500ms`, `30s`, `5m`, `1h`")
    };
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    Ok(std::time::Duration::from_millis(ms))
}

#[derive(Debug, Args)]
pub struct AccessArgs {
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
    /// Answer from live state (read through the backend) instead of the configuration.
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, Args)]
pub struct EnvsArgs {
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
    /// Addresses of the plan's manual steps, e.g. `workspace.chatbot-prod.member.alice`.
    #[arg(value_name = "ADDRESS", required = true)]
    pub addresses: Vec<String>,
    /// How long to wait for another run's lock (`30s`, `5m`); 0 refuses at once.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
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
    /// Independent changes applied at once (at least 1); with the aliyun backend, also the most
    /// calls made at once while reading live state.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = parse_parallelism)]
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
    /// How long to wait for another run's lock (`30s`, `5m`); 0 refuses at once.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
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
