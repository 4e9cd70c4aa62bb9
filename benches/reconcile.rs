//! Benchmark of validate, plan, rendering the plan (text, markdown, JSON) and apply on synthetic
//! configs at 1x, 4x and 16x (1x = 500 workspaces, 5,000 RAM users): `cargo bench --bench
//! reconcile`. Speed is measured here only; the tests check correctness at scale.
//!
//! Sizes: `MSCTL_BENCH_SIZES=1,4` (default `1,4,16`). Apply at a size is skipped above
//! `MSCTL_BENCH_APPLY_MAX` (default 16). Peak memory is the process's high-water mark (VmHWM)
//! after each phase; sizes run in ascending order, so each reading is that size's peak.

use std::time::{Duration, Instant};

use msctl::apply;
use msctl::backend::local::LocalBackend;
use msctl::backend::{Backend, ReadScope};
use msctl::config;
use msctl::plan::{self, DiffOptions, FORMAT_VERSION, Plan, Source, Summary};

fn main() {
    let sizes: Vec<usize> = std::env::var("MSCTL_BENCH_SIZES")
        .unwrap_or_else(|_| "1,4,16".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let apply_max: usize = std::env::var("MSCTL_BENCH_APPLY_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    println!(
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "size",
        "resources",
        "validate",
        "plan",
        "render",
        "apply",
        "no-op plan",
        "apply/s",
        "peak MiB"
    );
    for &f in &sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("cfg");
        msctl::synthetic::generate(&cfg, 500 * f, 5000 * f, 10).expect("generate");

        let t = Instant::now();
        let loaded = config::load(config::sources_from_dir(&cfg).expect("read config"));
        let validate = t.elapsed();
        let config = loaded.config.expect("synthetic config is valid");
        let resources = config.desired.len();

        let backend = LocalBackend::open(dir.path().join("state.db")).expect("open db");
        let scope = ReadScope {
            regions: ["cn-beijing".to_string()].into(),
            ram: true,
            pai_regions: Default::default(),
        };
        let (plan, plan_time) = plan_once(&config.desired, &backend, &scope);
        let render_time = render(&plan);
        let (apply_time, rate) = if f <= apply_max {
            let t = Instant::now();
            let report = apply::execute(&plan, &backend, 10, &|_| {});
            let took = t.elapsed();
            assert!(
                report.failed.is_empty(),
                "apply failed: {:?}",
                &report.failed[..report.failed.len().min(3)]
            );
            (Some(took), report.applied.len() as f64 / took.as_secs_f64())
        } else {
            (None, 0.0)
        };
        let noop = apply_time.map(|_| {
            let (plan, took) = plan_once(&config.desired, &backend, &scope);
            assert!(plan.changes.is_empty(), "re-plan after apply must be empty");
            took
        });
        println!(
            "{:>4}x {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12.0} {:>10}",
            f,
            resources,
            secs(Some(validate)),
            secs(Some(plan_time)),
            secs(Some(render_time)),
            secs(apply_time),
            secs(noop),
            rate,
            peak_mib()
        );
    }
}

/// One plan: read live, diff, order — what `msctl plan` does after loading the config.
fn plan_once(
    desired: &msctl::model::State,
    backend: &LocalBackend,
    scope: &ReadScope,
) -> (Plan, Duration) {
    let t = Instant::now();
    let live = backend.read(scope).expect("read live");
    let options = DiffOptions::default();
    let mut diff = plan::diff(desired, &live, &options, &backend.capabilities());
    msctl::graph::link(&mut diff.changes).expect("acyclic");
    let summary = Summary::of(&diff.changes);
    let plan = Plan {
        format_version: FORMAT_VERSION.into(),
        msctl_version: env!("CARGO_PKG_VERSION").into(),
        backend: "local".into(),
        source: Source::default(),
        changes: diff.changes,
        unmanaged: diff.unmanaged,
        warnings: diff.warnings,
        summary,
        live_fingerprint: String::new(),
        api_calls: 0,
        api_calls_by_operation: Default::default(),
        managed_live: diff.managed_live,
        access: Default::default(),
        snapshot: None,
    };
    (plan, t.elapsed())
}

/// The plan in all three formats, as `msctl plan` and a CI comment would print it; quadratic
/// string building would show here first.
fn render(plan: &Plan) -> Duration {
    let t = Instant::now();
    let text = msctl::render::plan_text(plan, false);
    let markdown = msctl::render::plan_markdown(plan, msctl::render::DEFAULT_MARKDOWN_MAX_CHARS);
    let json = msctl::render::plan_json(plan);
    let took = t.elapsed();
    assert!(!text.is_empty() && !markdown.is_empty() && !json.is_empty());
    took
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

/// The process's peak resident memory so far, in MiB (Linux; `?` elsewhere).
fn peak_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| format!("{}", kb / 1024))
        .unwrap_or_else(|| "?".into())
}
