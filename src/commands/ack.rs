//! `msctl ack ADDRESS...`: records manual steps (console-only changes) as done in the ledger, so
//! the plan compares against them instead of showing the steps again (design-notes §2).

use anyhow::Context as _;

use super::{CommandError, Outcome};
use crate::cli::{AckArgs, Cli};
use crate::model::Address;
use crate::plan::{self, AckOutcome};

pub fn run(cli: &Cli, args: &AckArgs) -> Result<Outcome, CommandError> {
    // Every address must parse before anything is read or written.
    let mut addresses = Vec::with_capacity(args.addresses.len());
    for text in &args.addresses {
        addresses.push(
            text.parse::<Address>()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let session = super::start(cli)?;
    // The ledger is read, changed and written back: one run at a time.
    let _lock = session.lock("ack", args.lock_timeout)?;
    let live = session.read_live()?;
    let plan = session.plan(&live)?;
    let mut ledger = session.backend.load_ledger().with_context(|| {
        format!(
            "failed to read msctl's ledger from the {} backend",
            session.backend.name()
        )
    })?;
    let mut failed = Vec::new();
    let mut changed = 0;
    for address in &addresses {
        match plan::acknowledge(&plan, &mut ledger, address) {
            Ok(AckOutcome::Recorded) => {
                changed += 1;
                diag!("{address}: acknowledged");
            }
            Ok(AckOutcome::Forgotten) => {
                changed += 1;
                diag!("{address}: acknowledged as removed");
            }
            Ok(AckOutcome::AlreadyAcknowledged) => {
                diag!("{address}: already acknowledged");
            }
            Err(message) => failed.push(message),
        }
    }
    if changed > 0 {
        session
            .backend
            .save_ledger(&ledger)
            .map_err(|e| anyhow::anyhow!("failed to record in msctl's ledger: {e}"))?;
    }
    if failed.is_empty() {
        Ok(Outcome::Success)
    } else {
        // The others are recorded; each refusal is an `error:` line.
        Err(CommandError::Refused(failed))
    }
}
