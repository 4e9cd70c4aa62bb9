//! Latency benchmark of the aliyun backend: how close an apply over a slow API comes to the bound
//! N·L/P, and whether a no-op plan makes no more calls than the listing needs:
//! `cargo bench --bench latency`.
//!
//! One emulator child (`--latency-ms 50 --workers 32`), the synthetic config (51 workspaces,
//! 1,000 users, as in issue 13), then:
//! 1. `apply --parallelism 10`, timed. N is every request the emulator answered during it (its
//!    read of live state included), L the latency, P the parallelism: no apply of N calls of L
//!    each, P at a time, can take less than N·L/P. The target is a ratio of at most 1.2.
//! 2. a no-op `plan`, whose calls (its JSON's `api_calls_by_operation`) are compared, operation by
//!    operation, with the listing minimum of the README ("Reads"), counted from the emulated
//!    account's objects after the apply.
//!
//! Size: `MSCTL_LATENCY_WORKSPACES` (51), `MSCTL_LATENCY_USERS` (1000), `MSCTL_LATENCY_MS` (50),
//! `MSCTL_LATENCY_PARALLELISM` (10). The default takes about a minute on 2 cores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use msctl::backend::local::LocalBackend;
use msctl::backend::{Backend, ReadScope};
use msctl::model::{Resource, State};

#[path = "../tests/common/mod.rs"]
mod common;
use common::ChildEmulator;

const AK: &str = "LTAI5tLatencyBenchKey";
const SECRET: &str = "latency-bench-Secret-9c41";
/// Models the emulator's catalogue lists as grantable; `ListModelPermissions` reads them all
/// (100 a page), so one page per workspace while there are at most 100.
const EMULATOR_CATALOGUE: u64 = 12;

struct Settings {
    workspaces: usize,
    users: usize,
    latency_ms: u64,
    parallelism: usize,
}

fn main() {
    let s = settings();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_msctl"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let generated =
        msctl::synthetic::generate(&dir.join("cfg"), s.workspaces, s.users, 3).expect("generate");
    println!(
        "latency: {} workspaces, {} users; emulator --latency-ms {} --workers 32; apply \
         --parallelism {}",
        generated.workspaces, generated.users, s.latency_ms, s.parallelism
    );
    let latency_ms = s.latency_ms.to_string();
    let emu = ChildEmulator::start(
        &dir.join("cloud.db"),
        &["--workers", "32", "--latency-ms", &latency_ms],
        AK,
        SECRET,
        &dir.join("emulator.log"),
    );

    // 1. The apply, against the bound.
    let before = requests(&emu);
    let started = Instant::now();
    let parallelism = s.parallelism.to_string();
    let out = msctl(
        &bin,
        dir,
        &emu.url,
        &[
            "apply",
            "--auto-approve",
            "--allow-dirty",
            "--parallelism",
            &parallelism,
            "--format",
            "json",
        ],
    );
    let took = started.elapsed();
    assert!(out.status.success(), "apply failed:\n{}", tail(&out));
    let n = requests(&emu) - before;
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply JSON");
    let read = result["plan"]["api_calls"].as_u64().unwrap_or(0);
    let bound = Duration::from_millis(s.latency_ms) * n as u32 / s.parallelism as u32;
    println!(
        "apply: {} changes applied, N = {n} calls ({read} to read live state, {} to write), \
         {:.1} s; N·L/P = {:.1} s; ratio {:.2} (target ≤ 1.2)",
        result["summary"]["applied"],
        n - read,
        took.as_secs_f64(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64()
    );

    // 2. A no-op plan, against the listing minimum.
    let out = msctl(
        &bin,
        dir,
        &emu.url,
        &["plan", "--detailed-exitcode", "--format", "json"],
    );
    let code = out.status.code().unwrap_or(-1);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    let left = changes.iter().filter(|c| c["manual"].is_null()).count();
    // Console-only steps (workspace members) stay in the plan until acknowledged.
    let manual = changes.len() - left;
    drop(emu);
    let measured = by_operation(&plan["api_calls_by_operation"]);
    let minimum = listing_minimum(&live(&dir.join("cloud.db")));
    println!(
        "no-op plan: exit {code}, {left} change(s) for the API, {manual} manual step(s); {} \
         calls, listing minimum {}",
        plan["api_calls"],
        minimum.values().sum::<u64>()
    );
    println!("{:<34} {:>9} {:>9}", "operation", "measured", "minimum");
    let mut operations: Vec<&String> = measured.keys().chain(minimum.keys()).collect();
    operations.sort();
    operations.dedup();
    for op in operations {
        let m = measured.get(op).copied().unwrap_or(0);
        let want = minimum.get(op).copied().unwrap_or(0);
        let flag = if m == want { "" } else { "  <- differs" };
        println!("{op:<34} {m:>9} {want:>9}{flag}");
    }
}

fn settings() -> Settings {
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(default)
    };
    Settings {
        workspaces: number("MSCTL_LATENCY_WORKSPACES", 51),
        users: number("MSCTL_LATENCY_USERS", 1000),
        latency_ms: number("MSCTL_LATENCY_MS", 50) as u64,
        parallelism: number("MSCTL_LATENCY_PARALLELISM", 10),
    }
}

