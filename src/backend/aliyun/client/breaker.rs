//! The client's circuit breaker: fails every call at once while the endpoint is dead.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{BreakerPolicy, Endpoint, lock};
use crate::backend::aliyun::error::CallError;

/// What an attempt says about the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Health {
    /// An answer that was not a server error: the service works.
    Good,
    /// No answer, or a 5xx.
    Bad,
    /// Throttled, or nothing was sent: says nothing either way.
    Neutral,
}

pub(super) fn health(result: &Result<Value, CallError>) -> Health {
    match result {
        Ok(_) => Health::Good,
        Err(CallError::Transport { .. }) => Health::Bad,
        Err(CallError::Api(e)) if e.is_throttling() => Health::Neutral,
        Err(CallError::Api(e)) if (500..=599).contains(&e.status) => Health::Bad,
        Err(CallError::Api(_) | CallError::InvalidResponse { .. }) => Health::Good,
        Err(CallError::InvalidRequest(_) | CallError::Unavailable { .. }) => Health::Neutral,
    }
}

/// A circuit breaker over every call of the client: closed (calls go through) until
/// [`BreakerPolicy::min_failures`] attempts in a row have failed over at least
/// [`BreakerPolicy::window`]; then open (every call fails at once with
/// [`CallError::Unavailable`]) for [`BreakerPolicy::cooldown`]; then one call goes through as a
/// probe, and its outcome closes or re-opens the breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    /// Failed attempts since the last success.
    streak: u32,
    first_failure: Option<Instant>,
    last_failure: Option<Instant>,
    /// Why the latest attempt failed.
    last_reason: String,
    /// Since when the breaker is open.
    open_since: Option<Instant>,
    /// A probe is in flight: everyone else is still refused.
    probing: bool,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::default(),
        }
    }

    /// Whether calls are being refused right now.
    pub fn is_open(&self) -> bool {
        lock(&self.state).open_since.is_some()
    }

    /// Lets an attempt through, or refuses it while the breaker is open.
    pub(super) fn admit(&self, endpoint: &Endpoint, action: &str) -> Result<(), CallError> {
        let mut state = lock(&self.state);
        let Some(since) = state.open_since else {
            return Ok(());
        };
        if since.elapsed() >= self.policy.cooldown && !state.probing {
            state.probing = true;
            return Ok(());
        }
        let over = match (state.first_failure, state.last_failure) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        Err(CallError::Unavailable {
            endpoint: endpoint.base_url(),
            action: action.to_string(),
            failures: state.streak,
            over,
            last: state.last_reason.clone(),
        })
    }

    pub(super) fn record(&self, health: Health, reason: impl FnOnce() -> String) {
        let mut state = lock(&self.state);
        let probe = std::mem::take(&mut state.probing);
        match health {
            Health::Good => {
                *state = BreakerState::default();
            }
            Health::Neutral if probe => {
                *state = BreakerState::default();
            }
            Health::Neutral => {}
            Health::Bad => {
                let now = Instant::now();
                state.streak = state.streak.saturating_add(1);
                let first = *state.first_failure.get_or_insert(now);
                state.last_failure = Some(now);
                state.last_reason = reason();
                if probe
                    || (state.open_since.is_none()
                        && state.streak >= self.policy.min_failures
                        && now.saturating_duration_since(first) >= self.policy.window)
                {
                    state.open_since = Some(now);
                }
            }
        }
    }
}

/// A short reason for the breaker's message.
pub(super) fn failure_reason(result: &Result<Value, CallError>) -> String {
    match result {
        Err(CallError::Transport { message, .. }) => message.clone(),
        Err(CallError::Api(e)) => format!("HTTP {} {}", e.status, e.code).trim().to_string(),
        Err(other) => other.to_string(),
        Ok(_) => String::new(),
    }
}
