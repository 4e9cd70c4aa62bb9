//! Synchronisation and hang guards for unit tests: a rendezvous that proves calls overlapped,
//! the generous wait for a database lock, and the meaning of `MSCTL_UPDATE_SCHEMAS`.
//!
//! This is the only unit-test code that looks at a clock, and only as a hang guard: a deadline
//! far beyond any healthy run, after which a test fails instead of stalling CI. No outcome
//! depends on how fast a healthy run is.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something that a healthy run does at once.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The busy timeout of a test's database connection: writers queue behind each other's lock
/// instead of giving up, so every write lands and the test can count them exactly.
pub const LOCK_WAIT: Duration = Duration::from_secs(300);

/// A reusable barrier with a hang guard: each group of `parties` callers is released together.
/// A call can only return `true` once `parties` calls are inside [`Rendezvous::wait`] at the same
/// time, so the calls provably ran concurrently.
#[derive(Debug)]
pub struct Rendezvous {
    parties: usize,
    /// Callers waiting in the current group, and the number of groups released so far.
    state: Mutex<(usize, u64)>,
    released: Condvar,
}

impl Rendezvous {
    pub fn new(parties: usize) -> Self {
        Self {
            parties: parties.max(1),
            state: Mutex::new((0, 0)),
            released: Condvar::new(),
        }
    }

    /// Waits until this caller's group is complete. `false` when [`HANG_GUARD`] passed first:
    /// fewer callers than `parties` ever ran at once.
    pub fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let group = state.1;
        state.0 += 1;
        if state.0 == self.parties {
            *state = (0, group + 1);
            self.released.notify_all();
            return true;
        }
        let deadline = Instant::now() + HANG_GUARD;
        while state.1 == group {
            let now = Instant::now();
            if now >= deadline {
                state.0 -= 1;
                return false;
            }
            state = self
                .released
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Whether this run regenerates committed schemas instead of checking them:
/// `MSCTL_UPDATE_SCHEMAS=1` does; unset, empty or `0` checks; any other value is refused. The
/// integration tests (`tests/common`) read the variable the same way.
pub fn update_schemas() -> bool {
    match std::env::var("MSCTL_UPDATE_SCHEMAS").as_deref() {
        Ok("1") => true,
        Ok("" | "0") | Err(std::env::VarError::NotPresent) => false,
        Ok(other) => panic!(
            "MSCTL_UPDATE_SCHEMAS={other:?} is not understood: set it to 1 to regenerate the \
             committed schemas, or unset it (or 0) to check them"
        ),
        Err(std::env::VarError::NotUnicode(v)) => {
            panic!("MSCTL_UPDATE_SCHEMAS={v:?} is not understood: set it to 1, 0 or leave it unset")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_rendezvous_releases_whole_groups_only() {
        let gate = Arc::new(Rendezvous::new(3));
        let (tx, rx) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let gate = Arc::clone(&gate);
                let tx = tx.clone();
                std::thread::spawn(move || {
                    assert!(gate.wait());
                    tx.send(i).unwrap();
                })
            })
            .collect();
        drop(tx);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(rx.iter().count(), 6);
        // Nobody is left waiting: the counter is back at the start of a group.
        assert_eq!(gate.state.lock().unwrap().0, 0);
        assert_eq!(gate.state.lock().unwrap().1, 2);
    }

    #[test]
    fn a_rendezvous_of_one_never_waits() {
        let gate = Rendezvous::new(1);
        assert!((0..5).all(|_| gate.wait()));
    }
}
