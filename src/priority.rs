//! Which of the server's threads the scheduler prefers when they compete for
//! a CPU: the transfer workers over the threads that serve requests.
//!
//! Every transfer goes through a worker's chain of round trips, one batch
//! after another, so a wake-up the worker spends waiting for a CPU delays
//! every request in the next batch; a request thread that waits delays its
//! own request. Under benchmark 1 a worker waited on the run queue almost as
//! long as it ran (19% against 20% of its time; `/proc/<tid>/schedstat`).
//! Request threads at niceness 5 (a third of the weight of niceness 0) took
//! the pinned ratio from 0.60 to 0.69× (medians of five and three
//! alternating runs, `bench/RESULTS.md`).
//!
//! Lowering a thread's priority needs no privilege, raising one does; so the
//! request threads step down rather than the workers up. Linux keeps a
//! niceness per thread (setpriority(2)), and a new thread inherits
//! its creator's: the workers are started before any request thread runs
//! code of ours, from the thread that builds the server, and each checks
//! where it landed.

/// The niceness of the threads that serve requests.
pub const REQUEST_THREADS: i32 = 5;

/// The niceness of the transfer workers: the system's default.
pub const TRANSFER_WORKERS: i32 = 0;

/// For the runtime's `on_thread_start`: the calling thread steps down to
/// [`REQUEST_THREADS`]. Failing to changes nothing but the scheduling.
pub fn step_down_request_thread() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::setpriority_process(None, REQUEST_THREADS);
    }
}

/// For a transfer worker's thread: makes sure it runs at
/// [`TRANSFER_WORKERS`], and says so when it cannot (a thread started from
/// a request thread inherits its niceness, and only a privileged process may
/// take it back).
pub fn keep_transfer_worker() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, TRANSFER_WORKERS) {
        tracing::warn!(
            error = %e,
            "a transfer worker runs at the request threads' niceness; transfers will wait behind requests for a CPU"
        );
    }
}
