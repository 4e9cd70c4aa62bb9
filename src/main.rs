//! The msctl binary: parse the command line, run, exit with a documented code.

use clap::Parser;

use msctl::cli::Cli;
use msctl::exit_code;

fn main() {
    let cli = Cli::parse();
    let code = match msctl::commands::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`msctl plan | head`) is not an error worth a message.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                exit_code::SUCCESS
            } else {
                eprintln!("error: {e:#}");
                exit_code::ERROR
            }
        }
    };
    std::process::exit(code);
}
