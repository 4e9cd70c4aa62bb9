//! Tests of the executor against the in-memory fake backend.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::*;
use crate::backend::{Capabilities, Capability};
use crate::model::State;
use crate::plan::{DiffOptions, ManualStep, diff};
use crate::testing::harness::Rendezvous;
use crate::testing::*;

fn run(plan: &Plan, backend: &FakeBackend, parallelism: usize) -> (ApplyReport, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let report = execute(plan, backend, parallelism, &|e| {
        events.lock().unwrap().push(e)
    });
    (report, events.into_inner().unwrap())
}

/// Plans `desired` against the fake's current state, owning everything.
fn plan_against(desired: &State, backend: &FakeBackend) -> Plan {
    plan_of(changes_owning_all(
        desired,
        &backend.snapshot(),
        &Capabilities::full(),
    ))
}

fn names(addresses: &[Address]) -> Vec<String> {
    addresses.iter().map(ToString::to_string).collect()
}

/// The platform makes default workspaces; everything else starts empty.
fn fresh_account() -> State {
    [default_workspace("default-cn", "cn-beijing")]
        .into_iter()
        .collect()
}

#[test]
fn a_rich_state_is_created_from_nothing() {
    let desired = rich_state();
    let backend = FakeBackend::new(fresh_account());
    let plan = plan_against(&desired, &backend);
    let (report, events) = run(&plan, &backend, 4);
    assert_eq!(report.failed, vec![]);
    assert_eq!(report.applied.len(), desired.len() - 1);
    assert_eq!(backend.snapshot(), desired);
    assert_eq!(
        report.line(),
        "Apply complete: 24 applied, 0 failed, 0 skipped, 0 manual."
    );
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            applied: 24,
            failed: 0,
            skipped: 0,
            manual: 0
        })
    );
    let started = events
        .iter()
        .filter(|e| matches!(e, Event::Started { .. }))
        .count();
    assert_eq!(started, 24);
}

#[test]
fn a_failure_skips_its_dependents_and_a_rerun_converges() {
    let desired = rich_state();
    let backend = FakeBackend::new(fresh_account()).failing(&[user("alice").address()]);
    let plan = plan_against(&desired, &backend);
    let (report, events) = run(&plan, &backend, 3);
    assert_eq!(
        names(
            &report
                .failed
                .iter()
                .map(|f| f.0.clone())
                .collect::<Vec<_>>()
        ),
        vec!["ram.user.alice"]
    );
    assert_eq!(report.failed[0].1, "injected failure on `ram.user.alice`");
    assert_eq!(
        names(&report.skipped),
        vec![
            "ram.group.devs.member.alice",
            "ram.user.alice.policy.AliyunBailianDataFullAccess",
            "workspace.chatbot-prod.member.alice",
            "workspace.chatbot-prod.apikey.ci-bot",
            "pai.workspace.langstudio_prod.member.alice",
        ]
    );
    assert_eq!(
        report.applied.len(),
        24 - 1 - 5,
        "independent branches still ran"
    );
    // Not "Apply complete" when something failed (issue 9, item 8).
    assert_eq!(
        report.line(),
        "Apply failed: 18 applied, 1 failed, 5 skipped, 0 manual."
    );
    assert!(!report.is_success());
    let alice = &report.changes[plan
        .changes
        .iter()
        .position(|c| c.address == user("alice").address())
        .unwrap()];
    assert_eq!(alice.outcome, Outcome::Failed);
    assert_eq!(
        alice.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Transport)
    );
    assert!(alice.duration_ms.is_some());
    assert!(events.contains(&Event::Skipped {
        address: key("chatbot-prod", "ci-bot", "", None).address(),
        because: user("alice").address(),
    }));

    // Fixed: the next plan holds exactly what did not happen, and applying it converges.
    backend.fail.lock().unwrap().clear();
    let plan = plan_against(&desired, &backend);
    assert_eq!(plan.changes.len(), 6);
    let (report, _) = run(&plan, &backend, 3);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(backend.snapshot(), desired);
    assert!(plan_against(&desired, &backend).changes.is_empty());
}

