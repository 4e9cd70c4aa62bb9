//! Snapshots: the document round-trips, refuses edits, versions and old age, narrows to a
//! scope as a read would, and the backend on it never writes.

use std::time::Duration;

use super::*;
use crate::backend::{Capability, LockInfo, Operation};
use crate::model::Address;
use crate::testing::{self, FakeBackend};

fn all_of(state: &State) -> ReadScope {
    ReadScope::governed_by(state)
}

/// A snapshot of the rich state as the local backend would take it, at time 1000.
fn sample() -> Snapshot {
    let live = testing::rich_state();
    let backend = FakeBackend::new(live.clone());
    let mut ledger = Ledger::default();
    ledger.owned.insert(Address::Workspace {
        name: "chatbot-prod".into(),
    });
    let mut snapshot = Snapshot::take(&backend, all_of(&live), live, ledger, 1000);
    snapshot.backend = "local".into();
    snapshot
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_saved_snapshot_loads_as_it_was_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.json");
    let snapshot = sample();
    snapshot.save(&path).unwrap();
    let loaded = Snapshot::load(&path).unwrap();
    assert_eq!(loaded, snapshot);
    // The fingerprint is the one a plan over the same live state carries.
    assert_eq!(
        loaded.fingerprint,
        crate::plan::fingerprint(&snapshot.planned_live())
    );
    assert_eq!(loaded.ledger.owned.len(), 1);
}

#[test]
fn an_edited_snapshot_is_refused_naming_both_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = sample();
    let text = serde_json::to_string_pretty(&snapshot).unwrap();
    // Someone makes bob an administrator of chatbot-prod by hand.
    let edited = text.replacen("\"administrator\": false", "\"administrator\": true", 1);
    assert_ne!(edited, text, "the sample has a non-administrator member");
    let path = write(&dir, "live.json", &edited);
    let err = Snapshot::load(&path).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, SnapshotError::Fingerprint { .. }),
        "{message}"
    );
    assert!(message.contains(&snapshot.fingerprint), "{message}");
    assert!(message.contains("edited or corrupted"), "{message}");
    assert!(message.contains("hint: take a new one"), "{message}");
}

#[test]
fn not_a_snapshot_another_version_or_backend_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write(&dir, "garbage.json", "{\"changes\": [");
    let err = Snapshot::load(&garbage).unwrap_err().to_string();
    assert!(
        err.contains("is not a snapshot written by `msctl snapshot --out`"),
        "{err}"
    );

    let mut value = serde_json::to_value(sample()).unwrap();
    value["format_version"] = "9".into();
    let newer = write(&dir, "newer.json", &value.to_string());
    let err = Snapshot::load(&newer).unwrap_err().to_string();
    assert!(
        err.contains("has format version 9, this msctl reads 1"),
        "{err}"
    );

    let mut value = serde_json::to_value(sample()).unwrap();
    value["backend"] = "azure".into();
    let other = write(&dir, "other.json", &value.to_string());
    let err = Snapshot::load(&other).unwrap_err().to_string();
    assert!(err.contains("names the `azure` backend"), "{err}");

    let missing = dir.path().join("missing.json");
    let err = Snapshot::load(&missing).unwrap_err().to_string();
    assert!(err.starts_with("failed to read snapshot"), "{err}");
}

#[test]
fn max_age_refuses_only_older_snapshots() {
    let snapshot = sample();
    let path = std::path::Path::new("live.json");
    snapshot
        .check_age(path, 1000 + 3600, Duration::from_secs(3600))
        .unwrap();
    let err = snapshot
        .check_age(path, 1000 + 3601, Duration::from_secs(3600))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(1h ago), older than --max-age 1h"), "{err}");
    // A clock behind the snapshot's is no reason to refuse it.
    assert_eq!(snapshot.age(10), 0);
    snapshot.check_age(path, 10, Duration::ZERO).unwrap();
}

#[test]
fn ages_read_as_people_say_them() {
    assert_eq!(age_text(0), "0s");
    assert_eq!(age_text(59), "59s");
    assert_eq!(age_text(60), "1m");
    assert_eq!(age_text(3 * 3600 + 5 * 60 + 7), "3h 5m");
    assert_eq!(age_text(7200), "2h");
    assert_eq!(age_text(2 * 86_400), "2d");
    assert_eq!(age_text(2 * 86_400 + 4 * 3600 + 60), "2d 4h");
}

#[test]
fn a_read_of_the_whole_scope_is_the_whole_snapshot() {
    let snapshot = sample();
    let backend = SnapshotBackend::new(snapshot.clone());
    assert_eq!(backend.read(&snapshot.scope).unwrap(), snapshot.live);
    // A wider scope cannot add what was never read.
    let mut wider = snapshot.scope.clone();
    wider.regions.insert("cn-shanghai".into());
    assert_eq!(backend.read(&wider).unwrap(), snapshot.live);
    assert_eq!(
        uncovered(&snapshot.scope, &wider),
        vec!["Model Studio region cn-shanghai".to_string()]
    );
    assert!(uncovered(&snapshot.scope, &snapshot.scope).is_empty());
}

