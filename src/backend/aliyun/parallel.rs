//! Capped parallelism for bulk reads: independent jobs on a few scoped threads, a job that failed
//! on throttling or transport run again later within the read's deadline.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::backend::BackendError;

/// One independent read. It may run more than once: a listing that failed runs again later
/// (and resumes at the page that failed, see [`super::base::AliyunBackend::resuming`]).
pub(super) type Job<'a, T> = Box<dyn FnMut() -> Result<T, BackendError> + Send + 'a>;

/// The first pause before a failed job runs again; it doubles per failure of that job.
const REQUEUE_PAUSE: Duration = Duration::from_millis(500);
/// The longest pause before a failed job runs again.
const REQUEUE_PAUSE_MAX: Duration = Duration::from_secs(15);

/// Whether a job that failed this way may succeed if run again: throttling and transport
/// failures (the client already retried the call; the service may recover). An unavailable
/// endpoint, a refusal or an invalid request will not change, so the read fails at once.
fn worth_running_again(e: &BackendError) -> bool {
    matches!(e, BackendError::Throttled(_) | BackendError::Transport(_))
}

/// A job waiting in the queue: its index in the results, how often it failed, when it may run.
struct Queued<'a, T> {
    index: usize,
    job: Job<'a, T>,
    failures: u32,
    not_before: Option<Instant>,
}

/// Runs `jobs` on at most `cap` scoped threads and returns their results in job order. A job that
/// fails with a throttling or transport error goes to the back of the queue and runs again after
/// a pause, once the others have had their turn, for as long as `deadline` allows; the read then
/// fails with that job's error. Any other error fails the read at once: no new job starts.
pub(super) fn run_parallel<'a, T: Send>(
    cap: usize,
    deadline: Instant,
    jobs: Vec<Job<'a, T>>,
) -> Result<Vec<T>, BackendError> {
    let count = jobs.len();
    let queue: Mutex<std::collections::VecDeque<Queued<'a, T>>> = Mutex::new(
        jobs.into_iter()
            .enumerate()
            .map(|(index, job)| Queued {
                index,
                job,
                failures: 0,
                not_before: None,
            })
            .collect(),
    );
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let failed: Mutex<Option<BackendError>> = Mutex::new(None);
    let work = || {
        loop {
            if lock(&failed).is_some() {
                return;
            }
            let Some(mut queued) = lock(&queue).pop_front() else {
                return;
            };
            if let Some(at) = queued.not_before {
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
            }
            match (queued.job)() {
                Ok(value) => lock(&results)[queued.index] = Some(value),
                Err(e) if worth_running_again(&e) => {
                    queued.failures += 1;
                    let pause = REQUEUE_PAUSE
                        .saturating_mul(2u32.saturating_pow(queued.failures - 1))
                        .min(REQUEUE_PAUSE_MAX);
                    let at = Instant::now() + pause;
                    if at >= deadline {
                        let mut failed = lock(&failed);
                        if failed.is_none() {
                            *failed = Some(out_of_time(e, queued.failures));
                        }
                        return;
                    }
                    queued.not_before = Some(at);
                    lock(&queue).push_back(queued);
                }
                Err(e) => {
                    let mut failed = lock(&failed);
                    if failed.is_none() {
                        *failed = Some(e);
                    }
                    return;
                }
            }
        }
    };
    let threads = cap.max(1).min(count);
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    if let Some(e) = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| {
                BackendError::Transport(
                    "failed to read live state: a read thread stopped before finishing its job"
                        .to_string(),
                )
            })
        })
        .collect()
}

/// The error of a listing that kept failing until the read's deadline, same kind, with why.
fn out_of_time(e: BackendError, runs: u32) -> BackendError {
    let note = |m: String| {
        let (first, rest) = m.split_once('\n').unwrap_or((m.as_str(), ""));
        let mut out = format!(
            "{first} (the listing failed {runs} time(s) and the run's retry budget is spent)"
        );
        if !rest.is_empty() {
            out.push('\n');
            out.push_str(rest);
        }
        out
    };
    match e {
        BackendError::Throttled(m) => BackendError::Throttled(note(m)),
        BackendError::Transport(m) => BackendError::Transport(note(m)),
        other => other,
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
