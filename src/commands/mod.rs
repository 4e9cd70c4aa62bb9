//! One module per subcommand; each returns the process exit code.

pub mod access;
pub mod ack;
pub mod apply;
pub mod checkout;
pub mod drift;
pub mod emulator;
pub mod envs;
pub mod graph;
pub mod plan;
pub mod session;
pub mod status;
pub mod validate;

use std::io::{IsTerminal, Write};

use crate::cli::{Cli, Command};
use crate::config::{self, Loaded};
use checkout::Checkout;

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Validate(args) => validate::run(cli, args),
        Command::Plan(args) => plan::run(cli, args),
        Command::Apply(args) => apply::run(cli, args),
        Command::Drift => drift::run(cli),
        Command::Graph => graph::run(cli),
        Command::Status => status::run(cli),
        Command::Ack(args) => ack::run(cli, args),
        Command::Emulator(args) => emulator::run(cli, args),
        Command::Access(args) => access::run(cli, args),
        Command::Envs(args) => envs::run(cli, args),
    }
}

/// Loads the config directory given by `-C`, from the working tree or at `--rev`.
pub fn load_config(cli: &Cli, checkout: &Checkout) -> anyhow::Result<Loaded> {
    Ok(config::load(checkout.sources(cli)?))
}

/// Prints diagnostics to stderr, saying first which revision they point into when it is not
/// the working tree (`file:line` alone would send the reader to the wrong text); returns
/// whether any is an error.
pub fn report_diagnostics(loaded: &Loaded, revision_note: Option<&str>) -> bool {
    let sources = loaded.sources();
    let mut err = std::io::stderr().lock();
    if let Some(note) = revision_note
        && !loaded.diagnostics.is_empty()
    {
        let _ = writeln!(err, "note: {note}; locations below are in that revision");
    }
    for d in &loaded.diagnostics {
        let _ = write!(err, "{}", d.render(sources));
        let _ = writeln!(err);
    }
    loaded.diagnostics.iter().any(|d| d.is_error())
}

/// Colour only on a terminal, never with `--no-color` or NO_COLOR.
pub fn use_color(cli: &Cli) -> bool {
    !cli.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}