/// Runs `plan` with a stop requested (with `reason`) as soon as the `nth` change starts.
fn run_stopping_at(
    plan: &Plan,
    backend: &FakeBackend,
    parallelism: usize,
    nth: usize,
) -> (ApplyReport, Vec<Event>) {
    let stop = Stop::new();
    let started = Mutex::new(0usize);
    let events = Mutex::new(Vec::new());
    let report = execute_with_stop(plan, backend, parallelism, &stop, &|e| {
        if matches!(e, Event::Started { .. }) {
            let mut started = started.lock().unwrap();
            *started += 1;
            if *started == nth {
                stop.request("endpoint unreachable");
            }
        }
        events.lock().unwrap().push(e)
    });
    (report, events.into_inner().unwrap())
}

#[test]
fn a_stop_lets_the_change_in_flight_finish_and_starts_no_other() {
    let desired = rich_state();
    let backend = FakeBackend::new(fresh_account());
    let plan = plan_against(&desired, &backend);
    // One worker: the change that requested the stop is the only one in flight.
    let (report, events) = run_stopping_at(&plan, &backend, 1, 1);
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(backend.calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.not_started.len(), plan.changes.len() - 1);
    assert!(report.failed.is_empty() && report.skipped.is_empty());
    assert_eq!(report.stopped.as_deref(), Some("endpoint unreachable"));
    assert!(!report.is_success());
    assert_eq!(
        report.line(),
        "Apply interrupted: 1 applied, 0 failed, 0 skipped, 0 manual, 23 not started."
    );
    assert!(events.contains(&Event::NotStarted {
        address: report.not_started[0].clone(),
        reason: "endpoint unreachable".into(),
    }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Stopping { .. }))
            .count(),
        1
    );
    let outcomes: Vec<Outcome> = report.changes.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::NotStarted)
            .count(),
        23
    );

    // The next apply converges.
    let plan = plan_against(&desired, &backend);
    assert_eq!(plan.changes.len(), 23);
    let (report, _) = run(&plan, &backend, 4);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(backend.snapshot(), desired);
}

#[test]
fn a_stop_in_parallel_lets_every_change_in_flight_finish() {
    let desired: State = (0..24).map(|i| user(&format!("u{i}"))).collect();
    let backend = FakeBackend::new(State::default());
    let plan = plan_against(&desired, &backend);
    let (report, _) = run_stopping_at(&plan, &backend, 3, 2);
    // Whatever was sent finished and is reported applied; nothing sent is reported not started.
    let calls = backend.calls.load(Ordering::SeqCst);
    assert!((2..=3).contains(&calls), "{calls} calls");
    assert_eq!(report.applied.len(), calls);
    assert_eq!(report.not_started.len(), 24 - calls);
    assert_eq!(backend.snapshot().len(), calls);
}

#[test]
fn a_replacement_cut_in_half_by_a_stop_says_its_object_is_gone() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(workspace("chatbot-dev", "ap-southeast-1"));
    let backend = FakeBackend::new(live.clone());
    let plan = plan_against(&desired, &backend);
    // The first step is the delete half of one of the workspace's replaced contents; its create
    // half waits for the workspace, which is never started.
    let (report, _) = run_stopping_at(&plan, &backend, 1, 1);
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        report.failed[0].1,
        "deleted, but not re-created: the apply was stopped (endpoint unreachable); re-run apply \
            to create it"
    );
    let failed = report
        .changes
        .iter()
        .find(|c| c.outcome == Outcome::Failed)
        .unwrap();
    assert_eq!(failed.error.as_ref().unwrap().kind, ErrorKind::Stopped);
    assert_eq!(report.not_started.len(), plan.changes.len() - 1);
    let (report, _) = run(&plan_against(&desired, &backend), &backend, 2);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(backend.snapshot(), desired);
}

