//! The executor: carries out a plan's changes through a backend, in dependency order, in
//! parallel up to a cap.
//!
//! A ready queue feeds at most `parallelism` worker threads (no async runtime: backend calls
//! block, and the cap is small). A step starts only when every step it depends on succeeded.
//! When one fails, its transitive dependents are skipped and everything independent still runs
//! (Terraform's dag walk). A replacement is two steps, delete then create.
//!
//! Manual changes (the backend cannot make them) are never sent to the backend. They are
//! reported as manual, pending a person, and do not hold back their dependents: what the API
//! manages exists independently of console-only objects (a key can be created while its owner's
//! membership is still a console step; it works once the member is added). A manual change
//! whose own dependency failed is skipped like any other.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Mutex, mpsc};
use std::thread;

use crate::backend::{Backend, BackendError, Operation};
use crate::graph::{Graph, Phase, Step};
use crate::model::Address;
use crate::plan::{Action, Change, Plan};

/// Progress of an apply, for a reporter (stderr) to print as it happens. `Started` comes from
/// the worker threads, everything else from the coordinating thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The change's first step was sent to the backend.
    Started { address: Address, action: Action },
    /// Every step of the change succeeded.
    Succeeded { address: Address, action: Action },
    Failed {
        address: Address,
        action: Action,
        error: String,
    },
    /// Not attempted because `because` (a change it depends on, directly or not) failed.
    Skipped { address: Address, because: Address },
    /// Left to a person: the console steps are in the plan.
    Manual { address: Address },
    Finished {
        applied: usize,
        failed: usize,
        skipped: usize,
        manual: usize,
    },
}

/// What happened to each change, each list in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: Vec<Address>,
    pub failed: Vec<(Address, String)>,
    pub skipped: Vec<Address>,
    /// Pending manual steps: not done by apply.
    pub manual: Vec<Address>,
}

impl ApplyReport {
    /// `Apply complete: 5 applied, 1 failed, 2 skipped, 0 manual.`
    pub fn line(&self) -> String {
        format!(
            "Apply complete: {} applied, {} failed, {} skipped, {} manual.",
            self.applied.len(),
            self.failed.len(),
            self.skipped.len(),
            self.manual.len()
        )
    }

    /// Everything the backend was asked to do was done (manual steps may remain).
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pending,
    Applied,
    Failed(String),
    Skipped(Address),
    Manual,
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
    outcome: Vec<Outcome>,
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
                self.outcome[c] = Outcome::Manual;
                (self.on_event)(Event::Manual {
                    address: change.address.clone(),
                });
            } else {
                self.outcome[c] = Outcome::Applied;
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

    fn fail(&mut self, id: usize, error: String) {
        self.resolve(id);
        let c = self.graph.step(id).change;
        let change = &self.plan.changes[c];
        (self.on_event)(Event::Failed {
            address: change.address.clone(),
            action: change.action,
            error: error.clone(),
        });
        self.outcome[c] = Outcome::Failed(error);
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
                Outcome::Failed(_) => {}
                // A replacement whose delete half ran: the object is gone, so say so.
                Outcome::Pending if self.steps_left[d] < steps_of(dependent.action) => {
                    let error = format!(
                        "deleted, but not re-created because `{because}` failed; re-run apply once it is fixed"
                    );
                    (self.on_event)(Event::Failed {
                        address: dependent.address.clone(),
                        action: dependent.action,
                        error: error.clone(),
                    });
                    self.outcome[d] = Outcome::Failed(error);
                }
                Outcome::Pending => {
                    (self.on_event)(Event::Skipped {
                        address: dependent.address.clone(),
                        because: because.clone(),
                    });
                    self.outcome[d] = Outcome::Skipped(because.clone());
                }
                Outcome::Applied | Outcome::Skipped(_) | Outcome::Manual => {}
            }
        }
    }

    /// Ends the walk early: every change not yet resolved is reported failed, not started.
    fn abandon(&mut self, reason: &str) {
        for (c, change) in self.plan.changes.iter().enumerate() {
            if self.outcome[c] != Outcome::Pending {
                continue;
            }
            let error = if self.steps_left[c] < steps_of(change.action) {
                format!("deleted, but not re-created: {reason}")
            } else {
                format!("not started: {reason}")
            };
            (self.on_event)(Event::Failed {
                address: change.address.clone(),
                action: change.action,
                error: error.clone(),
            });
            self.outcome[c] = Outcome::Failed(error);
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
        (Action::Create, _) | (Action::Replace, Phase::Apply) => Operation::Create(after()?),
        (Action::Update, _) => Operation::Update {
            before: before()?,
            after: after()?,
        },
        (Action::Delete, _) | (Action::Replace, Phase::Destroy) => Operation::Delete(before()?),
    };
    backend.apply(operation)
}

