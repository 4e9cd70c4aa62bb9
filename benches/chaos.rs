//! Chaos benchmark of the aliyun backend: plan and apply a synthetic config through the CLI
//! against `msctl emulator` injecting throttling, server errors and dropped connections, one
//! emulator per seed, and count what failed: `cargo bench --bench chaos`.
//!
//! Per seed: a fresh emulator (`--throttle-rate 0.2 --error-rate 0.05 --drop-rate 0.02`), a plan,
//! then applies until a plan shows nothing left for the API (at most `MSCTL_CHAOS_APPLIES`, 4),
//! each followed by a plan. The table gives, per seed, the plans that failed, the applies needed
//! (`-` when it never converged), duplicate API keys in the emulated account, and wall times.
//!
//! Size: `MSCTL_CHAOS_FULL=1` is the run (seeds 0–49, 150 workspaces, 1,000 users); the
//! default (5 seeds, 30 workspaces, 200 users) takes a few minutes on 2 cores. Override with
//! `MSCTL_CHAOS_SEEDS=0-49` or `=11,27,30,34`, `MSCTL_CHAOS_WORKSPACES`, `MSCTL_CHAOS_USERS`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
use common::ChildEmulator;

const AK: &str = "LTAI5tChaosBenchKeyId";
const SECRET: &str = "chaos-bench-Secret-5e2d";
const FAULTS: [&str; 6] = [
    "--throttle-rate",
    "0.2",
    "--error-rate",
    "0.05",
    "--drop-rate",
    "0.02",
];

struct Settings {
    seeds: Vec<u64>,
    workspaces: usize,
    users: usize,
    max_applies: usize,
}

/// What happened to one seed.
#[derive(Debug)]
struct SeedRun {
    seed: u64,
    plans: usize,
    failed_plans: usize,
    /// Applies until nothing was left for the API; `None` if it never got there.
    applies: Option<usize>,
    /// Applies that exited non-zero.
    failed_applies: usize,
    duplicates: i64,
    worst_apply: Duration,
    total: Duration,
    /// The first failure's last stderr lines, to see why.
    first_error: Option<String>,
}

fn main() {
    let s = settings();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_msctl"));
    println!(
        "chaos: {} seed(s), {} workspaces, {} users, faults {}",
        s.seeds.len(),
        s.workspaces,
        s.users,
        FAULTS.join(" ")
    );
    println!(
        "{:>5} {:>6} {:>13} {:>8} {:>14} {:>11} {:>12} {:>10}",
        "seed",
        "plans",
        "failed plans",
        "applies",
        "failed applies",
        "duplicates",
        "worst apply",
        "total"
    );
    let mut runs = Vec::new();
    for &seed in &s.seeds {
        let run = run_seed(&bin, &s, seed);
        println!(
            "{:>5} {:>6} {:>13} {:>8} {:>14} {:>11} {:>11.1}s {:>9.1}s",
            run.seed,
            run.plans,
            run.failed_plans,
            run.applies
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            run.failed_applies,
            run.duplicates,
            run.worst_apply.as_secs_f64(),
            run.total.as_secs_f64()
        );
        if let Some(e) = &run.first_error {
            println!("      first failure: {e}");
        }
        runs.push(run);
    }
    summarise(&s, &runs);
}

fn settings() -> Settings {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let full = var("MSCTL_CHAOS_FULL").is_some_and(|v| v != "0");
    let number = |name: &str, default: usize| {
        var(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let seeds = match var("MSCTL_CHAOS_SEEDS") {
        Some(spec) => parse_seeds(&spec),
        None if full => (0..50).collect(),
        None => (0..5).collect(),
    };
    Settings {
        seeds,
        workspaces: number("MSCTL_CHAOS_WORKSPACES", if full { 150 } else { 30 }),
        users: number("MSCTL_CHAOS_USERS", if full { 1000 } else { 200 }),
        max_applies: number("MSCTL_CHAOS_APPLIES", 4).max(1),
    }
}

/// `0-49`, `11,27,30,34`, or a mix.
fn parse_seeds(spec: &str) -> Vec<u64> {
    let mut seeds = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
                    seeds.extend(a..=b);
                }
            }
            None => seeds.extend(part.parse::<u64>().ok()),
        }
    }
    seeds
}

