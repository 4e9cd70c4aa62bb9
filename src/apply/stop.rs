//! [`Stop`]: a cooperative stop for the executor, shared by whoever decides that an apply must
//! end early (a signal handler, a circuit breaker on a dead endpoint) and the executor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A request to stop an apply early. [`execute_with_stop`](super::execute_with_stop) checks it
/// before starting each change: once requested, no further change is started, changes in flight
/// finish (including the create half of a replacement whose delete half ran), and the changes
/// never started are reported [`Outcome::NotStarted`](super::Outcome::NotStarted), with
/// [`Stop::reason`] in [`ApplyReport::stopped`](super::ApplyReport::stopped).
///
/// Clones share one stop; once requested it stays requested. Anyone may request it from any
/// thread (a backend, through a clone it was given, when its endpoint stops answering). A signal
/// handler, which may only store to an atomic, sets [`Stop::flag`] instead and gives no reason.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Stop {
    /// A stop not requested yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Requests the stop, saying why in a few words that complete "not started (…)", e.g.
    /// `interrupted by SIGINT` or `endpoint https://… stopped answering`. The first reason given
    /// is kept; later requests only keep the stop requested.
    pub fn request(&self, reason: impl Into<String>) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(reason.into());
            }
        }
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether the stop was requested (by [`Stop::request`] or through [`Stop::flag`]).
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Why the stop was requested: the first reason given to [`Stop::request`], else
    /// `interrupted` when only the flag was set; `None` while not requested.
    pub fn reason(&self) -> Option<String> {
        if !self.is_requested() {
            return None;
        }
        let slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        Some(slot.clone().unwrap_or_else(|| "interrupted".to_string()))
    }

    /// The atomic behind this stop, for a signal handler (`signal_hook::flag::register`):
    /// storing `true` requests the stop without a reason.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept_and_clones_share_the_stop() {
        let stop = Stop::new();
        let other = stop.clone();
        assert!(!stop.is_requested());
        assert_eq!(stop.reason(), None);
        other.request("endpoint down");
        stop.request("interrupted by SIGINT");
        assert!(stop.is_requested());
        assert_eq!(stop.reason().as_deref(), Some("endpoint down"));
    }

    #[test]
    fn the_flag_alone_requests_a_stop_without_a_reason() {
        let stop = Stop::new();
        stop.flag().store(true, Ordering::SeqCst);
        assert!(stop.is_requested());
        assert_eq!(stop.reason().as_deref(), Some("interrupted"));
    }
}