/// Applies `plan` through `backend` with at most `parallelism` calls in flight (0 counts as 1).
/// The plan's dependency lists must have been filled in by `graph::link`; a plan whose lists
/// form a cycle or name unknown changes is not started, and every change is reported failed.
pub fn execute(
    plan: &Plan,
    backend: &dyn Backend,
    parallelism: usize,
    on_event: &(dyn Fn(Event) + Sync),
) -> ApplyReport {
    let graph = match Graph::build(&plan.changes) {
        Ok(graph) => graph,
        Err(e) => {
            let error = e.to_string();
            let mut report = ApplyReport::default();
            for c in &plan.changes {
                on_event(Event::Failed {
                    address: c.address.clone(),
                    action: c.action,
                    error: error.clone(),
                });
                report.failed.push((c.address.clone(), error.clone()));
            }
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
        outcome: vec![Outcome::Pending; plan.changes.len()],
        ready,
        unresolved: n,
    };
    let workers = parallelism.max(1).min(n.max(1));

    // Set once the backend reports the service unavailable (its circuit breaker opened): no new
    // step starts then, as each would only fail after its own retries. Steps in flight finish.
    let mut stopped = false;
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Mutex::new(job_rx);
    // With each result: whether the backend said the service is unavailable. `None`: the job was
    // queued before that, and a worker took it after; it was not started.
    let (done_tx, done_rx) = mpsc::channel::<(usize, Option<Result<(), String>>, bool)>();
    let halt = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..workers {
            let (job_rx, done_tx, graph, halt) = (&job_rx, done_tx.clone(), &graph, &halt);
            scope.spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(id) = job else { return };
                    if halt.load(AtomicOrdering::SeqCst) {
                        if done_tx.send((id, None, false)).is_err() {
                            return;
                        }
                        continue;
                    }
                    let step = graph.step(id);
                    let change = &plan.changes[step.change];
                    if step.phase == Phase::Destroy || change.action != Action::Replace {
                        on_event(Event::Started {
                            address: change.address.clone(),
                            action: change.action,
                        });
                    }
                    // A panicking backend is a bug, but it must not hang the walk waiting for
                    // an answer that never comes: report it as this change's failure.
                    let result =
                        panic::catch_unwind(AssertUnwindSafe(|| run(backend, change, step.phase)))
                            .unwrap_or_else(|_| {
                                Err(BackendError::Invalid(format!(
                                    "bug: the `{}` backend panicked (see stderr)",
                                    backend.name()
                                )))
                            });
                    let unavailable = matches!(result, Err(BackendError::Unavailable(_)));
                    if unavailable {
                        halt.store(true, AtomicOrdering::SeqCst);
                    }
                    let result = result.map_err(|e| e.to_string());
                    if done_tx.send((id, Some(result), unavailable)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);

        let mut in_flight = 0usize;
        while walk.unresolved > 0 {
            while let Some(Reverse((step, id))) = (!stopped).then(|| walk.ready.pop()).flatten() {
                if plan.changes[step.change].manual.is_some() {
                    walk.succeed(id);
                } else {
                    job_tx
                        .send(id)
                        .unwrap_or_else(|_| unreachable!("workers live while jobs remain"));
                    in_flight += 1;
                }
            }
            if walk.unresolved == 0 || (stopped && in_flight == 0) {
                break;
            }
            assert!(
                in_flight > 0,
                "an acyclic graph always has a step running or ready until all are resolved"
            );
            let (id, result, unavailable) = done_rx
                .recv()
                .unwrap_or_else(|_| unreachable!("a worker answers every job it takes"));
            in_flight -= 1;
            stopped |= unavailable;
            match result {
                Some(Ok(())) => walk.succeed(id),
                Some(Err(error)) => walk.fail(id, error),
                // Left unresolved: reported not started below.
                None => stopped = true,
            }
        }
        // Closing the job channel lets the workers return.
        drop(job_tx);
    });
    if stopped {
        walk.abandon("msctl stopped starting changes because the API is unavailable");
    }

    let mut report = ApplyReport::default();
    for (c, outcome) in plan.changes.iter().zip(walk.outcome) {
        let address = c.address.clone();
        match outcome {
            Outcome::Applied => report.applied.push(address),
            Outcome::Failed(e) => report.failed.push((address, e)),
            Outcome::Skipped(_) => report.skipped.push(address),
            Outcome::Manual => report.manual.push(address),
            Outcome::Pending => unreachable!("every change is resolved when the walk ends"),
        }
    }
    finish(&report, on_event);
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
