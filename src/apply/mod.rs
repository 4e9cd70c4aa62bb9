//! The executor: carries out a plan's changes through a backend, in dependency order, in
//! parallel up to a cap.
//!
//! A ready queue feeds at most `parallelism` worker threads of a [`crate::pool`] (no async
//! runtime: backend calls block, and the cap is small). A step starts only when every step it
//! depends on succeeded. When one fails, its transitive dependents are skipped and everything
//! independent still runs (Terraform's dag walk). A replacement is two steps, delete then create.
//!
//! Manual changes (the backend cannot make them) are never sent to the backend. They are
//! reported as manual, pending a person, and do not hold back their dependents: what the API
//! manages exists independently of console-only objects (a key can be created while its owner's
//! membership is still a console step; it works once the member is added). A manual change
//! whose own dependency failed is skipped like any other.
//!
//! A [`Stop`] ends an apply early and cleanly: no change starts after it is requested, changes
//! in flight finish, and the rest are reported not started, so that what was applied can be
//! recorded and the next apply converges.

mod result;
mod stop;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use crate::backend::{Backend, BackendError, Operation};
use crate::graph::{Graph, Phase, Step};
use crate::model::Address;
use crate::plan::{Action, Change, Plan};
use crate::pool::{self, Pool};

pub use result::{ApplyResult, ApplyStatus, ApplySummary, RESULT_FORMAT_VERSION};
pub use stop::Stop;

/// Progress of an apply, for a reporter (stderr) to print as it happens. `Started` comes from
/// the worker threads, everything else from the coordinating thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The change's first step was sent to the backend.
    Started { address: Address, action: Action },
    /// Every step of the change succeeded.
    Succeeded { address: Address, action: Action },
    /// A step failed (or a replacement was left half done); `kind` lets a reporter act on it
    /// (a circuit breaker counting transport failures, say).
    Failed {
        address: Address,
        action: Action,
        kind: ErrorKind,
        error: String,
    },
    /// Not attempted because `because` (a change it depends on, directly or not) failed.
    Skipped { address: Address, because: Address },
    /// Left to a person: the console steps are in the plan.
    Manual { address: Address },
    /// The executor saw the [`Stop`]: no further change starts; `in_flight` steps are finishing.
    Stopping { reason: String, in_flight: usize },
    /// Never started because the apply was stopped (`reason`, from [`Stop::reason`]).
    NotStarted { address: Address, reason: String },
    Finished {
        applied: usize,
        failed: usize,
        skipped: usize,
        manual: usize,
    },
}

/// What happened to one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded.
    Applied,
    /// A step failed (`error` says how), or a replacement was left half done.
    Failed,
    /// Not attempted because a change it depends on failed (`skipped_because`).
    Skipped,
    /// A manual step left to a person; never sent to the backend.
    Manual,
    /// Not started because the apply was stopped (a signal, a circuit breaker).
    NotStarted,
}

/// Why a change failed, in kinds a pipeline can act on (retry the throttled and the transport
/// failures; fix the config for the refused and the invalid ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The object the operation needs does not exist.
    NotFound,
    /// The object exists already, or the operation conflicts with live state.
    Conflict,
    /// The platform refused it by one of its rules.
    Refused,
    /// The state store is locked by another msctl process.
    Locked,
    /// The platform throttled the call.
    Throttled,
    /// Network, I/O or database failure.
    Transport,
    /// The service looks unavailable (the backend's circuit breaker is open): the apply stopped
    /// starting changes.
    Unavailable,
    /// The change cannot be applied as given (a malformed or cyclic plan, a platform limit, a bug).
    Invalid,
    /// A replacement deleted its object, then could not re-create it because a change it depends
    /// on failed.
    DependencyFailed,
    /// A replacement deleted its object, then the apply was stopped before re-creating it.
    Stopped,
}

impl ErrorKind {
    fn of(error: &BackendError) -> ErrorKind {
        match error {
            BackendError::NotFound(_) => ErrorKind::NotFound,
            BackendError::Conflict(_) => ErrorKind::Conflict,
            BackendError::Refused(_) => ErrorKind::Refused,
            BackendError::Locked(_) => ErrorKind::Locked,
            BackendError::Throttled(_) => ErrorKind::Throttled,
            BackendError::Transport(_) => ErrorKind::Transport,
            BackendError::Unavailable(_) => ErrorKind::Unavailable,
            BackendError::Invalid(_) => ErrorKind::Invalid,
        }
    }
}

