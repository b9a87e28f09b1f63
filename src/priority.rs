//! Which of the server's threads the scheduler prefers when they compete for
//! a CPU: the transfer workers over the threads that serve requests.
//!
//! Every transfer goes through a worker's chain of round trips, one batch
//! after another, so a wake-up the worker spends waiting for a CPU delays
//! every request in the next batch; a request thread that waits delays its
//! own request. On a host whose CPUs the database shares, the request
//! threads at niceness 5 (a third of the weight of 0) let the workers run
//! first. That is the only place it helps, so it is opt-in:
//! `PAYGRAPH_TRANSFER_WORKERS_FIRST=true`.
//!
//! Lowering a thread's priority needs no privilege, raising one does; so the
//! request threads step down rather than the workers up. Linux keeps a
//! niceness per thread (setpriority(2)), and a new thread inherits its
//! creator's: the workers are started from the thread that builds the
//! server (`main`'s, which keeps the process's own niceness), and each
//! checks where it landed.

/// How many steps of niceness the threads that serve requests stand below
/// the process's own (usually 0, so 5).
pub const REQUEST_THREADS_BELOW: i32 = 5;

/// For the runtime's `on_thread_start`: the calling thread steps down to
/// [`REQUEST_THREADS_BELOW`] below the process. Failing to changes nothing
/// but the scheduling.
pub fn step_down_request_thread() {
    #[cfg(target_os = "linux")]
    if let Some(own) = process_niceness() {
        let _ = rustix::process::setpriority_process(None, own + REQUEST_THREADS_BELOW);
    }
}

/// For a transfer worker's thread: makes sure it runs at the process's own
/// niceness, and says so when it cannot: a thread started from a request
/// thread inherits its niceness, and only a privileged process may take it
/// back.
pub fn keep_transfer_worker() {
    #[cfg(target_os = "linux")]
    if let Some(own) = process_niceness()
        && let Err(e) = rustix::process::setpriority_process(None, own)
    {
        tracing::warn!(
            error = %e,
            "a transfer worker cannot take the process's own niceness; transfers will wait behind requests for a CPU"
        );
    }
}

/// The niceness of `main`'s thread, which stays the process's own: each
/// thread's may differ, and a new thread starts from its creator's.
#[cfg(target_os = "linux")]
fn process_niceness() -> Option<i32> {
    // On Linux the process id names the main thread.
    rustix::process::getpriority_process(Some(rustix::process::getpid())).ok()
}
