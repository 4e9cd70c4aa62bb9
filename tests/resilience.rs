//! The aliyun backend on a bad day, through the CLI against the emulator: an endpoint that dies
//! in the middle of an apply stops it with a summary instead of failing change after change.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use msctl::backend::aliyun::Credentials;
use msctl::emulator::{self, EmulatorConfig, FaultConfig};

mod common;

const AK: &str = "LTAI5tResilienceKeyId";
const SECRET: &str = "resilience-Secret-8c1f4a";

fn msctl(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msctl"));
    cmd.arg("-C")
        .arg(dir.join("cfg"))
        .args(["--backend", "aliyun", "--endpoint", url])
        .arg("--ledger")
        .arg(dir.join("ledger.db"))
        .args(args)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn a_dead_endpoint_stops_the_apply_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    // Hundreds of changes, each call a little slow, so the apply is still going when the
    // endpoint dies.
    msctl::synthetic::generate(&dir.path().join("cfg"), 30, 200, 2).unwrap();
    let emu = emulator::spawn(EmulatorConfig {
        faults: FaultConfig {
            latency: Duration::from_millis(5),
            ..FaultConfig::default()
        },
        ..EmulatorConfig::new(dir.path().join("cloud.db"), Credentials::new(AK, SECRET))
    })
    .expect("emulator starts");

    // JSON: stdout is the result document, stderr one progress line per change.
    let mut child = msctl(
        dir.path(),
        &emu.url(),
        &["apply", "--auto-approve", "--format", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let document = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // Kill the endpoint once a few changes went through (read until then: no clock involved; the
    // child's end of the pipe closing ends the loop too).
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|l: &&String| l.contains(": created"))
        .count()
        < 5
    {
        match stderr.next() {
            Some(line) => seen.push(line.unwrap()),
            None => panic!("the apply ended before the endpoint died: {seen:#?}"),
        }
    }
    emu.shutdown();
    seen.extend(stderr.map_while(Result::ok));
    // Hang guard: the child must exit on its own.
    let status = common::wait_or_kill(&mut child, "msctl apply after the endpoint died");
    let result: serde_json::Value =
        serde_json::from_str(&document.join().unwrap()).expect("one result document");
    let out = seen.join("\n");

    assert_eq!(status.code(), Some(1), "{out}");
    // The summary says what was applied and what was not.
    assert_eq!(result["status"], "failed", "{}", result["summary_line"]);
    let summary = &result["summary"];
    assert!(summary["applied"].as_u64().unwrap() >= 5, "{summary}");
    assert!(summary["not_started"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(
        result["stopped"], "msctl stopped starting changes because the API is unavailable",
        "{}",
        result["summary_line"]
    );
    assert!(
        seen.iter().any(|l| l.starts_with("Apply failed: ")),
        "no summary line: {out}"
    );
    assert!(out.contains("looks unavailable"), "{out}");
    let not_started = seen
        .iter()
        .filter(|l| l.contains(": not started ("))
        .count();
    assert!(not_started > 0, "changes left alone are listed: {out}");
    // Failing each remaining change after its own retries would have listed them with their
    // transport error instead.
    let transport_failures = seen.iter().filter(|l| l.contains("no answer from")).count();
    assert!(
        transport_failures <= 16,
        "{transport_failures} changes failed one by one: {out}"
    );
    assert!(!out.contains(SECRET));
}

/// Under the fault mix (20% throttled, 5% server errors, 2% dropped connections), the
/// seeds that never converged (a listing that failed all its retries aborted the whole read, so
/// applies stopped before their first change or after their last, and the plan stayed at
/// "1 to add") now plan without failing and converge in one apply.
#[test]
fn seeds_11_27_30_34_converge_in_one_apply() {
    for seed in [11, 27, 30, 34] {
        let dir = tempfile::tempdir().unwrap();
        msctl::synthetic::generate(&dir.path().join("cfg"), 15, 100, 2).unwrap();
        let emu = emulator::spawn(EmulatorConfig {
            faults: FaultConfig {
                seed,
                throttle_rate: 0.2,
                error_rate: 0.05,
                drop_rate: 0.02,
                retry_after_ms: 20,
                ..FaultConfig::default()
            },
            workers: 16,
            ..EmulatorConfig::new(dir.path().join("cloud.db"), Credentials::new(AK, SECRET))
        })
        .expect("emulator starts");
        let run = |args: &[&str]| {
            msctl(dir.path(), &emu.url(), args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap()
        };
        let text = |o: &std::process::Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        let plan = run(&["plan", "--format", "json"]);
        assert_eq!(plan.status.code(), Some(0), "seed {seed}: {}", text(&plan));

        let apply = run(&["apply", "--auto-approve"]);
        assert_eq!(
            apply.status.code(),
            Some(0),
            "seed {seed}: {}",
            text(&apply)
        );
        assert!(
            text(&apply).contains(" applied, 0 failed, 0 skipped"),
            "seed {seed}: {}",
            text(&apply)
        );

        let plan = run(&["plan", "--format", "json"]);
        assert_eq!(plan.status.code(), Some(0), "seed {seed}: {}", text(&plan));
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let left: Vec<&str> = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["manual"].is_null())
            .map(|c| c["address"].as_str().unwrap())
            .collect();
        assert!(
            left.is_empty(),
            "seed {seed}: left after one apply: {left:?}"
        );
    }
}