/// A failed change's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChangeError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The result of one change of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChangeResult {
    pub address: Address,
    pub action: Action,
    pub outcome: Outcome,
    /// Set when `outcome` is `failed`.
    pub error: Option<ChangeError>,
    /// Set when `outcome` is `skipped`: the failed change it depends on.
    pub skipped_because: Option<Address>,
    /// Time spent in backend calls for this change, in milliseconds; `null` when nothing was
    /// sent (manual, skipped, not started).
    pub duration_ms: Option<u64>,
}

/// What happened to each change, each list in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: Vec<Address>,
    pub failed: Vec<(Address, String)>,
    pub skipped: Vec<Address>,
    /// Pending manual steps: not done by apply.
    pub manual: Vec<Address>,
    /// Not started because the apply was stopped.
    pub not_started: Vec<Address>,
    /// Why the apply ended early ([`Stop::reason`]) when a stop left changes not started or a
    /// replacement half done; `None` when it ran to the end.
    pub stopped: Option<String>,
    /// Every change, in plan order.
    pub changes: Vec<ChangeResult>,
}

impl ApplyReport {
    /// `Apply complete: 5 applied, 0 failed, 0 skipped, 0 manual.`; `Apply failed: …` when a
    /// change failed or was skipped (also when that stopped the apply, as an unavailable API
    /// does); `Apply interrupted: …, 7 not started.` after a stop with no failure (a signal).
    pub fn line(&self) -> String {
        let verdict = if !self.failed.is_empty() || !self.skipped.is_empty() {
            "failed"
        } else if self.stopped.is_some() {
            "interrupted"
        } else {
            "complete"
        };
        let not_started = if self.stopped.is_some() {
            format!(", {} not started", self.not_started.len())
        } else {
            String::new()
        };
        format!(
            "Apply {verdict}: {} applied, {} failed, {} skipped, {} manual{not_started}.",
            self.applied.len(),
            self.failed.len(),
            self.skipped.len(),
            self.manual.len()
        )
    }

    /// Everything the backend was asked to do was done (manual steps may remain).
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.stopped.is_none()
    }
}

/// A change's progress; only the coordinating thread touches it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    Pending,
    Applied,
    Failed(ChangeError),
    Skipped(Address),
    Manual,
    NotStarted,
}

/// A worker's answer for one step.
enum StepResult {
    Done(Result<(), ChangeError>, Duration),
    /// The stop was requested before the step (the first of its change) started.
    NotStarted,
}

/// The coordinator's book-keeping; only the coordinating thread touches it.
struct Walk<'a> {
    plan: &'a Plan,
    graph: &'a Graph,
    on_event: &'a (dyn Fn(Event) + Sync),
    /// Per step: dependencies not yet succeeded.
    waiting: Vec<usize>,
    /// Per step: finished, failed or skipped.
    resolved: Vec<bool>,
    /// Per change: steps not yet finished.
    steps_left: Vec<usize>,
    outcome: Vec<Progress>,
    /// Per change: time spent in backend calls, when any step was sent.
    duration: Vec<Option<Duration>>,
    ready: BinaryHeap<Reverse<(Step, usize)>>,
    unresolved: usize,
}

