//! Rotation decisions: due by age, waiting inside the overlap, expired after it.

use std::collections::BTreeMap;

use super::*;
use crate::ledger::RetiringKey;
use crate::model::{ApiKey, KeyRotation, LiveKey, Resource};

const DAY: i64 = 86_400;

fn key() -> Resource {
    Resource::ApiKey(ApiKey {
        workspace: "ml".into(),
        name: "svc".into(),
        owner: "alice".into(),
        description: String::new(),
        models: None,
        ip_allow: Default::default(),
        enabled: true,
    })
}

fn desired() -> State {
    let mut s = State::default();
    let address = s
        .insert(key())
        .map_or_else(|| key().address(), |r| r.address());
    s.key_rotation.insert(
        address,
        KeyRotation {
            rotate_after: 90 * 86_400,
            overlap: 7 * 86_400,
        },
    );
    s
}

fn live_with(id: &str, created: i64) -> State {
    let mut s = State::default();
    s.insert(key());
    s.set_live_key(
        key().address(),
        LiveKey {
            id: id.into(),
            created: Some(created),
        },
    );
    s
}

#[test]
fn a_key_older_than_rotate_after_is_due_and_a_younger_one_is_not() {
    let live = live_with("1858001", 0);
    let due = Rotations::of(&desired(), &live, &BTreeMap::new(), 91 * DAY);
    let why = &due.due[&key().address()];
    assert!(why.contains("it is 91d old (rotate_after 90d)"), "{why}");
    assert!(why.contains("the current key (id 1858001) stays enabled for the overlap (7d)"));
    let fresh = Rotations::of(&desired(), &live, &BTreeMap::new(), 90 * DAY);
    assert_eq!(fresh, Rotations::default());
}

#[test]
fn a_key_without_creation_time_or_policy_is_never_due() {
    let mut live = live_with("1", 0);
    live.live_keys.values_mut().for_each(|k| k.created = None);
    assert!(
        Rotations::of(&desired(), &live, &BTreeMap::new(), 999 * DAY)
            .due
            .is_empty()
    );
    let live = live_with("1", 0);
    let mut undeclared = desired();
    undeclared.key_rotation.clear();
    assert!(
        Rotations::of(&undeclared, &live, &BTreeMap::new(), 999 * DAY)
            .due
            .is_empty()
    );
}

/// Live after a rotation: the successor at the address, the predecessor under its id.
fn rotated(since: i64) -> (State, BTreeMap<Address, RetiringKey>) {
    let mut live = live_with("1858001", 0);
    live.insert_duplicate(key(), "1858002".into());
    live.set_live_key(
        Address::Duplicate {
            of: Box::new(key().address()),
            id: "1858002".into(),
        },
        LiveKey {
            id: "1858002".into(),
            created: Some(since),
        },
    );
    let retiring: BTreeMap<Address, RetiringKey> = [(
        key().address(),
        RetiringKey {
            id: "1858001".into(),
            since,
        },
    )]
    .into();
    live.seat_successors(&["1858001".to_string()].into());
    (live, retiring)
}

#[test]
fn reads_seat_the_successor_at_the_address() {
    let (live, _) = rotated(91 * DAY);
    assert_eq!(live.live_keys[&key().address()].id, "1858002");
    let old = Address::Duplicate {
        of: Box::new(key().address()),
        id: "1858001".into(),
    };
    assert_eq!(live.live_keys[&old].id, "1858001");
    assert!(live.get(&old).is_some());
}

#[test]
fn the_predecessor_waits_for_the_overlap_then_expires() {
    let (live, retiring) = rotated(91 * DAY);
    let old = Address::Duplicate {
        of: Box::new(key().address()),
        id: "1858001".into(),
    };
    let during = Rotations::of(&desired(), &live, &retiring, 95 * DAY);
    assert!(during.due.is_empty(), "a rotating key is not rotated again");
    assert!(during.expired.is_empty());
    let note = &during.waiting[&old];
    assert!(note.contains("stays enabled until"), "{note}");
    let after = Rotations::of(&desired(), &live, &retiring, 98 * DAY);
    assert!(after.waiting.is_empty());
    assert!(after.expired[&old].contains("is deleted by its id"));
    assert!(after.due.is_empty(), "the successor is 7 days old");
}

#[test]
fn a_record_whose_successor_was_never_made_rotates_again() {
    let live = live_with("1858001", 0);
    let retiring: BTreeMap<Address, RetiringKey> = [(
        key().address(),
        RetiringKey {
            id: "1858001".into(),
            since: 91 * DAY,
        },
    )]
    .into();
    let r = Rotations::of(&desired(), &live, &retiring, 92 * DAY);
    assert!(r.due.contains_key(&key().address()));
    assert!(r.waiting.is_empty() && r.expired.is_empty());
}

#[test]
fn ages_read_in_days() {
    assert_eq!(age_text(95 * 86_400 + 3_600), "95d");
    assert_eq!(age_text(2 * 86_400 + 3 * 3_600), "2d 3h");
    assert_eq!(age_text(5 * 3_600), "5h");
}

mod in_a_plan {
    use super::*;
    use crate::backend::Capabilities;
    use crate::model::{Member, Principal, Workspace};
    use crate::plan::safety::{SafetyOptions, check};
    use crate::plan::{Action, DiffOptions, diff};

    fn workspace() -> Resource {
        Resource::Workspace(Workspace {
            name: "ml".into(),
            region: "cn-beijing".into(),
            default: false,
        })
    }

    fn with_workspace(mut s: State) -> State {
        s.insert(workspace());
        s
    }

