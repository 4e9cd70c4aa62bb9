//! Shared support for the integration tests: the built binary, exit codes and output text, the
//! redaction of what differs between runs (temp paths, durations, ports), the meaning of
//! `MSCTL_UPDATE_SCHEMAS`, a `msctl emulator` child process, and the hang guard.
//!
//! The hang guard is the only place the tests look at a clock: it waits for a process (or a
//! call) with a generous deadline, so that a hung test fails instead of stalling CI. It never
//! decides an outcome that a healthy run could miss on a loaded machine.

// Each test crate compiles this module and uses its own subset.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use msctl::exit_code::{CHANGES, ERROR, SUCCESS};

/// How long anything may take before the test calls it hung. Far beyond any healthy run, even a
/// debug build on a loaded two-core machine: it bounds hangs, it measures nothing.
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// The built `msctl` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_msctl"))
}

/// `msctl` without colour, killed if it outlives [`HANG_GUARD`].
pub fn msctl() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(bin());
    cmd.env("NO_COLOR", "1").timeout(HANG_GUARD);
    cmd
}

/// Copies the files of `examples/NAME` (not its subfolders, nor its `.msctl` state) into `dest`,
/// which is created: a config to change freely in a test.
pub fn copy_example(name: &str, dest: &Path) {
    std::fs::create_dir_all(dest).expect("the config folder is created");
    for entry in std::fs::read_dir(Path::new("examples").join(name)).expect("the example exists") {
        let entry = entry.expect("the example folder is readable");
        if entry.file_type().expect("a file type").is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("the file copies");
        }
    }
}

/// The exit code; `-1` when a signal ended the process.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output followed by standard error.
pub fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Asserts the exit code, showing everything the command printed when it differs.
#[track_caller]
pub fn assert_code(o: &Output, expected: i32, what: &str) {
    assert_eq!(
        code(o),
        expected,
        "{what}: exit code {} instead of {expected}\n{}",
        code(o),
        text(o)
    );
}

/// `text` with what differs from run to run replaced: each of `dirs` (and its canonical form)
/// by `[DIR]`, durations (`12 ms`, `1.5s`) by `[DURATION]`, loopback ports by `[PORT]`.
pub fn redact(text: &str, dirs: &[&Path]) -> String {
    let mut out = text.to_string();
    for dir in dirs {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        // The longer form first, so that a path inside the other is replaced whole.
        let mut forms = [canonical, dir.to_path_buf()];
        forms.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for form in forms {
            if let Some(s) = form.to_str().filter(|s| !s.is_empty()) {
                out = out.replace(s, "[DIR]");
            }
        }
    }
    redact_ports(&redact_durations(&out))
}

/// `12 ms`, `12ms`, `1.25s` and `3µs` become `[DURATION]`; `2 skipped` or `3 sets` do not.
fn redact_durations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_number =
            chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if starts_number && let Some(end) = duration_end(&chars, i) {
            out.push_str("[DURATION]");
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Where a duration starting at `start` ends, if one does.
fn duration_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    let spaced = chars.get(i) == Some(&' ');
    let unit_at = if spaced { i + 1 } else { i };
    let rest: String = chars[unit_at..chars.len().min(unit_at + 2)]
        .iter()
        .collect();
    let unit_len = if rest.starts_with("ms") || rest.starts_with("µs") {
        2
    } else if rest.starts_with('s') && !spaced {
        1
    } else {
        return None;
    };
    let end = unit_at + unit_len;
    match chars.get(end) {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(end),
    }
}

/// The port after `127.0.0.1:`, `localhost:` or `[::1]:` becomes `[PORT]`.
fn redact_ports(text: &str) -> String {
    let mut out = text.to_string();
    for host in ["127.0.0.1:", "localhost:", "[::1]:"] {
        let mut done = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(host) {
            let after = &rest[at + host.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            done.push_str(&rest[..at + host.len()]);
            if digits > 0 {
                done.push_str("[PORT]");
            }
            rest = &after[digits..];
        }
        done.push_str(rest);
        out = done;
    }
    out
}

/// Whether this run regenerates committed schemas instead of checking them:
/// `MSCTL_UPDATE_SCHEMAS=1` does; unset, empty or `0` checks; any other value is refused, so that
/// `MSCTL_UPDATE_SCHEMAS=true` cannot silently do one thing in one test and another elsewhere.
/// The unit tests' `check_committed_schema` reads the variable the same way.
pub fn update_schemas() -> bool {
    match std::env::var("MSCTL_UPDATE_SCHEMAS").as_deref() {
        Ok("1") => true,
        Ok("" | "0") | Err(std::env::VarError::NotPresent) => false,
        Ok(other) => panic!(
            "MSCTL_UPDATE_SCHEMAS={other:?} is not understood: set it to 1 to regenerate the \
             committed schemas, or unset it (or 0) to check them"
        ),
        Err(std::env::VarError::NotUnicode(v)) => {
            panic!("MSCTL_UPDATE_SCHEMAS={v:?} is not understood: set it to 1, 0 or leave it unset")
        }
    }
}

/// Hang guard: waits for `child` to exit; kills it and fails the test after [`HANG_GUARD`].
pub fn wait_or_kill(child: &mut Child, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process works") {
            return status;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {HANG_GUARD:?}: hung");
        }
        // Polling, not synchronisation: the child's exit is the event waited for.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Hang guard: runs `f` on its own thread and returns its result; fails the test if it does not
/// finish within [`HANG_GUARD`] (the thread is left behind; the test process ends soon after).
pub fn finishes<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG_GUARD) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {HANG_GUARD:?}: hung")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

/// `msctl emulator` as a child process on 127.0.0.1:0, its request log (standard error) kept in a
/// file. Killed if the test fails before [`ChildEmulator::stop`].
pub struct ChildEmulator {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    log: PathBuf,
}

impl ChildEmulator {
    /// Starts `msctl --state STATE emulator --listen 127.0.0.1:0 EXTRA...`, accepting the
    /// access key `ak`/`secret`, and waits for its address line. Its log goes to `log`.
    pub fn start(state: &Path, extra: &[&str], ak: &str, secret: &str, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("the emulator log file is created");
        let mut child = std::process::Command::new(bin())
            .arg("--state")
            .arg(state)
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ak)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("msctl emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the emulator prints its address");
        let url = line
            .trim()
            .strip_prefix("msctl emulator listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "unexpected first line from the emulator: {line:?}\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .to_string();
        ChildEmulator {
            child,
            url,
            log: log.to_path_buf(),
        }
    }

    /// Everything it has logged so far (one line per request unless `--quiet`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// SIGTERM; asserts a clean exit (code 0) and returns everything it logged.
    pub fn stop(mut self) -> String {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM failed");
        let status = wait_or_kill(&mut self.child, "the emulator after SIGTERM");
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert_eq!(status.code(), Some(SUCCESS), "clean exit on SIGTERM\n{log}");
        log
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_what_varies_and_keeps_the_rest() {
        let dir = Path::new("/tmp/.tmpAbC123");
        assert_eq!(
            redact(
                "POST / CreateUser -> 429 (12 ms) at http://127.0.0.1:40123 in \
                 /tmp/.tmpAbC123/cfg; took 1.25s; 2 skipped, 3 sets, 5 ms",
                &[dir]
            ),
            "POST / CreateUser -> 429 ([DURATION]) at http://127.0.0.1:[PORT] in [DIR]/cfg; \
             took [DURATION]; 2 skipped, 3 sets, [DURATION]"
        );
    }
}