/// Requests the emulator answered so far: one log line each
/// (`METHOD PATH ACTION -> STATUS (N ms)`).
fn requests(emu: &ChildEmulator) -> u64 {
    emu.log().lines().filter(|l| l.contains(" -> ")).count() as u64
}

fn msctl(bin: &Path, dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("-C")
        .arg(dir.join("cfg"))
        .args(["--backend", "aliyun", "--endpoint", url])
        .arg("--ledger")
        .arg(dir.join("ledger.db"))
        .args(args)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run msctl")
}

fn tail(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// `{"ram": {"ListUsers": 1}}` as `ram ListUsers` → 1.
fn by_operation(v: &serde_json::Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (product, ops) in v.as_object().into_iter().flatten() {
        for (op, n) in ops.as_object().into_iter().flatten() {
            out.insert(format!("{product} {op}"), n.as_u64().unwrap_or(0));
        }
    }
    out
}

/// The emulated account's objects, read from its database once the emulator has stopped.
fn live(db: &Path) -> State {
    let backend = LocalBackend::open(db).expect("open the emulator's database");
    backend
        .read(&ReadScope {
            regions: ["cn-beijing".to_string()].into(),
            ram: true,
            pai_regions: Default::default(),
        })
        .expect("read the emulator's database")
}

/// The README's listing minimum of a plan (section "Reads"), per operation: every page of every
/// listing, and per listed object the one read that depends on it.
fn listing_minimum(live: &State) -> BTreeMap<String, u64> {
    let pages = |items: u64, size: u64| items.div_ceil(size).max(1);
    let count = |f: &dyn Fn(&Resource) -> bool| live.iter().filter(|(_, r)| f(r)).count() as u64;
    let workspaces = count(&|r| matches!(r, Resource::Workspace(_)));
    let sub: Vec<String> = live
        .iter()
        .filter_map(|(_, r)| match r {
            Resource::Workspace(w) if !w.default => Some(w.name.clone()),
            _ => None,
        })
        .collect();
    let keys = count(&|r| matches!(r, Resource::ApiKey(_)));
    let users = count(&|r| matches!(r, Resource::RamUser(_)));
    let groups: Vec<String> = live
        .iter()
        .filter_map(|(_, r)| match r {
            Resource::RamGroup(g) => Some(g.name.clone()),
            _ => None,
        })
        .collect();
    let roles = count(&|r| matches!(r, Resource::RamRole(_)));
    let policies = count(&|r| matches!(r, Resource::RamPolicy(_)));
    let mut m = BTreeMap::new();
    let mut add = |op: &str, n: u64| *m.entry(op.to_string()).or_insert(0) += n;
    add("sts GetCallerIdentity", 1);
    add("modelstudio ListWorkspaces", pages(workspaces, 100));
    add("modelstudio ListApiKeys", pages(keys, 100));
    for w in &sub {
        let limits = count(&|r| matches!(r, Resource::ModelLimit(l) if &l.workspace == w));
        add(
            "modelstudio ListModelPermissions",
            pages(EMULATOR_CATALOGUE, 100),
        );
        add("modelstudio ListModelLimits", pages(limits, 200));
    }
    add("ram ListUsers", pages(users, 1000));
    add("ram ListGroups", pages(groups.len() as u64, 100));
    add("ram ListRoles", pages(roles, 1000));
    add("ram ListPolicies", pages(policies, 1000));
    add("ram ListPoliciesForUser", users);
    add("ram ListPoliciesForGroup", groups.len() as u64);
    for g in &groups {
        let members = count(&|r| matches!(r, Resource::GroupMember(x) if &x.group == g));
        add("ram ListUsersForGroup", pages(members, 1000));
    }
    if roles > 0 {
        add("ram ListPoliciesForRole", roles);
        add("ram GetRole", roles);
    }
    if policies > 0 {
        add("ram GetPolicy", policies);
    }
    m
}
