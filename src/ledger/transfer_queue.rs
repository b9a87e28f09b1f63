//! Where transfers wait for a worker. A worker takes every request waiting
//! (up to [`MAX_BATCH`]) and runs them as one batch: one database
//! transaction, one lock of each wallet, one commit. Under load that turns
//! many small transactions, each holding its sender's row lock across a
//! dozen round trips, into a few large ones; idle, a batch is one request
//! and costs what it always did.

use std::{collections::HashSet, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use tokio::{
    sync::{Mutex, mpsc, oneshot},
    task::JoinHandle,
};
use uuid::Uuid;

use super::{Ledger, LedgerError, transfer::TransferRequest};
use crate::{
    config::DatabaseConfig,
    db::retry::{Faulty, Safe},
};
use entity::transactions;

/// The most requests one batch takes: bounds the statements' size and the
/// time the first request in a batch waits for the last.
const MAX_BATCH: usize = 64;

/// How many requests may wait before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4096;

type Answer = Result<transactions::Model, LedgerError>;

struct Job {
    req: TransferRequest,
    reply: oneshot::Sender<Answer>,
}

#[derive(Clone)]
pub(super) struct TransferQueue {
    jobs: mpsc::Sender<Job>,
}

pub(super) struct Waiting(Arc<Mutex<mpsc::Receiver<Job>>>);

impl TransferQueue {
    pub fn new() -> (Self, Waiting) {
        let (jobs, waiting) = mpsc::channel(QUEUE_DEPTH);
        (Self { jobs }, Waiting(Arc::new(Mutex::new(waiting))))
    }

    /// A queue nobody takes from: for a copy of the ledger that never
    /// submits.
    fn closed() -> Self {
        Self {
            jobs: mpsc::channel(1).0,
        }
    }

    /// Queues a transfer and waits for its answer. The transfer runs even
    /// if the caller stops waiting: its idempotency key finds the result.
    pub async fn submit(&self, req: TransferRequest) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { req, reply })
            .await
            .map_err(|_| LedgerError::WorkersStopped)?;
        answer.await.map_err(|_| LedgerError::WorkersStopped)?
    }
}

/// Where the workers run.
pub enum Placement {
    /// As tasks of the server's runtime, over its pool. For SQLite: one
    /// writer at a time gains nothing from a thread, and an in-memory
    /// database exists only inside the pool that opened it.
    Shared,
    /// Each on a thread of its own, over a connection of its own to this
    /// database.
    ///
    /// A batch is several round trips to the database, one after another.
    /// As a task among every request's tasks, each of its wake-ups waits
    /// its turn; a thread of its own, whose connection answers to that
    /// thread's reactor, is woken by the kernel as soon as the answer
    /// arrives.
    OwnThreads(Box<DatabaseConfig>),
}

/// The running transfer workers, for a supervisor to watch.
pub struct Workers(Vec<JoinHandle<()>>);

