//! SIGINT and SIGTERM during an apply: the first stops the apply cooperatively (no new change
//! starts, those in flight finish, the partial apply is recorded and summarised, exit 130/143);
//! a second one exits at once with the same code.
//!
//! `signal-hook` rather than `ctrlc`: the exit code must say which signal came, and the handler
//! may only store to atomics, which `signal_hook::flag` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use super::error::Signal;
use crate::apply::Stop;

/// The installed handlers. They stay installed until the process exits: a second signal while
/// the partial apply is being recorded still exits at once.
pub struct Interrupt {
    which: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Makes SIGINT and SIGTERM request `stop` (the first time) or exit at once (the second).
    pub fn install(stop: &Stop) -> anyhow::Result<Interrupt> {
        let signalled = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for (signal, code) in [
            (SIGINT, Signal::Interrupt.exit_code()),
            (SIGTERM, Signal::Terminate.exit_code()),
        ] {
            // Registered first so it sees the flag as it was before this signal set it: the
            // actions of one signal run in the order they were registered.
            flag::register_conditional_shutdown(signal, code, Arc::clone(&signalled))
                .and_then(|_| flag::register(signal, Arc::clone(&signalled)))
                .and_then(|_| flag::register(signal, stop.flag()))
                .and_then(|_| flag::register_usize(signal, Arc::clone(&which), signal as usize))
                .context("failed to install the SIGINT/SIGTERM handlers")?;
        }
        Ok(Interrupt { which })
    }

    /// The signal received, if any.
    pub fn signal(&self) -> Option<Signal> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            n if n == SIGTERM as usize => Some(Signal::Terminate),
            _ => Some(Signal::Interrupt),
        }
    }
}