impl Walk<'_> {
    fn succeed(&mut self, id: usize) {
        self.resolve(id);
        let c = self.graph.step(id).change;
        self.steps_left[c] -= 1;
        if self.steps_left[c] == 0 {
            let change = &self.plan.changes[c];
            if change.manual.is_some() {
                self.outcome[c] = Progress::Manual;
                (self.on_event)(Event::Manual {
                    address: change.address.clone(),
                });
            } else {
                self.outcome[c] = Progress::Applied;
                (self.on_event)(Event::Succeeded {
                    address: change.address.clone(),
                    action: change.action,
                });
            }
        }
        let next: Vec<usize> = self.graph.dependents(id).collect();
        for n in next {
            self.waiting[n] -= 1;
            if self.waiting[n] == 0 && !self.resolved[n] {
                self.ready.push(Reverse((self.graph.step(n), n)));
            }
        }
    }

    fn fail(&mut self, id: usize, error: ChangeError) {
        self.resolve(id);
        let c = self.graph.step(id).change;
        let change = &self.plan.changes[c];
        (self.on_event)(Event::Failed {
            address: change.address.clone(),
            action: change.action,
            kind: error.kind,
            error: error.message.clone(),
        });
        self.outcome[c] = Progress::Failed(error);
        let because = change.address.clone();
        // Skip every transitive dependent; each is reached at most once.
        let mut stack: Vec<usize> = self.graph.dependents(id).collect();
        while let Some(n) = stack.pop() {
            if self.resolved[n] {
                continue;
            }
            self.resolve(n);
            stack.extend(self.graph.dependents(n));
            let d = self.graph.step(n).change;
            let dependent = &self.plan.changes[d];
            match self.outcome[d] {
                Progress::Failed(_) => {}
                // A replacement whose delete half ran: the object is gone, so say so.
                Progress::Pending if self.half_done(d) => {
                    let error = ChangeError {
                        kind: ErrorKind::DependencyFailed,
                        message: format!(
                            "deleted, but not re-created because `{because}` failed; re-run apply \
                                once it is fixed"
                        ),
                    };
                    (self.on_event)(Event::Failed {
                        address: dependent.address.clone(),
                        action: dependent.action,
                        kind: error.kind,
                        error: error.message.clone(),
                    });
                    self.outcome[d] = Progress::Failed(error);
                }
                Progress::Pending => {
                    (self.on_event)(Event::Skipped {
                        address: dependent.address.clone(),
                        because: because.clone(),
                    });
                    self.outcome[d] = Progress::Skipped(because.clone());
                }
                Progress::Applied
                | Progress::Skipped(_)
                | Progress::Manual
                | Progress::NotStarted => {}
            }
        }
    }

    /// Whether change `c` has begun: one of its steps finished.
    fn half_done(&self, c: usize) -> bool {
        self.steps_left[c] < steps_of(self.plan.changes[c].action)
    }

    /// After a stop: every change still pending is not started, or, when it is a replacement
    /// whose delete half ran, failed with the object gone.
    fn stop_pending(&mut self, reason: &str) {
        for c in 0..self.plan.changes.len() {
            if self.outcome[c] != Progress::Pending {
                continue;
            }
            let change = &self.plan.changes[c];
            if self.half_done(c) {
                let error = ChangeError {
                    kind: ErrorKind::Stopped,
                    message: format!(
                        "deleted, but not re-created: the apply was stopped ({reason}); re-run \
                            apply to create it"
                    ),
                };
                (self.on_event)(Event::Failed {
                    address: change.address.clone(),
                    action: change.action,
                    kind: error.kind,
                    error: error.message.clone(),
                });
                self.outcome[c] = Progress::Failed(error);
            } else {
                (self.on_event)(Event::NotStarted {
                    address: change.address.clone(),
                    reason: reason.to_string(),
                });
                self.outcome[c] = Progress::NotStarted;
            }
        }
    }

    fn resolve(&mut self, id: usize) {
        assert!(!self.resolved[id], "a step is resolved once");
        self.resolved[id] = true;
        self.unresolved -= 1;
    }
}

fn steps_of(action: Action) -> usize {
    if action == Action::Replace { 2 } else { 1 }
}

/// The backend operation for one step of a change. A plan read from a file may be malformed, so
/// a missing resource is an error, not a panic.
fn run(backend: &dyn Backend, change: &Change, phase: Phase) -> Result<(), BackendError> {
    let missing = |which: &str| {
        BackendError::Invalid(format!(
            "the plan's {} of `{}` has no {which} resource\nhint: recompute the plan",
            change.action.symbol(),
            change.address
        ))
    };
    let before = || change.before.as_ref().ok_or_else(|| missing("before"));
    let after = || change.after.as_ref().ok_or_else(|| missing("after"));
    let operation = match (change.action, phase) {
        // A rotation creates the successor beside the current key (the ledger records the
        // current one as retiring first, see `commands::apply`).
        (Action::Create | Action::Rotate, _) | (Action::Replace, Phase::Apply) => {
            Operation::Create(after()?)
        }
        (Action::Update, _) => Operation::Update {
            before: before()?,
            after: after()?,
        },
        (Action::Delete, _) => match change.address.duplicate_id() {
            // A second live object at one address: only its id tells it from the first.
            Some(id) => Operation::DeleteDuplicate {
                resource: before()?,
                id,
            },
            None => Operation::Delete(before()?),
        },
        (Action::Replace, Phase::Destroy) => Operation::Delete(before()?),
    };
    backend.apply(operation)
}

