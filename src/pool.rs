//! One small pool of worker threads, for every place that runs blocking work side by side: the
//! apply executor (changes), the aliyun backend's bulk reads (listings) and the emulator
//! (connections).
//!
//! The calling thread drives the pool: it submits jobs and takes their results in the order they
//! finish, deciding what to submit next (dependency order, a stop, a job run again later). The
//! workers are scoped threads on `std`, not a pool crate: the jobs borrow from the caller (a
//! `&dyn Backend`, the plan), which a `'static` pool (threadpool) cannot take, and they block on
//! the network, which rayon's pool is not made for; an async runtime would be far heavier than
//! the few threads msctl needs.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The queue between the driving thread and the workers (see [`run`]): jobs waiting for a
/// worker, and results waiting for the driver.
pub struct Pool<J, R> {
    state: Mutex<State<J, R>>,
    /// Signalled when a job is submitted or the pool closes.
    job_ready: Condvar,
    /// Signalled when a job finishes (with a result or a panic).
    result_ready: Condvar,
}

struct State<J, R> {
    jobs: VecDeque<J>,
    results: VecDeque<R>,
    /// Jobs a worker took and has not finished.
    running: usize,
    /// No job is submitted any more: the workers finish the queued ones, then return.
    closed: bool,
    /// The first panic of a job; the pool stops starting jobs and [`run`] raises it again.
    panic: Option<Box<dyn Any + Send>>,
}

impl<J, R> Pool<J, R> {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                results: VecDeque::new(),
                running: 0,
                closed: false,
                panic: None,
            }),
            job_ready: Condvar::new(),
            result_ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J, R>> {
        // The lock is never held while a job runs, so a poisoned lock holds sound data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job` for the next free worker, first in first out. Returns `false` (and drops the
    /// job) when the pool no longer starts jobs because one panicked.
    pub fn submit(&self, job: J) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.jobs.push_back(job);
        drop(state);
        self.job_ready.notify_one();
        true
    }

    /// Jobs submitted that no worker has taken yet.
    pub fn waiting(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Drops the jobs no worker has taken yet; jobs already running finish.
    pub fn cancel(&self) {
        let dropped = std::mem::take(&mut self.lock().jobs);
        drop(dropped);
        self.result_ready.notify_all();
    }

    /// The result of the next job to finish, in the order they finish. `None` when no result can
    /// come any more: no job is waiting or running, or a job panicked (then [`run`] raises that
    /// panic once the driver returns).
    pub fn recv(&self) -> Option<R> {
        let mut state = self.lock();
        loop {
            if state.panic.is_some() {
                return None;
            }
            if let Some(result) = state.results.pop_front() {
                return Some(result);
            }
            if state.jobs.is_empty() && state.running == 0 {
                return None;
            }
            state = self
                .result_ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// The next job for a worker; `None` when the pool is closed and no job is left.
    fn take(&self) -> Option<J> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                state.running += 1;
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self
                .job_ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// A worker's job ended: with its result, or with a panic, which stops the pool.
    fn finish(&self, outcome: std::thread::Result<R>) {
        let mut state = self.lock();
        state.running -= 1;
        match outcome {
            Ok(result) => state.results.push_back(result),
            Err(payload) => {
                if state.panic.is_none() {
                    state.panic = Some(payload);
                }
                state.closed = true;
                state.jobs.clear();
            }
        }
        drop(state);
        self.result_ready.notify_all();
        self.job_ready.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.job_ready.notify_all();
    }
}

/// Runs `drive` on the calling thread while `workers` threads (at least one) run `work` on the
/// jobs it submits; returns what `drive` returns, once every worker has finished.
///
/// When `drive` returns, the pool closes: the jobs still queued run (see [`Pool::cancel`] to
/// drop them), results nobody received are dropped. A job that panics stops the pool (no job
/// starts any more, [`Pool::recv`] returns `None`), and its panic is raised here once the
/// others have finished; so is a panic of `drive`.
pub fn run<J, R, T>(
    workers: usize,
    work: impl Fn(&Pool<J, R>, J) -> R + Sync,
    drive: impl FnOnce(&Pool<J, R>) -> T,
) -> T
where
    J: Send,
    R: Send,
{
    let pool = Pool::new();
    let driven = std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let (pool, work) = (&pool, &work);
            scope.spawn(move || {
                while let Some(job) = pool.take() {
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| work(pool, job)));
                    pool.finish(outcome);
                }
            });
        }
        let driven = panic::catch_unwind(AssertUnwindSafe(|| drive(&pool)));
        pool.close();
        driven
    });
    if let Some(payload) = pool.lock().panic.take() {
        panic::resume_unwind(payload);
    }
    driven.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn results_come_back_for_every_job_and_the_driver_decides_what_runs_next() {
        // Each job squares its number; the driver submits a follow-up for every even result.
        let mut seen = run(
            3,
            |_, n: u64| n * n,
            |pool| {
                for n in 1..=6 {
                    assert!(pool.submit(n));
                }
                let mut seen = Vec::new();
                while let Some(square) = pool.recv() {
                    if square % 2 == 0 && square < 100 {
                        pool.submit(square);
                    }
                    seen.push(square);
                }
                seen
            },
        );
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 4, 9, 16, 16, 25, 36, 256, 256, 1296]);
    }

    #[test]
    fn every_worker_runs_a_job_at_once() {
        // Four jobs that each wait for the other three: they finish only if four run together.
        let barrier = Barrier::new(4);
        let done = run(
            4,
            |_, ()| {
                barrier.wait();
            },
            |pool| {
                for _ in 0..4 {
                    pool.submit(());
                }
                (0..4).filter_map(|_| pool.recv()).count()
            },
        );
        assert_eq!(done, 4);
    }

    #[test]
    fn queued_jobs_run_after_the_driver_returns_unless_cancelled() {
        let ran = AtomicUsize::new(0);
        let count = |_: &Pool<(), ()>, ()| {
            ran.fetch_add(1, Ordering::SeqCst);
        };
        run(1, count, |pool| {
            for _ in 0..5 {
                pool.submit(());
            }
        });
        assert_eq!(ran.swap(0, Ordering::SeqCst), 5);

        // The only worker holds the first job until the driver has cancelled the rest.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        run(
            1,
            |_, first: bool| {
                if first {
                    started_tx.send(()).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                }
                ran.fetch_add(1, Ordering::SeqCst);
            },
            |pool| {
                pool.submit(true);
                started_rx.recv().unwrap();
                for _ in 0..4 {
                    pool.submit(false);
                }
                assert_eq!(pool.waiting(), 4);
                pool.cancel();
                assert_eq!(pool.waiting(), 0);
                release_tx.send(()).unwrap();
            },
        );
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_job_stops_the_pool_and_panics_the_caller() {
        let outcome = panic::catch_unwind(|| {
            run(
                2,
                |_, n: u32| {
                    assert!(n != 3, "job three fails");
                    n
                },
                |pool| {
                    pool.submit(3);
                    // The driver is not left waiting for a result that cannot come.
                    while pool.recv().is_some() {}
                    assert!(!pool.submit(4), "a stopped pool takes no job");
                },
            )
        });
        let payload = outcome.expect_err("the job's panic reaches the caller");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
        assert_eq!(message.as_deref(), Some("job three fails"));
    }

    #[test]
    fn recv_without_jobs_returns_none() {
        let got: Option<()> = run(2, |_, ()| (), |pool| pool.recv());
        assert_eq!(got, None);
    }
}
