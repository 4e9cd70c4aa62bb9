//! One module per subcommand; each returns the process exit code.

pub mod apply;
pub mod drift;
pub mod emulator;
pub mod graph;
pub mod plan;
pub mod session;
pub mod validate;

use std::io::{IsTerminal, Write};

use crate::cli::{Cli, Command};
use crate::config::{self, Loaded};

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Validate(args) => validate::run(cli, args),
        Command::Plan(args) => plan::run(cli, args),
        Command::Apply(args) => apply::run(cli, args),
        Command::Drift => drift::run(cli),
        Command::Graph => graph::run(cli),
        Command::Emulator(args) => emulator::run(cli, args),
    }
}

/// Loads the config directory given by `-C`.
pub fn load_config(cli: &Cli) -> anyhow::Result<Loaded> {
    let sources = config::sources_from_dir(&cli.dir).map_err(|e| {
        anyhow::anyhow!(
            "failed to read config directory `{}`: {e}\nhint: pass the directory holding msctl.toml with `-C DIR`",
            cli.dir.display()
        )
    })?;
    Ok(config::load(sources))
}

/// Prints diagnostics to stderr; returns whether any is an error.
pub fn report_diagnostics(loaded: &Loaded) -> bool {
    let sources = loaded.sources();
    let mut err = std::io::stderr().lock();
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
