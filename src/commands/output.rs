//! stdout and stderr for the commands, such that a closed pipe never changes what a command does.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe (`msctl apply | head -1`, `| true`) returns
//! `BrokenPipe`; `print!` would panic on it and `?` would abandon the command half-way (an apply
//! that applies nothing and exits 0). Here a closed pipe is remembered and later output to it is
//! dropped quietly: the work finishes, the ledger is recorded, and the exit code is the one the
//! command would have had. Other write errors on stdout (a full disk behind `> file`) are real
//! errors; on stderr nothing is worth failing a command for.

use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::render::{self, Document, OutputFormat};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout (adding a final newline if it has none) and flushes. A closed pipe is
/// not an error: this and all later stdout output is dropped.
pub fn stdout(text: &str) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') || text.is_empty() {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Writes one line to stderr, never failing and never panicking (unlike `eprintln!`): a
/// diagnostic that cannot be shown must not stop the work it describes.
pub fn stderr_line(line: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut err = io::stderr().lock();
    let written = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"))
        .and_then(|()| err.flush());
    if let Err(e) = written
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `text` to stderr without a newline (a prompt), with [`stderr_line`]'s guarantees.
pub fn stderr_prompt(text: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Prints `document` in `format` to stdout: the one place a command's format is chosen.
pub fn emit(format: OutputFormat, document: &dyn Document) -> io::Result<()> {
    stdout(&render::document::render(format, document))
}
