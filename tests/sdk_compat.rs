//! Compatibility with the official SDKs: the Alibaba Cloud Python SDKs, installed from PyPI into
//! a virtualenv, drive `msctl emulator` (tests/sdk/compat.py); then `msctl drift` on the same
//! state reports what they changed behind msctl's back.
//!
//! The virtualenv lives under Cargo's target tmp dir and is reused while it holds the pinned
//! versions, so PyPI is reached once per fresh checkout. No PyPI, no python3 or no venv module is
//! a failure with a message saying which, never a silent pass.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The versions the contract (§0) was written against.
const SDKS: &[(&str, &str)] = &[
    ("alibabacloud-modelstudio20260210", "2.2.3"),
    ("alibabacloud-ram20150501", "1.3.0"),
    ("alibabacloud-aiworkspace20210204", "8.3.5"),
];

const AK: &str = "sdkTestAK";
const SECRET: &str = "sdk-test-secret-5d1c";

fn msctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msctl"))
}

/// A virtualenv with the pinned SDKs; created and filled on first use.
fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = dir.join("bin").join("python");
    if !python.exists() {
        let out = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("the SDK compatibility test needs python3 on PATH ({e}); install python3 with its venv module")
            });
        assert!(
            out.status.success(),
            "failed to create a virtualenv at {} (is python3's venv module installed? on Debian: \
             apt-get install python3-venv):\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let installed = Command::new(&python)
        .args(["-c", "import sys, importlib.metadata as m; sys.exit(0 if all(m.version(n) == v for n, v in [a.split('==') for a in sys.argv[1:]]) else 1)"])
        .args(SDKS.iter().map(|(n, v)| format!("{n}=={v}")))
        .status()
        .is_ok_and(|s| s.success());
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
        assert!(
            out.status.success(),
            "failed to install the official SDKs from PyPI ({}); the compatibility test cannot \
             run without them. Is PyPI reachable?\n{}",
            SDKS.iter()
                .map(|(n, v)| format!("{n}=={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    python
}

/// A running `msctl emulator` child; killed if the test fails early.
struct Emulator {
    child: Child,
    addr: String,
}

impl Emulator {
    fn start(state: &Path) -> Self {
        let mut child = msctl()
            .arg("--state")
            .arg(state)
            .args(["emulator", "--listen", "127.0.0.1:0", "--quiet"])
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("msctl emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the emulator prints its address");
        let addr = line
            .trim()
            .strip_prefix("msctl emulator listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"))
            .to_string();
        Emulator { child, addr }
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                assert!(status.success(), "the emulator exited with {status}");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the emulator did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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

    let emulator = Emulator::start(&state);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/compat.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("MSCTL_EMULATOR_ENDPOINT", &emulator.addr)
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