/// Applies `plan` through `backend` with at most `parallelism` calls in flight (0 counts as 1),
/// to the end: [`execute_with_stop`] with a stop nobody requests.
pub fn execute(
    plan: &Plan,
    backend: &dyn Backend,
    parallelism: usize,
    on_event: &(dyn Fn(Event) + Sync),
) -> ApplyReport {
    execute_with_stop(plan, backend, parallelism, &Stop::new(), on_event)
}

/// Applies `plan` through `backend` with at most `parallelism` calls in flight (0 counts as 1),
/// until done or until `stop` is requested (see [`Stop`]).
///
/// The plan's dependency lists must have been filled in by `graph::link`; a plan whose lists
/// form a cycle or name unknown changes is not started, and every change is reported failed.
pub fn execute_with_stop(
    plan: &Plan,
    backend: &dyn Backend,
    parallelism: usize,
    stop: &Stop,
    on_event: &(dyn Fn(Event) + Sync),
) -> ApplyReport {
    let graph = match Graph::build(&plan.changes) {
        Ok(graph) => graph,
        Err(e) => {
            let error = ChangeError {
                kind: ErrorKind::Invalid,
                message: e.to_string(),
            };
            for c in &plan.changes {
                on_event(Event::Failed {
                    address: c.address.clone(),
                    action: c.action,
                    kind: error.kind,
                    error: error.message.clone(),
                });
            }
            let outcome = vec![Progress::Failed(error); plan.changes.len()];
            let duration = vec![None; plan.changes.len()];
            let report = report(plan, outcome, duration, None);
            finish(&report, on_event);
            return report;
        }
    };
    let n = graph.len();
    let waiting: Vec<usize> = (0..n).map(|id| graph.dependency_count(id)).collect();
    let ready = (0..n)
        .filter(|&id| waiting[id] == 0)
        .map(|id| Reverse((graph.step(id), id)))
        .collect();
    let mut walk = Walk {
        plan,
        graph: &graph,
        on_event,
        waiting,
        resolved: vec![false; n],
        steps_left: plan.changes.iter().map(|c| steps_of(c.action)).collect(),
        outcome: vec![Progress::Pending; plan.changes.len()],
        duration: vec![None; plan.changes.len()],
        ready,
        unresolved: n,
    };
    let workers = parallelism.max(1).min(n.max(1));
    let mut stopped: Option<String> = None;

    // A job is a step and whether it is its change's first: only a first step may be turned
    // away by the stop (the create half of a replacement whose delete ran must still run).
    let work = |_: &Pool<(usize, bool), (usize, StepResult)>, (id, first): (usize, bool)| {
        // Jobs queue up behind busy workers: the stop is checked again here, where the change
        // would really start.
        if first && stop.is_requested() {
            return (id, StepResult::NotStarted);
        }
        let step = graph.step(id);
        let change = &plan.changes[step.change];
        if step.phase == Phase::Destroy || change.action != Action::Replace {
            on_event(Event::Started {
                address: change.address.clone(),
                action: change.action,
            });
        }
        let started = Instant::now();
        // A panicking backend is a bug, but it must not end the walk: report it as this
        // change's failure.
        let result = panic::catch_unwind(AssertUnwindSafe(|| run(backend, change, step.phase)))
            .unwrap_or_else(|_| {
                Err(BackendError::Invalid(format!(
                    "bug: the `{}` backend panicked (see stderr)",
                    backend.name()
                )))
            })
            .map_err(|e| {
                // The backend's circuit breaker opened: every new change would only fail after
                // its own retries, so none starts any more; those in flight finish.
                if matches!(e, BackendError::Unavailable(_)) {
                    stop.request("msctl stopped starting changes because the API is unavailable");
                }
                ChangeError {
                    kind: ErrorKind::of(&e),
                    message: e.to_string(),
                }
            });
        (id, StepResult::Done(result, started.elapsed()))
    };
    pool::run(workers, work, |pool| {
        let mut in_flight = 0usize;
        while walk.unresolved > 0 {
            let stopping = stop.is_requested();
            if stopping && stopped.is_none() {
                let reason = stop.reason().unwrap_or_else(|| "interrupted".to_string());
                on_event(Event::Stopping {
                    reason: reason.clone(),
                    in_flight,
                });
                stopped = Some(reason);
            }
            // At most one job per worker is handed out, so that the ready queue's order is the
            // order changes start in, and a stop finds little more than `workers` in flight
            // (when stopping, the queue is drained: first steps are dropped, and the create
            // halves of replacements already begun still go out).
            while stopping || in_flight < workers {
                let Some(Reverse((step, id))) = walk.ready.pop() else {
                    break;
                };
                let first = !walk.half_done(step.change);
                if stopping && first {
                    // Left unresolved: reported not started when the walk ends.
                    continue;
                }
                if plan.changes[step.change].manual.is_some() {
                    walk.succeed(id);
                } else {
                    if !pool.submit((id, first)) {
                        // A worker panicked outside the backend call (an event reporter): the
                        // pool raises that panic when this returns.
                        return;
                    }
                    in_flight += 1;
                }
            }
            if walk.unresolved == 0 {
                break;
            }
            if in_flight == 0 {
                assert!(
                    stopping,
                    "an acyclic graph always has a step running or ready until all are resolved"
                );
                break;
            }
            // `None` only when a worker panicked (see above).
            let Some((id, result)) = pool.recv() else {
                return;
            };
            in_flight -= 1;
            match result {
                StepResult::Done(result, took) => {
                    let c = graph.step(id).change;
                    walk.duration[c] = Some(walk.duration[c].unwrap_or_default() + took);
                    match result {
                        Ok(()) => walk.succeed(id),
                        Err(error) => walk.fail(id, error),
                    }
                }
                // Left unresolved, like a held ready step; the next pass sees the stop.
                StepResult::NotStarted => {}
            }
        }
    });
    if let Some(reason) = &stopped {
        walk.stop_pending(reason);
        // A stop that came after the last change started cut nothing short.
        let cut_short = walk.outcome.iter().any(|o| match o {
            Progress::NotStarted => true,
            Progress::Failed(e) => e.kind == ErrorKind::Stopped,
            _ => false,
        });
        if !cut_short {
            stopped = None;
        }
    }
    let report = report(plan, walk.outcome, walk.duration, stopped);
    finish(&report, on_event);
    report
}

