//! Compatibility with the official SDKs: the Alibaba Cloud Python SDKs, installed from PyPI into
//! a virtualenv, drive `msctl emulator` (tests/sdk/compat.py); then `msctl drift` on the same
//! state reports what they changed behind msctl's back.
//!
//! The virtualenv lives under Cargo's target tmp dir and is reused while it holds the pinned
//! versions, so PyPI is reached once per fresh checkout. No PyPI, no python3 or no venv module is
//! a failure with a message saying which, never a silent pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::ChildEmulator;

/// The versions the contract (§0) was written against.
const SDKS: &[(&str, &str)] = &[
    ("alibabacloud-modelstudio20260210", "2.2.3"),
    ("alibabacloud-ram20150501", "1.3.0"),
    ("alibabacloud-aiworkspace20210204", "8.3.5"),
];

const AK: &str = "sdkTestAK";
const SECRET: &str = "sdk-test-secret-5d1c";

fn msctl() -> Command {
    Command::new(common::bin())
}

/// Whether `python` runs and has pip: a venv whose creation was cut short (no ensurepip, a
/// killed run) has a `bin/python` but no pip, and must be made again rather than reused.
fn has_pip(python: &Path) -> bool {
    Command::new(python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A virtualenv with the pinned SDKs; created and filled on first use, made again when a
/// previous attempt left it half made.
fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = dir.join("bin").join("python");
    if dir.exists() && !has_pip(&python) {
        eprintln!(
            "{} is a half-made virtualenv (no working pip); making it again",
            dir.display()
        );
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("failed to remove `{}`: {e}", dir.display()));
    }
    if !dir.exists() {
        let out = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "the SDK compatibility test needs python3 on PATH ({e})\n\
                     hint: on Debian, apt-get install python3 python3-venv (.ci/run does)"
                )
            });
        if !out.status.success() || !has_pip(&python) {
            // Leave nothing half made behind for the next run to trip over.
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "failed to create a virtualenv with pip at {}: python3's venv module or its \
                 ensurepip is missing\nhint: on Debian, apt-get install python3-venv (.ci/run \
                 does)\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let installed = Command::new(&python)
        .args([
            "-c",
            "import sys, importlib.metadata as m; sys.exit(0 if all(m.version(n) == v for \
            n, v in [a.split('==') for a in sys.argv[1:]]) else 1)",
        ])
        .args(SDKS.iter().map(|(n, v)| format!("{n}=={v}")))
        // Quietly: a missing package is the expected answer on first use, not an error.
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--timeout",
                "60",
            ])
            .args(SDKS.iter().map(|(n, v)| format!("{n}=={v}")))
            .output()
            .expect("pip runs");
        // pip itself works (checked above), so a failure here is the download or the index.
        assert!(
            out.status.success(),
            "failed to install the official SDKs from PyPI ({}); the compatibility test cannot \
             run without them\nhint: check that PyPI (or the index pip is configured with) is \
             reachable\n{}",
            SDKS.iter()
                .map(|(n, v)| format!("{n}=={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    python
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("msctl.toml"),
        "[project]\nname = \"sdk-compat\"\naccount_uid = \"1378030599924858\"\n\
         default_region = \"cn-beijing\"\n\n[backend]\nkind = \"local\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("workspaces.toml"),
        "[[workspace]]\nname = \"sdk-managed\"\nregion = \"cn-beijing\"\n\
         models = [{ model = \"qwen-plus\", inference = true }]\n",
    )
    .unwrap();
}

fn run_msctl(dir: &Path, state: &Path, args: &[&str]) -> (i32, String) {
    let out = msctl()
        .arg("-C")
        .arg(dir)
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .expect("msctl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn official_sdks_drive_the_emulator_and_drift_sees_their_changes() {
    let python = venv();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    write_config(dir.path());

    // msctl creates the workspace it manages; the world then matches the config.
    let (code, out) = run_msctl(dir.path(), &state, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_msctl(dir.path(), &state, &["drift"]);
    assert_eq!(code, 0, "no drift before the SDKs run:\n{out}");

    let emulator = ChildEmulator::start(
        &state,
        &["--quiet"],
        AK,
        SECRET,
        &dir.path().join("emulator.log"),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/compat.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("MSCTL_EMULATOR_ENDPOINT", emulator.addr())
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("MSCTL_MANAGED_WORKSPACE", "sdk-managed")
        .output()
        .expect("the compatibility script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "compat.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("compat.py printed no JSON summary ({e}):\n{stdout}"));
    let failures = summary["failures"].as_array().expect("failures list");
    assert!(
        failures.is_empty(),
        "the official SDKs disagree with the emulator:\n{}",
        failures
            .iter()
            .map(|f| f.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let checks = summary["checks"].as_object().expect("checks map");
    assert!(checks.len() >= 60, "only {} checks ran", checks.len());
    for step in [
        "model_studio",
        "ram_ops",
        "pai_ops",
        "wrong_secret",
        "behind_msctls_back",
    ] {
        assert_eq!(checks[&format!("{step}.completed")], true, "{step}");
    }
    let facts = &summary["facts"];
    assert_eq!(facts["missing_user_error"], "EntityNotExist.User");
    assert_eq!(facts["wrong_secret_error"], "SignatureDoesNotMatch");
    for paged in [
        "ms_workspace_pages",
        "ram_user_pages",
        "pai_workspace_pages",
    ] {
        assert!(facts[paged].as_u64().unwrap_or(0) >= 2, "{paged}: {facts}");
    }
    emulator.stop();

    // What the SDK did in msctl's workspace is drift, named by address.
    let (code, out) = run_msctl(dir.path(), &state, &["drift"]);
    assert_eq!(code, 2, "drift must be found:\n{out}");
    assert!(
        out.contains("workspace.sdk-managed.model.qwen-max"),
        "{out}"
    );
    assert!(
        out.contains("workspace.sdk-managed.apikey.sdk-intruder"),
        "{out}"
    );
    assert!(!out.contains(SECRET));
}