#[test]
fn a_stop_before_the_start_starts_nothing() {
    let backend = FakeBackend::new(fresh_account());
    let plan = plan_against(&rich_state(), &backend);
    let stop = Stop::new();
    stop.flag().store(true, Ordering::SeqCst);
    let report = execute_with_stop(&plan, &backend, 4, &stop, &|_| {});
    assert_eq!(backend.calls.load(Ordering::SeqCst), 0);
    assert_eq!(report.not_started.len(), plan.changes.len());
    assert_eq!(report.stopped.as_deref(), Some("interrupted"));
}

#[test]
fn a_stop_after_the_last_change_started_cuts_nothing_short() {
    let backend = FakeBackend::new(State::default());
    let plan = plan_of(vec![bare_change(user("a"), Action::Create, &[])]);
    let (report, _) = run_stopping_at(&plan, &backend, 1, 1);
    assert_eq!(report.stopped, None);
    assert!(report.is_success());
    assert_eq!(
        report.line(),
        "Apply complete: 1 applied, 0 failed, 0 skipped, 0 manual."
    );
}

#[test]
fn parallelism_is_capped() {
    let desired: State = (0..24).map(|i| user(&format!("u{i}"))).collect();
    for cap in [1, 3] {
        // Each call waits, in flight, for `cap` calls to be in flight together: the apply can only
        // finish if the executor really runs `cap` independent changes at once.
        let backend = FakeBackend {
            rendezvous: Some(Arc::new(Rendezvous::new(cap))),
            ..FakeBackend::default()
        };
        let plan = plan_against(&desired, &backend);
        let (report, _) = run(&plan, &backend, cap);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.applied.len(), 24);
        assert_eq!(backend.calls.load(Ordering::SeqCst), 24);
        let max = backend.max_in_flight.load(Ordering::SeqCst);
        assert_eq!(
            max, cap,
            "{max} calls in flight at most with a cap of {cap}"
        );
    }
}

#[test]
fn manual_changes_are_not_sent_and_do_not_block_their_dependents() {
    let live: State = [workspace("w", "cn-beijing"), user("alice")]
        .into_iter()
        .collect();
    let backend = FakeBackend::new(live.clone());
    let desired: State = live
        .resources
        .values()
        .cloned()
        .chain([member("w", "alice", true), model("w", "qwen-plus")])
        .collect();
    let caps = Capabilities {
        missing: [Capability::WorkspaceMembers].into(),
        ..Capabilities::default()
    };
    let mut changes = diff(&desired, &live, &DiffOptions::default(), &caps).changes;
    // An artificial dependent of the manual member change.
    changes.push(bare_change(
        user("bob"),
        Action::Create,
        &[&member("w", "alice", true)],
    ));
    let plan = plan_of(changes);
    let (report, events) = run(&plan, &backend, 2);
    assert_eq!(names(&report.manual), vec!["workspace.w.member.alice"]);
    assert_eq!(
        names(&report.applied),
        vec!["workspace.w.model.qwen-plus", "ram.user.bob"],
        "plan order"
    );
    assert_eq!(
        backend.calls.load(Ordering::SeqCst),
        2,
        "the member was never sent"
    );
    assert!(events.contains(&Event::Manual {
        address: member("w", "alice", true).address()
    }));
    assert_eq!(
        report.line(),
        "Apply complete: 2 applied, 0 failed, 0 skipped, 1 manual."
    );
}

#[test]
fn a_manual_change_whose_dependency_failed_is_skipped() {
    let backend = FakeBackend::new(State::default()).failing(&[user("alice").address()]);
    let mut m = bare_change(
        member("w", "alice", false),
        Action::Create,
        &[&user("alice")],
    );
    m.manual = Some(ManualStep {
        instructions: "add alice".into(),
    });
    let plan = plan_of(vec![bare_change(user("alice"), Action::Create, &[]), m]);
    let (report, _) = run(&plan, &backend, 1);
    assert_eq!(names(&report.skipped), vec!["workspace.w.member.alice"]);
    assert!(report.manual.is_empty());
}