/// The report of a finished walk, in plan order.
fn report(
    plan: &Plan,
    outcome: Vec<Progress>,
    duration: Vec<Option<Duration>>,
    stopped: Option<String>,
) -> ApplyReport {
    let mut report = ApplyReport {
        stopped,
        ..ApplyReport::default()
    };
    for ((c, progress), took) in plan.changes.iter().zip(outcome).zip(duration) {
        let address = c.address.clone();
        let mut result = ChangeResult {
            address: address.clone(),
            action: c.action,
            outcome: Outcome::Applied,
            error: None,
            skipped_because: None,
            duration_ms: took.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        match progress {
            Progress::Applied => report.applied.push(address),
            Progress::Failed(e) => {
                report.failed.push((address, e.message.clone()));
                result.outcome = Outcome::Failed;
                result.error = Some(e);
            }
            Progress::Skipped(because) => {
                report.skipped.push(address);
                result.outcome = Outcome::Skipped;
                result.skipped_because = Some(because);
            }
            Progress::Manual => {
                report.manual.push(address);
                result.outcome = Outcome::Manual;
            }
            Progress::NotStarted => {
                report.not_started.push(address);
                result.outcome = Outcome::NotStarted;
            }
            Progress::Pending => unreachable!("every change is resolved when the walk ends"),
        }
        report.changes.push(result);
    }
    report
}

fn finish(report: &ApplyReport, on_event: &(dyn Fn(Event) + Sync)) {
    on_event(Event::Finished {
        applied: report.applied.len(),
        failed: report.failed.len(),
        skipped: report.skipped.len(),
        manual: report.manual.len(),
    });
}

#[cfg(test)]
mod tests;
