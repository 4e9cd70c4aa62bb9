//! `msctl force-unlock LOCK_ID`: removes msctl's run lock left by an apply or ack that died
//! (`kill -9`, a lost CI runner), so a stale lock never needs manual SQL.

use anyhow::Context as _;

use super::{CommandError, Outcome};
use crate::cli::{Cli, ForceUnlockArgs};

pub fn run(cli: &Cli, args: &ForceUnlockArgs) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let backend = session.backend.as_ref();
    let removed = backend.unlock(&args.lock_id).with_context(|| {
        format!(
            "failed to remove lock {} from the {} backend",
            args.lock_id,
            backend.name()
        )
    })?;
    if let Some(holder) = removed {
        diag!("Removed {holder}.");
        return Ok(Outcome::Success);
    }
    // Nothing removed: say what is held instead, so the reader can pick the right id.
    let current = backend.lock_holder().with_context(|| {
        format!(
            "failed to read msctl's run lock from the {} backend",
            backend.name()
        )
    })?;
    Err(match current {
        Some(holder) => anyhow::anyhow!(
            "failed to remove lock {}: the run lock is {holder}\nhint: check that run is \
                    dead, then `msctl force-unlock {}`",
            args.lock_id,
            holder.id
        ),
        None => anyhow::anyhow!(
            "failed to remove lock {}: no run lock is held\nhint: nothing to do; the run \
                    may have finished and released it",
            args.lock_id
        ),
    }
    .into())
}