#[test]
fn replacements_delete_then_create_around_their_container() {
    let live = rich_state();
    let backend = FakeBackend::new(live.clone());
    let mut desired = live.clone();
    desired.insert(workspace("chatbot-dev", "ap-southeast-1"));
    desired.insert(key("chatbot-prod", "ci-bot", "bob", Some(&["qwen-plus"])));
    let plan = plan_against(&desired, &backend);
    let (report, events) = run(&plan, &backend, 4);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(backend.snapshot(), desired);
    // One Started and one Succeeded per replacement, though each is two backend calls.
    let ws = workspace("chatbot-dev", "").address();
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(&|e| matches!(e, Event::Started { address, .. } if *address == ws)),
        1
    );
    assert_eq!(
        count(&|e| matches!(e, Event::Succeeded { address, .. } if *address == ws)),
        1
    );
    assert_eq!(
        backend.calls.load(Ordering::SeqCst),
        2 * plan.changes.len(),
        "every change here is a replacement"
    );
}

#[test]
fn a_replacement_deleted_but_not_recreated_is_reported_failed() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(workspace("chatbot-dev", "ap-southeast-1"));
    let backend = FakeBackend::new(live.clone());
    let plan = plan_against(&desired, &backend);
    // The workspace's own delete fails after its contents were deleted.
    backend
        .fail
        .lock()
        .unwrap()
        .insert(workspace("chatbot-dev", "").address());
    let (report, _) = run(&plan, &backend, 2);
    assert!(report.skipped.is_empty());
    let failed: Vec<String> = report.failed.iter().map(|f| f.0.to_string()).collect();
    assert_eq!(failed.len(), plan.changes.len());
    let bob = report
        .failed
        .iter()
        .find(|f| f.0.to_string() == "workspace.chatbot-dev.member.bob")
        .unwrap();
    assert_eq!(
        bob.1,
        "deleted, but not re-created because `workspace.chatbot-dev` failed; re-run apply once it \
            is fixed"
    );
    backend.fail.lock().unwrap().clear();
    let (report, _) = run(&plan_against(&desired, &backend), &backend, 2);
    assert!(report.is_success());
    assert_eq!(backend.snapshot(), desired);
}

#[test]
fn an_update_that_drops_a_reference_runs_before_the_referenced_is_deleted() {
    let live = rich_state();
    let backend = FakeBackend::new(live.clone());
    let mut desired = live.clone();
    // The key stops naming the model, and the model (with its limit) goes.
    desired.insert(key("chatbot-prod", "ci-bot", "alice", None));
    desired
        .resources
        .remove(&model("chatbot-prod", "qwen-plus").address());
    desired
        .resources
        .remove(&limit("chatbot-prod", "qwen-plus", 0).address());
    let plan = plan_against(&desired, &backend);
    let model_change = plan
        .changes
        .iter()
        .find(|c| c.address == model("chatbot-prod", "qwen-plus").address())
        .unwrap();
    assert_eq!(
        names(&model_change.depends_on),
        vec![
            "workspace.chatbot-prod.limit.qwen-plus",
            "workspace.chatbot-prod.apikey.ci-bot"
        ]
    );
    let (report, _) = run(&plan, &backend, 4);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(backend.snapshot(), desired);
}

#[test]
fn a_plan_with_a_cycle_is_not_started() {
    let backend = FakeBackend::default();
    let plan = plan_of(vec![
        bare_change(user("a"), Action::Create, &[&user("b")]),
        bare_change(user("b"), Action::Create, &[&user("a")]),
    ]);
    let (report, events) = run(&plan, &backend, 2);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 0);
    assert_eq!(report.failed.len(), 2);
    assert_eq!(
        report.failed[0].1,
        "dependency cycle between `ram.user.a`, `ram.user.b`"
    );
    assert_eq!(events.len(), 3);
}

