//! `msctl emulator`: serve the cloud APIs from the local state until SIGINT or SIGTERM.

use std::time::Duration;

use anyhow::Context as _;

use super::{CommandError, Outcome, output};
use crate::backend::aliyun::Credentials;
use crate::cli::{Cli, EmulatorArgs};
use crate::emulator::{self, EmulatorConfig, FaultConfig};

pub fn run(cli: &Cli, args: &EmulatorArgs) -> Result<Outcome, CommandError> {
    let Some(state) = cli.state().map(std::path::Path::to_path_buf) else {
        return Err(CommandError::Usage(
            "msctl emulator needs a state database\nhint: pass `--state FILE` (the same file \
             `msctl --backend local --state FILE` reads)"
                .to_string(),
        ));
    };
    super::session::prepare_state_dir(&state)?;
    serve(args, state)?;
    Ok(Outcome::Success)
}

/// Serves until SIGINT or SIGTERM.
fn serve(args: &EmulatorArgs, state: std::path::PathBuf) -> anyhow::Result<()> {
    // The emulator accepts exactly the access key a client would use from the same variables.
    let credentials = Credentials::from_env().map_err(|e| {
        anyhow::anyhow!(
            "the emulator cannot start: {e}\nhint: these are the only credentials it will accept"
        )
    })?;
    let faults = FaultConfig {
        seed: args.seed,
        latency: Duration::from_millis(args.latency_ms),
        throttle_rate: args.throttle_rate,
        error_rate: args.error_rate,
        drop_rate: args.drop_rate,
        retry_after_ms: args.retry_after_ms,
        lost_reply_rate: args.lost_reply_rate,
    };
    let config = EmulatorConfig {
        listen: args.listen.clone(),
        region: args.region.clone(),
        account_uid: args.account_uid.clone(),
        faults,
        check_clock: !args.no_clock_check,
        check_nonce: true,
        workers: args.workers,
        log: !args.quiet,
        ..EmulatorConfig::new(&state, credentials)
    };
    let running = emulator::spawn(config)
        .with_context(|| format!("failed to start the emulator on `{}`", args.listen))?;
    let handle = running.handle();
    ctrlc::set_handler(move || handle.shutdown())
        .context("failed to install the SIGINT/SIGTERM handler")?;

    // Tests start the emulator on port 0 and read this line for the port: flushed at once.
    output::stdout(&format!("msctl emulator listening on {}", running.url()))?;
    diag!(
        "serving Model Studio 2026-02-10, RAM 2015-05-01 and AIWorkSpace 2021-02-04 from `{}`; \
         Ctrl-C stops",
        state.display()
    );
    running.wait();
    diag!("msctl emulator stopped");
    Ok(())
}
