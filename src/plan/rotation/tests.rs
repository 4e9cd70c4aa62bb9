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
