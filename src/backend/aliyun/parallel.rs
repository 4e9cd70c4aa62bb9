//! Capped parallelism for bulk reads: independent jobs on a few worker threads, a job that failed
//! on throttling or transport run again later within the read's deadline.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::backend::BackendError;
use crate::pool::{self, Pool};

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

/// A job waiting for its turn: its index in the results, how often it failed, when it may run.
struct Queued<'a, T> {
    index: usize,
    job: Job<'a, T>,
    failures: u32,
    not_before: Option<Instant>,
}

/// Runs `jobs` on at most `cap` worker threads of a [`crate::pool`] and returns their results in
/// job order. A job that fails with a throttling or transport error goes to the back of the queue
/// and runs again after a pause, once the others have had their turn, for as long as `deadline`
/// allows; the read then fails with that job's error. Any other error fails the read at once: no
/// new job starts.
pub(super) fn run_parallel<'a, T: Send>(
    cap: usize,
    deadline: Instant,
    jobs: Vec<Job<'a, T>>,
) -> Result<Vec<T>, BackendError> {
    let count = jobs.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut queue: VecDeque<Queued<'a, T>> = jobs
        .into_iter()
        .enumerate()
        .map(|(index, job)| Queued {
            index,
            job,
            failures: 0,
            not_before: None,
        })
        .collect();
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let threads = cap.max(1).min(count);
    let work = |_: &Pool<Queued<'a, T>, _>, mut queued: Queued<'a, T>| {
        if let Some(at) = queued.not_before {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
        }
        let result = (queued.job)();
        (queued, result)
    };
    // Only as many jobs as workers are handed out, so that a failure stops the rest from
    // starting and a job run again waits behind those not yet run.
    let failed = pool::run(threads, work, |pool| {
        let mut in_flight = 0;
        let failed = 'read: loop {
            while in_flight < threads {
                let Some(queued) = queue.pop_front() else {
                    break;
                };
                if !pool.submit(queued) {
                    break 'read None;
                }
                in_flight += 1;
            }
            // `None`: nothing left to run, or a job panicked (the pool raises that panic).
            let Some((mut queued, result)) = pool.recv() else {
                break None;
            };
            in_flight -= 1;
            match result {
                Ok(value) => results[queued.index] = Some(value),
                Err(e) if worth_running_again(&e) => {
                    queued.failures += 1;
                    let pause = REQUEUE_PAUSE
                        .saturating_mul(2u32.saturating_pow(queued.failures - 1))
                        .min(REQUEUE_PAUSE_MAX);
                    let at = Instant::now() + pause;
                    if at >= deadline {
                        break Some(out_of_time(e, queued.failures));
                    }
                    queued.not_before = Some(at);
                    queue.push_back(queued);
                }
                Err(e) => break Some(e),
            }
        };
        // After a failure, jobs handed out but not yet started never start.
        pool.cancel();
        failed
    });
    if let Some(e) = failed {
        return Err(e);
    }
    results
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

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing::harness::HANG_GUARD;

    #[test]
    fn results_come_back_in_job_order_with_at_most_cap_jobs_at_once() {
        // Jobs meet in pairs, so two run at once; none may find a third running beside it.
        let pairs = Barrier::new(2);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let jobs: Vec<Job<'_, usize>> = (0..6usize)
            .map(|i| {
                let (pairs, running, most) = (&pairs, &running, &most);
                Box::new(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    pairs.wait();
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(i * 10)
                }) as Job<'_, usize>
            })
            .collect();
        let results = run_parallel(2, Instant::now() + HANG_GUARD, jobs).unwrap();
        assert_eq!(results, vec![0, 10, 20, 30, 40, 50]);
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_refusal_fails_the_read_and_no_later_job_starts() {
        let started = AtomicUsize::new(0);
        let jobs: Vec<Job<'_, ()>> = (0..5)
            .map(|i| {
                let started = &started;
                Box::new(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    if i == 1 {
                        Err(BackendError::Refused("failed to list `x`: denied".into()))
                    } else {
                        Ok(())
                    }
                }) as Job<'_, ()>
            })
            .collect();
        let err = run_parallel(1, Instant::now() + HANG_GUARD, jobs).unwrap_err();
        assert!(
            matches!(&err, BackendError::Refused(m) if m.contains("denied")),
            "{err:?}"
        );
        assert_eq!(started.load(Ordering::SeqCst), 2, "jobs 3 to 5 never start");
    }

    #[test]
    fn no_jobs_no_threads_no_results() {
        let results: Vec<u8> = run_parallel(4, Instant::now(), Vec::new()).unwrap();
        assert!(results.is_empty());
    }
}