impl Workers {
    /// Resolves once every worker has ended (their queue closed), or, as
    /// soon as one dies, panics with that worker's panic: the supervisor
    /// (`startup::supervise`) then stops the instance. An instance short of
    /// workers would take transfers in slower, or only to answer each with
    /// UNAVAILABLE, for as long as it runs; a new one has them all.
    pub async fn watch(self) {
        let mut running: FuturesUnordered<_> = self.0.into_iter().collect();
        while let Some(ended) = running.next().await {
            if let Err(e) = ended
                && let Ok(panic) = e.try_into_panic()
            {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Starts `workers` workers taking batches from `waiting`.
pub(super) fn start(
    ledger: &Ledger,
    waiting: Waiting,
    workers: usize,
    placement: &Placement,
) -> Workers {
    let started = (0..workers).map(|n| {
        let waiting = waiting.0.clone();
        match placement {
            Placement::Shared => tokio::spawn(work(ledger.clone(), waiting)),
            Placement::OwnThreads(database) => {
                // The worker's copy holds no sender of the queue: when the
                // server's copies are dropped, the queue closes and the
                // thread ends (with its connection).
                let ledger = Ledger {
                    transfers: TransferQueue::closed(),
                    ..ledger.clone()
                };
                let database = database.clone();
                on_own_thread(format!("transfers-{n}"), move || {
                    own_thread(ledger, waiting, &database)
                })
            }
        }
    });
    Workers(started.collect())
}

/// Runs `f` on a thread named `name`; the task returned ends when the
/// thread does, and with its panic if it panicked.
fn on_own_thread(name: String, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    let (ended, end) = oneshot::channel();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _ = ended.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("the system refused a thread for a transfer worker");
    tokio::spawn(async move {
        if let Ok(Err(panic)) = end.await {
            std::panic::resume_unwind(panic);
        }
    })
}

fn own_thread(ledger: Ledger, waiting: Arc<Mutex<mpsc::Receiver<Job>>>, database: &DatabaseConfig) {
    crate::priority::keep_transfer_worker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for a transfer worker");
    runtime.block_on(async move {
        // Connected here, so that the connection's I/O is this thread's.
        let db = loop {
            match crate::db::connect_sized(database, 1).await {
                Ok(db) => break db,
                Err(e) => {
                    tracing::error!(error = %e, "transfer worker cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        work(Ledger { db, ..ledger }, waiting).await;
    });
}

async fn work(ledger: Ledger, waiting: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut deferred: Vec<Job> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut deferred);
        if batch.is_empty() {
            let mut queue = waiting.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        metrics::counter!("paygraph_transfer_batches_total").increment(1);
        metrics::counter!("paygraph_transfer_batched_requests_total").increment(batch.len() as u64);
        // A key sent twice at once: the second waits for the next batch,
        // where it finds the first one's result.
        let mut seen: HashSet<(Uuid, String)> = HashSet::new();
        let (now, later): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|job| {
            seen.insert((
                job.req.sender_id,
                job.req.idempotency_key.as_str().to_owned(),
            ))
        });
        deferred = later;
        ledger.settle(now).await;
    }
}

impl Ledger {
    /// Runs a batch, retrying it whole after a fault of the moment (a
    /// lost connection, also while committing: every request's key finds
    /// what a commit that did happen wrote), and answers each request.
    async fn settle(&self, jobs: Vec<Job>) {
        let reqs: Vec<&TransferRequest> = jobs.iter().map(|job| &job.req).collect();
        let whole = || self.transfer_batch(&reqs);
        let answers = match self.settings.retry.run(Safe::Keyed, whole).await {
            Ok(batch) => {
                self.announce_batch(&batch.created, &batch.wallets, &batch.balances);
                batch.results
            }
            Err(e) if reqs.len() == 1 => vec![Err(e)],
            // The database failed the batch, not a request: each gets that.
            Err(e) if e.fault().is_some() => reqs
                .iter()
                .map(|_| Err(e.database_failure().unwrap_or(LedgerError::NotFound)))
                .collect(),
            // The batch failed for a reason one request may have caused:
            // each runs alone, so that its error is its own.
            Err(_) => {
                let mut answers = Vec::with_capacity(reqs.len());
                for req in &reqs {
                    let one = [*req];
                    let alone = || self.transfer_batch(&one);
                    answers.push(match self.settings.retry.run(Safe::Keyed, alone).await {
                        Ok(mut batch) => {
                            self.announce_batch(&batch.created, &batch.wallets, &batch.balances);
                            batch.results.pop().unwrap_or(Err(LedgerError::NotFound))
                        }
                        Err(e) => Err(e),
                    });
                }
                answers
            }
        };
        drop(reqs);
        for (job, answer) in jobs.into_iter().zip(answers) {
            // The caller may have gone; the transfer stands either way.
            let _ = job.reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a supervisor sees of `workers`: the panic's message, if one
    /// died.
    async fn death_of(workers: Workers) -> Option<String> {
        let died = tokio::spawn(workers.watch()).await.err()?;
        let panic = died.into_panic();
        panic.downcast_ref::<&str>().map(|m| m.to_string())
    }

    #[tokio::test]
    async fn a_worker_that_panics_is_seen_while_the_others_still_run() {
        let running = tokio::spawn(std::future::pending());
        let dead = tokio::spawn(async { panic!("boom") });
        let workers = Workers(vec![running, dead]);
        assert_eq!(death_of(workers).await.as_deref(), Some("boom"));
    }

    #[tokio::test]
    async fn a_worker_thread_that_panics_is_seen() {
        let dead = on_own_thread("test-worker".into(), || panic!("boom"));
        assert_eq!(death_of(Workers(vec![dead])).await.as_deref(), Some("boom"));
    }

    #[tokio::test]
    async fn workers_that_end_end_the_watch() {
        let ended = tokio::spawn(async {});
        let thread = on_own_thread("test-worker".into(), || {});
        assert_eq!(death_of(Workers(vec![ended, thread])).await, None);
    }
}
