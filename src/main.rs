//! The msctl binary: parse the command line, run, exit with a documented code.

use clap::Parser;

use msctl::cli::Cli;
use msctl::commands::output;
use msctl::exit_code;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print to stdout and succeed; everything else clap rejects
            // is a usage error, exit 1: exit 2 means "changes present" / "drift found".
            let code = if e.use_stderr() {
                exit_code::ERROR
            } else {
                exit_code::SUCCESS
            };
            // Printing may fail on a closed pipe (`msctl --help | head -1`); the code stands.
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match msctl::commands::run(&cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            if let Some(report) = e.report() {
                output::stderr_line(&report);
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