/// The emulator with the bench's faults and `seed`, killed when dropped; its log is discarded
/// (`--quiet`).
fn start_emulator(state: &Path, seed: u64) -> ChildEmulator {
    let seed = seed.to_string();
    let mut extra = vec!["--quiet", "--seed", &seed];
    extra.extend(FAULTS);
    ChildEmulator::start(state, &extra, AK, SECRET, &state.with_extension("log"))
}

fn msctl(bin: &Path, dir: &Path, emu: &ChildEmulator, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("-C")
        .arg(dir.join("cfg"))
        .args(["--backend", "aliyun", "--endpoint", &emu.url])
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

/// Changes left for the API (manual steps are a person's), or `None` if the plan failed.
fn plan(bin: &Path, dir: &Path, emu: &ChildEmulator) -> Result<usize, String> {
    let out = msctl(bin, dir, emu, &["plan", "--format", "json"]);
    if !out.status.success() {
        return Err(tail(&out));
    }
    let plan: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("plan JSON: {e}"))?;
    Ok(plan["changes"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["manual"].is_null()).count()))
}

fn tail(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("failed"))
        .collect();
    lines
        .iter()
        .rev()
        .take(2)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join(" | ")
}

fn run_seed(bin: &Path, s: &Settings, seed: u64) -> SeedRun {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    msctl::synthetic::generate(&dir.join("cfg"), s.workspaces, s.users, 3).expect("generate");
    let emu = start_emulator(&dir.join("cloud.db"), seed);
    let mut run = SeedRun {
        seed,
        plans: 0,
        failed_plans: 0,
        applies: None,
        failed_applies: 0,
        duplicates: 0,
        worst_apply: Duration::ZERO,
        total: Duration::ZERO,
        first_error: None,
    };
    let note = |run: &mut SeedRun, e: String| {
        if run.first_error.is_none() {
            run.first_error = Some(e);
        }
    };
    run.plans += 1;
    if let Err(e) = plan(bin, dir, &emu) {
        run.failed_plans += 1;
        note(&mut run, format!("plan: {e}"));
    }
    for n in 1..=s.max_applies {
        let t = Instant::now();
        let out = msctl(
            bin,
            dir,
            &emu,
            &["apply", "--auto-approve", "--allow-dirty"],
        );
        run.worst_apply = run.worst_apply.max(t.elapsed());
        if !out.status.success() {
            run.failed_applies += 1;
            note(&mut run, format!("apply {n}: {}", tail(&out)));
        }
        run.plans += 1;
        match plan(bin, dir, &emu) {
            Ok(0) => {
                run.applies = Some(n);
                break;
            }
            Ok(left) => note(&mut run, format!("after apply {n}: {left} change(s) left")),
            Err(e) => {
                run.failed_plans += 1;
                note(&mut run, format!("plan after apply {n}: {e}"));
            }
        }
    }
    drop(emu);
    run.duplicates = duplicates(&dir.join("cloud.db"));
    run.total = started.elapsed();
    run
}

/// API keys beyond the first with the same description in the same workspace.
fn duplicates(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the emulator's state");
    conn.query_row(
        "SELECT coalesce(sum(n - 1), 0) FROM \
         (SELECT count(*) AS n FROM ms_api_key GROUP BY workspace_id, description HAVING n > 1)",
        [],
        |r| r.get(0),
    )
    .expect("count duplicate keys")
}

fn summarise(s: &Settings, runs: &[SeedRun]) {
    let seeds = runs.len();
    let failed_plans: usize = runs.iter().map(|r| r.failed_plans).sum();
    let plans: usize = runs.iter().map(|r| r.plans).sum();
    let mut by_applies = vec![0usize; s.max_applies + 1];
    let mut never = Vec::new();
    for r in runs {
        match r.applies {
            Some(n) => by_applies[n] += 1,
            None => never.push(r.seed),
        }
    }
    let duplicates: i64 = runs.iter().map(|r| r.duplicates).sum();
    let worst = runs.iter().map(|r| r.worst_apply).max().unwrap_or_default();
    let worst_total = runs.iter().map(|r| r.total).max().unwrap_or_default();
    println!();
    println!("seeds: {seeds}");
    println!("plans that failed: {failed_plans} of {plans}");
    for (n, count) in by_applies.iter().enumerate().skip(1) {
        println!("converged in {n} apply(ies): {count}");
    }
    println!("never converged: {} {:?}", never.len(), never);
    println!("duplicates: {duplicates}");
    println!(
        "worst apply wall time: {:.1} s; worst seed (plans and applies): {:.1} s",
        worst.as_secs_f64(),
        worst_total.as_secs_f64()
    );
}
