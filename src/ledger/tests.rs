//! The ownership rule (with plan changes as what a run settles) and the lock record.

use super::*;
use crate::plan::{Action, Change};
use crate::testing::{bare_change, key, workspace};

fn addresses(ledger: &Ledger) -> Vec<String> {
    ledger.owned.iter().map(ToString::to_string).collect()
}

#[test]
fn settle_owns_what_exists_after_the_run_without_a_re_read() {
    let ws = workspace("ml", "ap-southeast-1");
    let made = key("ml", "made", "alice", None);
    let failed = key("ml", "failed", "alice", None);
    let gone = key("ml", "gone", "alice", None);
    let kept = key("ml", "kept", "alice", None);
    let vanished = key("ml", "vanished", "alice", None);
    let mut ledger = Ledger {
        owned: [gone.address(), kept.address(), vanished.address()].into(),
        ..Ledger::default()
    };
    // Live before the run: the workspace, the key to delete, and an owned key whose delete
    // is not run; `vanished` was deleted out of band.
    let live: State = [ws.clone(), gone.clone(), kept.clone()]
        .into_iter()
        .collect();
    let declared: State = [ws.clone(), made.clone(), failed.clone()]
        .into_iter()
        .collect();
    let changes: Vec<Change> = vec![
        bare_change(made.clone(), Action::Create, &[]),
        bare_change(failed.clone(), Action::Create, &[]),
        bare_change(gone.clone(), Action::Delete, &[]),
        bare_change(kept.clone(), Action::Delete, &[]),
    ];
    let outcomes = [
        ChangeOutcome::Applied,
        ChangeOutcome::Failed,
        ChangeOutcome::Applied,
        ChangeOutcome::NotRun,
    ];
    ledger.settle(&declared, &live, changes.iter().zip(outcomes));
    assert_eq!(
        addresses(&ledger),
        vec![
            "workspace.ml",
            "workspace.ml.apikey.failed",
            "workspace.ml.apikey.kept",
            "workspace.ml.apikey.made",
        ]
    );
    assert_eq!(
        ledger.regions,
        [(ws.address(), "ap-southeast-1".to_string())].into()
    );
    assert_eq!(
        ledger.scope().regions,
        ["ap-southeast-1".to_string()].into()
    );
}

#[test]
fn intend_owns_creates_before_they_run_and_settle_drops_what_never_came() {
    let ws = workspace("ml", "cn-beijing");
    let mut ledger = Ledger::default();
    ledger.intend([&ws]);
    assert_eq!(addresses(&ledger), vec!["workspace.ml"]);
    assert_eq!(ledger.scope().regions, ["cn-beijing".to_string()].into());
    // The run died before creating it; the next one finds nothing and nothing declared.
    ledger.settle::<Change>(&State::default(), &State::default(), []);
    assert!(ledger.owned.is_empty());
    assert!(ledger.regions.is_empty());
}

#[test]
fn lock_records_render_every_field_of_the_holder() {
    let holder = LockInfo {
        id: "0123abcd".into(),
        host: "ci-7".into(),
        pid: 4242,
        started: 1_700_000_000,
        commit: Some("1a2b3c".into()),
        command: "apply".into(),
    };
    assert_eq!(
        holder.to_string(),
        "lock 0123abcd held by `msctl apply` on host ci-7 (pid 4242) since 2023-11-14 22:13:20 \
            UTC, applying commit 1a2b3c"
    );
    let mine = LockInfo::for_this_process("ack", None);
    assert_eq!(mine.pid, std::process::id());
    assert_eq!(mine.id.len(), 16);
    assert_ne!(mine.id, LockInfo::for_this_process("ack", None).id);
}

#[test]
fn a_rename_carries_owned_addresses_acknowledgements_and_the_caller_over() {
    use crate::testing::{group_member, member, user};
    let acked_member = member("ml", "bob", true);
    let acked_key = key("ml", "k", "bob", None);
    let mut ledger = Ledger {
        owned: [
            user("bob").address(),
            group_member("devs", "bob").address(),
            user("alice").address(),
        ]
        .into(),
        acknowledged: [
            (acked_member.address(), acked_member.clone()),
            (acked_key.address(), acked_key.clone()),
        ]
        .into(),
        caller: Some(RecordedCaller {
            user_id: "1".into(),
            name: "bob".into(),
        }),
        ..Ledger::default()
    };
    let rename = Rename::between(&user("bob").address(), &user("robert").address()).unwrap();
    ledger.rename(&rename);
    assert_eq!(
        addresses(&ledger),
        [
            "ram.user.alice",
            "ram.user.robert",
            "ram.group.devs.member.robert"
        ]
    );
    assert_eq!(
        ledger.acknowledged,
        [
            (
                member("ml", "robert", true).address(),
                member("ml", "robert", true)
            ),
            (acked_key.address(), key("ml", "k", "robert", None)),
        ]
        .into()
    );
    assert_eq!(ledger.caller.unwrap().name, "robert");
}
