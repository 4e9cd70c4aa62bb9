//! The typed error every command returns: it knows its exit code, and `main` prints it once
//! (nextest's `ExpectedError`), so no command prints `error:` and returns a code by hand.

use crate::exit_code;

/// How a command ended when it did not succeed. `main` prints [`CommandError::report`] on stderr
/// (nothing for [`CommandError::Interrupted`], whose summary is already out) and exits with
/// [`CommandError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configuration has errors; the diagnostics are already on stderr.
    #[error(
        "the configuration has errors; nothing was planned\nhint: run `msctl validate -C \
                {dir}{rev}` for details"
    )]
    InvalidConfig {
        dir: String,
        /// ` --rev REV` when the config was read at a revision, else empty.
        rev: String,
    },
    /// The safety rails refused the plan: one message per refusal (each names its override).
    #[error("{}", .0.join("\nerror: "))]
    Refused(Vec<String>),
    /// Apply needs consent and could not get it.
    #[error(
        "refusing to apply without approval: no terminal to ask on\nhint: pass \
                --auto-approve in pipelines, or apply a reviewed plan file"
    )]
    NoApproval,
    /// The person at the terminal did not answer `yes`.
    #[error("apply cancelled; nothing was changed")]
    Cancelled,
    /// The apply ran and some changes failed, were skipped, or were not started (a stop other
    /// than a signal, such as a circuit breaker); the results are already printed.
    #[error("{}", apply_failed(*.failed, *.skipped, *.not_started))]
    ApplyFailed {
        failed: usize,
        skipped: usize,
        not_started: usize,
    },
    /// A signal stopped the command after in-flight work finished; the summary is printed and
    /// the partial apply recorded. Exits 128 + the signal's number.
    #[error("stopped by {signal}")]
    Interrupted { signal: Signal },
    /// An argument is unusable with this backend or command (checked before anything runs).
    #[error("{0}")]
    Usage(String),
    /// Anything else: I/O, git, a backend failure, a refused saved plan. Printed with its
    /// context chain.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The signals that stop an apply cooperatively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// `kill`, a CI runner cancelling a job, a container stopping.
    Terminate,
}

impl Signal {
    /// 128 + the signal number, as shells report it.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => exit_code::INTERRUPTED,
            Signal::Terminate => exit_code::TERMINATED,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

impl CommandError {
    /// The process exit code for this error (see [`crate::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Interrupted { signal } => signal.exit_code(),
            _ => exit_code::ERROR,
        }
    }

    /// What `main` prints on stderr: `error: …` with any `hint:` lines, or `None` when there is
    /// nothing to add (a signal's summary is already printed; a closed stdout is not worth a
    /// word).
    pub fn report(&self) -> Option<String> {
        match self {
            CommandError::Interrupted { .. } => None,
            CommandError::Other(e) if is_broken_pipe(e) => None,
            CommandError::Other(e) => Some(format!("error: {}", chain_text(e))),
            other => Some(format!("error: {other}")),
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError::Other(e.into())
    }
}

/// The error and its causes, `outer: cause: …` like anyhow's `{:#}`, except that a cause the
/// text already holds is not said again (an error type whose message embeds its `source`, such
/// as `#[error("failed to read `{path}`: {source}")]`, would otherwise print it twice).
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Whether an error comes from writing to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn apply_failed(failed: usize, skipped: usize, not_started: usize) -> String {
    let mut parts = vec![format!(
        "{failed} change{} failed",
        if failed == 1 { "" } else { "s" }
    )];
    if skipped > 0 {
        parts.push(format!("{skipped} skipped"));
    }
    if not_started > 0 {
        parts.push(format!("{not_started} not started"));
    }
    format!(
        "the apply did not complete: {}\nhint: fix the failures and run `msctl apply` \
                again; applied changes are not repeated",
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_but_a_signal_exits_1() {
        let errors = [
            CommandError::InvalidConfig {
                dir: ".".into(),
                rev: String::new(),
            },
            CommandError::Refused(vec!["a".into()]),
            CommandError::NoApproval,
            CommandError::Cancelled,
            CommandError::ApplyFailed {
                failed: 1,
                skipped: 0,
                not_started: 0,
            },
            CommandError::Usage("bad".into()),
            CommandError::Other(anyhow::anyhow!("boom")),
        ];
        for e in errors {
            assert_eq!(e.exit_code(), exit_code::ERROR, "{e:?}");
        }
        let int = CommandError::Interrupted {
            signal: Signal::Interrupt,
        };
        let term = CommandError::Interrupted {
            signal: Signal::Terminate,
        };
        assert_eq!((int.exit_code(), term.exit_code()), (130, 143));
        assert_eq!(int.report(), None);
    }

    #[test]
    fn refusals_are_one_error_line_each() {
        let e = CommandError::Refused(vec!["first".into(), "second".into()]);
        assert_eq!(e.report().as_deref(), Some("error: first\nerror: second"));
    }

    #[test]
    fn a_failed_apply_counts_and_hints() {
        let e = CommandError::ApplyFailed {
            failed: 1,
            skipped: 2,
            not_started: 0,
        };
        assert_eq!(
            e.report().as_deref(),
            Some(
                "error: the apply did not complete: 1 change failed, 2 skipped\n\
                    hint: fix the failures and run `msctl apply` again; applied changes are not \
                    repeated"
            )
        );
    }

    #[test]
    fn a_closed_pipe_says_nothing_and_context_is_kept() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("failed to write the plan");
        assert_eq!(CommandError::Other(pipe).report(), None);
        let e = anyhow::anyhow!("disk full").context("failed to write `x`");
        assert_eq!(
            CommandError::Other(e).report().as_deref(),
            Some("error: failed to write `x`: disk full")
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("failed to read plan file `p.json`: {source}")]
    struct Embeds {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_says_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::from(Embeds { source: io }).context("failed to apply");
        assert_eq!(
            CommandError::Other(e).report().as_deref(),
            Some("error: failed to apply: failed to read plan file `p.json`: no such file")
        );
    }
}