#[test]
fn a_malformed_change_fails_without_panicking() {
    let mut broken = bare_change(user("a"), Action::Update, &[]);
    broken.before = None;
    let backend = FakeBackend::new([user("a")].into_iter().collect());
    let (report, _) = run(&plan_of(vec![broken]), &backend, 1);
    assert_eq!(
        report.failed[0].1,
        "the plan's ~ of `ram.user.a` has no before resource\nhint: recompute the plan"
    );
}

#[test]
fn a_panicking_backend_fails_the_change_instead_of_hanging() {
    let panicky = ScriptedBackend::new("panicky", |operation| {
        if operation.resource().address() == user("a").address() {
            panic!("injected panic");
        }
        Ok(())
    });
    let plan = plan_of(vec![
        bare_change(user("a"), Action::Create, &[]),
        bare_change(user("b"), Action::Create, &[]),
    ]);
    let report = execute(&plan, &panicky, 2, &|_| {});
    assert_eq!(names(&report.applied), vec!["ram.user.b"]);
    assert_eq!(
        report.failed[0].1,
        "bug: the `panicky` backend panicked (see stderr)"
    );
}

#[test]
fn an_unavailable_service_stops_new_changes_and_reports_the_rest_not_started() {
    // Applies changes until the third, which finds the service unavailable; counts the calls.
    let calls = Mutex::new(0usize);
    let backend = ScriptedBackend::new("dying", |_| {
        let mut calls = calls.lock().unwrap();
        *calls += 1;
        if *calls >= 3 {
            Err(BackendError::Unavailable(
                "the API looks unavailable".into(),
            ))
        } else {
            Ok(())
        }
    });
    let plan = plan_of(
        ["a", "b", "c", "d", "e", "f"]
            .into_iter()
            .map(|n| bare_change(user(n), Action::Create, &[]))
            .collect(),
    );
    let events = Mutex::new(Vec::new());
    let report = execute(&plan, &backend, 1, &|e| events.lock().unwrap().push(e));
    assert_eq!(
        *calls.lock().unwrap(),
        3,
        "no change started after the failure"
    );
    assert_eq!(names(&report.applied), vec!["ram.user.a", "ram.user.b"]);
    let failed: Vec<(String, &str)> = report
        .failed
        .iter()
        .map(|(a, e)| (a.to_string(), e.as_str()))
        .collect();
    assert_eq!(
        failed,
        vec![("ram.user.c".to_string(), "the API looks unavailable")]
    );
    // The rest never started: the breaker's reason is the stop's.
    assert_eq!(
        names(&report.not_started),
        vec!["ram.user.d", "ram.user.e", "ram.user.f"]
    );
    assert_eq!(
        report.stopped.as_deref(),
        Some("msctl stopped starting changes because the API is unavailable")
    );
    assert!(report.skipped.is_empty());
    let events = events.into_inner().unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Stopping { .. })));
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            applied: 2,
            failed: 1,
            skipped: 0,
            manual: 0
        })
    );
}

#[test]
fn an_empty_plan_finishes() {
    let (report, events) = run(&plan_of(Vec::new()), &FakeBackend::default(), 4);
    assert_eq!(report, ApplyReport::default());
    assert_eq!(events.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Applying diff(a, b) to a gives b, and b against itself is then empty.
    #[test]
    fn applying_a_plan_converges(a in arb_state(), b in arb_state()) {
        let backend = FakeBackend::new(a);
        let plan = plan_against(&b, &backend);
        let (report, _) = run(&plan, &backend, 3);
        prop_assert!(report.is_success(), "{:?}", report);
        // Equal up to documents the platform may store in another, equivalent shape.
        let have: Vec<Address> = backend.snapshot().resources.into_keys().collect();
        let want: Vec<Address> = b.resources.keys().cloned().collect();
        prop_assert_eq!(have, want);
        prop_assert!(plan_against(&b, &backend).changes.is_empty());
    }
}
