//! The client's adaptive cap on calls in flight.

use std::sync::{Condvar, Mutex};

use super::lock;

/// An adaptive cap on calls in flight (AIMD, as TCP does): a throttled answer halves the cap, each
/// success adds `1/cap`, so a full window of successes adds one. Throttles answering calls that
/// started before the last cut do not cut again: one burst of flow control is one signal.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    state: Mutex<LimiterState>,
    freed: Condvar,
}

#[derive(Debug)]
struct LimiterState {
    /// The cap, fractional so that slow growth accumulates; calls start while `in_flight < cap`.
    cap: f64,
    in_flight: usize,
    /// Bumped on every cut; a permit remembers the epoch it started in.
    epoch: u64,
}

/// One call in flight; dropping it frees the slot.
pub(super) struct Permit<'a> {
    limiter: &'a Limiter,
    epoch: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        lock(&self.limiter.state).in_flight -= 1;
        self.limiter.freed.notify_one();
    }
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            state: Mutex::new(LimiterState {
                cap: max as f64,
                in_flight: 0,
                epoch: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// The current cap (at least 1).
    pub fn cap(&self) -> usize {
        (lock(&self.state).cap as usize).max(1)
    }

    pub(super) fn acquire(&self) -> Permit<'_> {
        let mut state = lock(&self.state);
        while state.in_flight >= (state.cap as usize).max(1) {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.in_flight += 1;
        Permit {
            limiter: self,
            epoch: state.epoch,
        }
    }

    pub(super) fn throttled(&self, permit: &Permit<'_>) {
        let mut state = lock(&self.state);
        if permit.epoch == state.epoch {
            state.cap = (state.cap / 2.0).max(1.0);
            state.epoch += 1;
        }
    }

    pub(super) fn succeeded(&self) {
        let grew = {
            let mut state = lock(&self.state);
            let before = state.cap as usize;
            state.cap = (state.cap + 1.0 / state.cap).min(self.max as f64);
            state.cap as usize > before
        };
        if grew {
            self.freed.notify_one();
        }
    }
}
