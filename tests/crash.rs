//! Crash safety (issue 8): `kill -9` of `apply` at a random (seeded) moment of a large local
//! apply leaves the state database sound (`PRAGMA integrity_check`), the lock removable with
//! `msctl force-unlock`, and the next apply converges: plan is then empty, nothing is duplicated,
//! and the ledger owns exactly what an uninterrupted apply owns.
//!
//! The moment is the k-th line the apply prints on stderr (one per change), k drawn from a
//! seeded generator: no sleeps, and the same seed gives the same schedule of kill points.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use msctl::backend::Backend;
use msctl::backend::local::LocalBackend;
use msctl::model::Address;

mod common;
use common::text;

/// Trials, each a fresh state killed once, then recovered.
const TRIALS: usize = 50;
const SEED: u64 = 0x6d73_6374_6c38;
const THREADS: usize = 4;
/// Trials that recover through the CLI (`apply` refused, `msctl force-unlock`).
const CLI_TRIALS: usize = 8;

/// splitmix64: a seeded generator in a few lines, so the test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn msctl(cfg: &Path, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("msctl"));
    cmd.arg("-C")
        .arg(cfg)
        .arg("--state")
        .arg(db)
        .env("NO_COLOR", "1")
        .env_remove("MSCTL_TEST_HOLD_LOCK")
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

fn duplicates(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM (SELECT 1 FROM ms_api_key GROUP BY workspace_id, name \
         HAVING COUNT(*) > 1)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn owned(db: &Path) -> BTreeSet<Address> {
    LocalBackend::open(db).unwrap().load_ledger().unwrap().owned
}

/// Applies until done, removing a lock the killed run left: the recovery a person would do.
/// With `cli`, through the CLI (the refusal names the lock, `msctl force-unlock` removes it);
/// else through the same backend call, to keep the test's run time down. Returns whether a
/// lock was left.
fn recover(cfg: &Path, db: &Path, trial: usize, kill_at: u64, cli: bool) -> bool {
    let backend = LocalBackend::open(db).unwrap();
    let locked = backend.lock_holder().unwrap();
    if let Some(holder) = locked.clone() {
        if cli {
            drop(backend);
            let o = run(msctl(cfg, db, &["apply", "--auto-approve"]));
            assert_eq!(
                o.status.code(),
                Some(1),
                "trial {trial} (kill at {kill_at}): {}",
                text(&o)
            );
            assert!(text(&o).contains(&holder.id), "trial {trial}: {}", text(&o));
            let o = run(msctl(cfg, db, &["force-unlock", &holder.id]));
            assert_eq!(o.status.code(), Some(0), "trial {trial}: {}", text(&o));
        } else {
            assert_eq!(backend.unlock(&holder.id).unwrap(), Some(holder));
        }
    }
    let o = run(msctl(cfg, db, &["apply", "--auto-approve"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "trial {trial} (kill at {kill_at}): the re-run converges: {}",
        text(&o)
    );
    assert!(!text(&o).contains("failed:"), "trial {trial}: {}", text(&o));
    locked.is_some()
}

#[test]
fn kill_9_at_random_moments_of_apply_leaves_state_and_ledger_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cfg");
    // 6 workspaces, 12 users, 3 members each: 110 changes in one apply.
    msctl::synthetic::generate(&cfg, 6, 12, 3).unwrap();

    // The reference: one uninterrupted apply, and what its ledger owns.
    let reference = tmp.path().join("reference.db");
    // JSON output: the result document on stdout, one progress line per change on stderr.
    let o = run(msctl(
        &cfg,
        &reference,
        &["apply", "--auto-approve", "--format", "json"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let changes = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("+ "))
        .count() as u64;
    assert!(changes > 100, "a large apply: {changes} changes");
    let expected = owned(&reference);
    assert!(expected.len() as u64 >= changes);

    let mut rng = Rng(SEED);
    // Lines before the first change (warnings, the plan) count too: any moment can be hit.
    let kill_points: Vec<u64> = (0..TRIALS).map(|_| rng.below(changes + 20)).collect();
    // Trials are independent (one state each): four at a time, as CI machines have the cores.
    let results: Vec<(bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (cfg, dir, expected, kill_points) = (&cfg, tmp.path(), &expected, &kill_points);
                s.spawn(move || {
                    (t..TRIALS)
                        .step_by(THREADS)
                        .map(|trial| {
                            let db = dir.join(format!("trial-{trial}.db"));
                            one_trial(cfg, &db, trial, kill_points[trial], changes, expected)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let killed_mid_apply = results.iter().filter(|(mid, _)| *mid).count();
    let left_locked = results.iter().filter(|(_, locked)| *locked).count();
    // The schedule hits the middle of applies, not only their edges, and runs that died
    // holding the lock.
    assert!(
        killed_mid_apply >= TRIALS / 2,
        "{killed_mid_apply} of {TRIALS}"
    );
    assert!(left_locked >= TRIALS / 2, "{left_locked} of {TRIALS}");
    let by_cli = (0..THREADS)
        .flat_map(|t| (t..TRIALS).step_by(THREADS))
        .zip(&results)
        .filter(|(trial, (_, locked))| *trial < CLI_TRIALS && *locked)
        .count();
    assert!(by_cli > 0, "a lock was removed with `msctl force-unlock`");
}

/// Kills one apply at its `kill_at`-th stderr line, checks the database, recovers, checks the
/// result: (killed in the middle of the changes, left a lock).
fn one_trial(
    cfg: &Path,
    db: &Path,
    trial: usize,
    kill_at: u64,
    changes: u64,
    expected: &BTreeSet<Address>,
) -> (bool, bool) {
    let mut child = msctl(cfg, db, &["apply", "--auto-approve", "--format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = 0;
    let mut applied = 0;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.starts_with("+ ") {
            applied += 1;
        }
        seen += 1;
        if seen >= kill_at {
            break;
        }
    }
    // SIGKILL: no destructor, no lock release, mid-transaction if it so happens.
    let _ = child.kill();
    child.wait().unwrap();

    assert_eq!(integrity(db), "ok", "trial {trial} (kill at {kill_at})");
    // The first trials recover through the CLI, the rest through the backend call.
    let locked = recover(cfg, db, trial, kill_at, trial < CLI_TRIALS);
    let o = run(msctl(cfg, db, &["plan", "--detailed-exitcode"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "trial {trial} (kill at {kill_at}): plan is empty after the re-run: {}",
        text(&o)
    );
    assert_eq!(integrity(db), "ok", "trial {trial}");
    assert_eq!(duplicates(db), 0, "trial {trial}");
    assert_eq!(&owned(db), expected, "trial {trial} (kill at {kill_at})");
    (applied > 0 && applied < changes, locked)
}