#[test]
fn a_narrower_scope_keeps_only_what_a_read_of_it_returns() {
    let mut live = testing::rich_state();
    live.insert(testing::workspace("sh-app", "cn-shanghai"));
    live.insert(testing::model("sh-app", "qwen-plus"));
    live.insert(testing::key("sh-app", "svc", "alice", None));
    let shanghai_only = ReadScope {
        regions: ["cn-shanghai".to_string()].into(),
        ..ReadScope::default()
    };
    let read = restrict(&live, &shanghai_only);
    let addresses: std::collections::BTreeSet<String> =
        read.resources.keys().map(ToString::to_string).collect();
    let expected: std::collections::BTreeSet<String> = [
        "workspace.sh-app",
        "workspace.sh-app.apikey.svc",
        "workspace.sh-app.model.qwen-plus",
    ]
    .map(str::to_string)
    .into();
    assert_eq!(addresses, expected);

    let ram_only = ReadScope {
        ram: true,
        ..ReadScope::default()
    };
    let read = restrict(&live, &ram_only);
    assert!(!read.is_empty());
    assert!(
        read.resources
            .keys()
            .all(|a| a.workspace().is_none() && !a.to_string().starts_with("pai.")),
        "{:?}",
        read.resources.keys().collect::<Vec<_>>()
    );

    let pai = ReadScope {
        pai_regions: ["cn-beijing".to_string()].into(),
        ..ReadScope::default()
    };
    let read = restrict(&live, &pai);
    assert_eq!(read.len(), 2, "the PAI workspace and its member");
}

#[test]
fn the_snapshot_backend_never_writes_or_locks() {
    let snapshot = sample();
    let backend = SnapshotBackend::new(snapshot.clone());
    assert_eq!(backend.name(), "local");
    assert_eq!(backend.load_ledger().unwrap(), snapshot.ledger);
    let ws = testing::workspace("x", "cn-beijing");
    let err = backend.apply(Operation::Create(&ws)).unwrap_err();
    assert!(
        err.to_string()
            .contains("live state comes from a snapshot, which is read-only"),
        "{err}"
    );
    assert!(backend.save_ledger(&Ledger::default()).is_err());
    let me = LockInfo::for_this_process("apply", None);
    assert!(backend.try_lock(&me).is_err());
    assert_eq!(backend.lock_holder().unwrap(), None);
}

#[test]
fn acknowledgements_complete_the_snapshot_as_they_complete_a_read() {
    // A backend that cannot read members: the ledger's acknowledged member is part of the live
    // state plans see, and so of the fingerprint.
    let live = testing::rich_state();
    let mut snapshot = sample();
    snapshot.capabilities = Capabilities {
        missing: [Capability::WorkspaceMembers].into(),
        ..Capabilities::default()
    };
    let member = testing::member("chatbot-dev", "dave", false);
    snapshot
        .ledger
        .acknowledged
        .insert(member.address(), member.clone());
    assert!(live.get(&member.address()).is_none());
    assert_eq!(
        snapshot.planned_live().get(&member.address()),
        Some(&member)
    );
}

#[test]
fn committed_schema_is_current_and_describes_snapshots() {
    let schema = crate::render::snapshot_schema();
    crate::render::json::check_committed_schema("schema/snapshot.schema.json", &schema);
    let instance = serde_json::to_string(&sample()).unwrap();
    let errors = crate::render::json::schema_errors(&schema, &instance);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn plans_and_drift_reports_from_a_snapshot_match_their_schemas() {
    let mut plan = crate::render::sample::rich_plan();
    plan.snapshot = Some(sample().origin(std::path::Path::new("live.json"), 4600));
    assert_eq!(plan.snapshot.as_ref().unwrap().age_seconds, 3600);
    let json = crate::render::plan_json(&plan);
    assert!(json.contains("\"snapshot\": {"), "{json}");
    let errors = crate::render::json::schema_errors(&crate::render::plan_schema(), &json);
    assert!(errors.is_empty(), "{errors:#?}");
    let report = crate::plan::DriftReport::from_plan(&plan);
    assert_eq!(report.snapshot, plan.snapshot);
    let errors = crate::render::json::schema_errors(
        &crate::render::drift_schema(),
        &crate::render::drift_json(&report),
    );
    assert!(errors.is_empty(), "{errors:#?}");
    // Text and markdown say where live state came from, and how old it was.
    let text = crate::render::plan_text(&plan, false);
    assert!(
        text.contains(
            "note: live state comes from snapshot `live.json` \
             taken 1970-01-01 00:16:40 UTC (1h old)"
        ),
        "{text}"
    );
    let md = crate::render::plan_markdown(&plan, usize::MAX);
    assert!(
        md.contains(
            "live state from snapshot `live.json` \
             taken 1970-01-01 00:16:40 UTC (1h old), no credentials used"
        ),
        "{md}"
    );
}

#[test]
fn any_time_in_a_snapshot_is_shown_without_panicking() {
    for taken_at in [0, u64::MAX, i64::MAX as u64, 253_402_300_800] {
        let origin = SnapshotOrigin {
            file: "live.json".into(),
            fingerprint: "f".repeat(64),
            taken_at,
            age_seconds: u64::MAX,
            account: None,
        };
        assert!(origin.describe().starts_with("snapshot `live.json` taken "));
        let mut snapshot = sample();
        snapshot.taken_at = taken_at;
        assert_eq!(snapshot.age(0), 0);
        let _ = snapshot.check_age(std::path::Path::new("x"), u64::MAX, Duration::ZERO);
    }
}