    fn options(
        desired: &State,
        live: &State,
        retiring: &BTreeMap<Address, RetiringKey>,
        now: i64,
    ) -> DiffOptions {
        DiffOptions {
            rotations: Rotations::of(desired, live, retiring, now),
            ..DiffOptions::default()
        }
    }

    #[test]
    fn a_due_key_is_rotated_at_its_address_with_the_reason_first() {
        let desired = with_workspace(desired());
        let live = with_workspace(live_with("1858001", 0));
        let d = diff(
            &desired,
            &live,
            &options(&desired, &live, &BTreeMap::new(), 91 * DAY),
            &Capabilities::full(),
        );
        assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
        let c = &d.changes[0];
        assert_eq!(
            (c.address.clone(), c.action),
            (key().address(), Action::Rotate)
        );
        assert_eq!(c.before.as_ref(), Some(&key()));
        assert_eq!(c.after.as_ref(), Some(&key()));
        assert!(
            c.warnings[0].starts_with("rotates API key `workspace.ml.apikey.svc`"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn an_owner_change_replaces_the_key_instead_of_rotating_it() {
        let mut desired = with_workspace(desired());
        if let Some(Resource::ApiKey(k)) = desired.resources.get_mut(&key().address()) {
            k.owner = "bob".into();
        }
        let live = with_workspace(live_with("1858001", 0));
        let d = diff(
            &desired,
            &live,
            &options(&desired, &live, &BTreeMap::new(), 91 * DAY),
            &Capabilities::full(),
        );
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].action, Action::Replace);
    }

    #[test]
    fn the_predecessor_is_kept_during_the_overlap_and_deleted_by_id_after_it() {
        let desired = with_workspace(desired());
        let (live, retiring) = rotated(91 * DAY);
        let live = with_workspace(live);
        let old = Address::Duplicate {
            of: Box::new(key().address()),
            id: "1858001".into(),
        };
        let during = diff(
            &desired,
            &live,
            &options(&desired, &live, &retiring, 95 * DAY),
            &Capabilities::full(),
        );
        assert!(during.changes.is_empty(), "{:?}", during.changes);
        assert!(
            during.unmanaged.is_empty(),
            "no duplicate is reported: {:?}",
            during.unmanaged
        );
        assert!(
            during
                .warnings
                .iter()
                .any(|w| w.contains("stays enabled until")),
            "{:?}",
            during.warnings
        );
        let after = diff(
            &desired,
            &live,
            &options(&desired, &live, &retiring, 98 * DAY),
            &Capabilities::full(),
        );
        assert_eq!(after.changes.len(), 1, "{:?}", after.changes);
        assert_eq!(
            (after.changes[0].address.clone(), after.changes[0].action),
            (old.clone(), Action::Delete)
        );
        // Declared by rotate_after and overlap: no --allow-delete needed for it, but still for
        // any other duplicate.
        let safety = SafetyOptions {
            rotated_out: [old.clone()].into(),
            ..SafetyOptions::default()
        };
        assert_eq!(check(&after.changes, &live, &safety), Ok(()));
        assert!(check(&after.changes, &live, &SafetyOptions::default()).is_err());
    }

    #[test]
    fn settling_forgets_a_predecessor_once_it_is_deleted() {
        let (live, retiring) = rotated(91 * DAY);
        let old = Address::Duplicate {
            of: Box::new(key().address()),
            id: "1858001".into(),
        };
        let mut ledger = crate::ledger::Ledger {
            retiring,
            ..Default::default()
        };
        ledger.settle_retiring(&live, &Default::default());
        assert_eq!(ledger.retiring.len(), 1, "still live: kept");
        ledger.settle_retiring(&live, &[old].into());
        assert!(ledger.retiring.is_empty(), "deleted: forgotten");
        let mut gone = crate::ledger::Ledger {
            retiring: rotated(0).1,
            ..Default::default()
        };
        gone.settle_retiring(&State::default(), &Default::default());
        assert!(gone.retiring.is_empty(), "no longer live: forgotten");
    }

    #[test]
    fn drift_risks_name_default_workspace_keys_and_owners_who_are_not_members() {
        use crate::plan::drift::{KeyRiskKind, key_risks};
        let mut live = live_with("1", 0);
        live.insert(workspace());
        live.insert(Resource::Workspace(Workspace {
            name: "default-cn-beijing".into(),
            region: "cn-beijing".into(),
            default: true,
        }));
        live.insert(Resource::ApiKey(ApiKey {
            workspace: "default-cn-beijing".into(),
            name: "shared".into(),
            owner: "alice".into(),
            description: String::new(),
            models: None,
            ip_allow: Default::default(),
            enabled: true,
        }));
        live.insert(Resource::Member(Member {
            workspace: "default-cn-beijing".into(),
            principal: Principal::User("alice".into()),
            administrator: false,
            pages: Default::default(),
        }));
        let kinds = |risks: Vec<crate::plan::drift::KeyRisk>| -> Vec<(String, KeyRiskKind)> {
            risks
                .into_iter()
                .map(|r| (r.address.to_string(), r.kind))
                .collect()
        };
        // Members read: alice is no member of `ml`.
        assert_eq!(
            kinds(key_risks(&live, true)),
            vec![
                (
                    "workspace.default-cn-beijing.apikey.shared".into(),
                    KeyRiskKind::DefaultWorkspace
                ),
                (
                    "workspace.ml.apikey.svc".into(),
                    KeyRiskKind::OwnerNotMember
                ),
            ]
        );
        // Members not read (aliyun): `ml` has no acknowledged members, so its owner is unknown
        // territory and not reported.
        assert_eq!(
            kinds(key_risks(&live, false)),
            vec![(
                "workspace.default-cn-beijing.apikey.shared".into(),
                KeyRiskKind::DefaultWorkspace
            )]
        );
    }
}
