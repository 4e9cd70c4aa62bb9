//! One module per subcommand; each returns how it ended: an [`Outcome`] (exit 0 or 2) or a
//! [`CommandError`] that knows its exit code and that `main` prints once.

/// `eprintln!` that never panics on a closed stderr: see [`output::stderr_line`].
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::commands::output::stderr_line(&format!($($arg)*))
    };
}

pub mod access;
pub mod ack;
pub mod apply;
pub mod checkout;
pub mod drift;
pub mod emulator;
pub mod envs;
pub mod error;
pub mod force_unlock;
pub mod graph;
pub mod import;
pub mod init;
pub mod interrupt;
pub mod output;
pub mod plan;
pub mod schema;
pub mod session;
pub mod snapshot;
pub mod status;
pub mod validate;

use std::io::IsTerminal;

use crate::cli::{Cli, Command};
use crate::config::{self, Loaded};
use crate::exit_code;
use checkout::Checkout;
pub use error::{CommandError, Signal};
use session::{Session, SessionOptions, Start};

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; no changes; in sync.
    Success,
    /// Changes present (`plan --detailed-exitcode`) or drift found (`drift`).
    Changes,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => exit_code::SUCCESS,
            Outcome::Changes => exit_code::CHANGES,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<Outcome, CommandError> {
    match &cli.command {
        Command::Validate(args) => validate::run(cli, args),
        Command::Plan(args) => plan::run(cli, args),
        Command::Apply(args) => apply::run(cli, args),
        Command::Drift(_) => drift::run(cli),
        Command::Graph(args) => graph::run(cli, args),
        Command::Status(_) => status::run(cli),
        Command::Ack(args) => ack::run(cli, args),
        Command::Emulator(args) => emulator::run(cli, args),
        Command::ForceUnlock(args) => force_unlock::run(cli, args),
        Command::Access(args) => access::run(cli, args),
        Command::Envs(args) => envs::run(cli, args),
        Command::Init(args) => init::run(cli, args),
        Command::Schema(args) => schema::run(args),
        Command::Snapshot(args) => snapshot::run(cli, args),
        Command::Import(args) => import::run(cli, args),
    }
}

/// Starts a session: a configuration with errors (its diagnostics printed) is
/// [`CommandError::InvalidConfig`].
pub fn start(cli: &Cli) -> Result<Box<Session>, CommandError> {
    match Session::start(SessionOptions::from_cli(cli))? {
        Start::Ready(session) => Ok(session),
        Start::Invalid => Err(CommandError::InvalidConfig {
            dir: cli.dir().display().to_string(),
            rev: cli.rev().map(|r| format!(" --rev {r}")).unwrap_or_default(),
        }),
    }
}

/// Loads the config directory given by `-C`, from the working tree or at `--rev`; the dirty
/// check then covers every file the configuration read.
pub fn load_config(dir: &std::path::Path, checkout: &mut Checkout) -> anyhow::Result<Loaded> {
    let loaded = config::load(checkout.sources(dir)?);
    checkout.cover_reads(loaded.sources());
    Ok(loaded)
}

/// Prints diagnostics to stderr, saying first which revision they point into when it is not
/// the working tree (`file:line` alone would send the reader to the wrong text); returns
/// whether any is an error. With `quiet`, warnings msctl.toml acknowledges (`safety.accept`)
/// are left out. Each diagnostic prints once per run, however many configurations (a base
/// revision, the applied commit) the run loads and reports.
pub fn report_diagnostics(loaded: &Loaded, revision_note: Option<&str>, quiet: bool) -> bool {
    let sources = loaded.sources();
    let shown = unseen(
        loaded
            .diagnostics
            .iter()
            .filter(|d| !(quiet && d.accepted))
            .map(|d| d.render(sources)),
    );
    if let Some(note) = revision_note
        && !shown.is_empty()
    {
        diag!("note: {note}; locations below are in that revision");
    }
    for text in shown {
        diag!("{text}");
    }
    loaded.diagnostics.iter().any(|d| d.is_error())
}

/// The rendered diagnostics this run has not printed yet, remembering them as printed.
fn unseen(rendered: impl Iterator<Item = String>) -> Vec<String> {
    static PRINTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut printed = PRINTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::new();
    for text in rendered {
        if !printed.contains(&text) {
            printed.push(text.clone());
            out.push(text);
        }
    }
    out
}

/// The output format `--format` and the terminal ask for.
pub fn output_format(cli: &Cli) -> crate::render::OutputFormat {
    use crate::cli::Format;
    use crate::render::OutputFormat;
    match cli.format() {
        Format::Text => OutputFormat::Text {
            color: use_color(cli),
        },
        Format::Markdown => OutputFormat::Markdown,
        Format::Json => OutputFormat::Json,
    }
}

/// Colour only on a terminal, never with `--no-color` or NO_COLOR.
pub fn use_color(cli: &Cli) -> bool {
    !cli.no_color()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}
