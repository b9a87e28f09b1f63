//! Where transfers wait for a worker. A worker takes every request waiting
//! (up to [`MAX_BATCH`]) and runs them as one batch: one database
//! transaction, one lock of each wallet, one commit. Under load that turns
//! many small transactions, each holding its sender's row lock across a
//! dozen round trips, into a few large ones; idle, a batch is one request
//! and costs what it always did.

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::{Ledger, LedgerError, transfer::TransferRequest};
use crate::{
    config::Config,
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
    /// Each on a thread of its own, over a connection of its own opened
    /// with this configuration.
    ///
    /// A batch is several round trips to the database, one after another.
    /// As a task among every request's tasks, each of its wake-ups waits
    /// its turn; a thread of its own, whose connection answers to that
    /// thread's reactor, is woken by the kernel as soon as the answer
    /// arrives.
    OwnThreads(Box<Config>),
}

/// Starts `workers` workers taking batches from `waiting`.
pub(super) fn start(ledger: &Ledger, waiting: Waiting, workers: usize, placement: &Placement) {
    for n in 0..workers {
        let waiting = waiting.0.clone();
        match placement {
            Placement::Shared => {
                tokio::spawn(work(ledger.clone(), waiting));
            }
            Placement::OwnThreads(config) => {
                // The worker's copy holds no sender of the queue: when the
                // server's copies are dropped, the queue closes and the
                // thread ends (with its connection).
                let ledger = Ledger {
                    transfers: TransferQueue::closed(),
                    ..ledger.clone()
                };
                let config = config.clone();
                std::thread::Builder::new()
                    .name(format!("transfers-{n}"))
                    .spawn(move || own_thread(ledger, waiting, &config))
                    .expect("the system refused a thread for a transfer worker");
            }
        }
    }
}

fn own_thread(ledger: Ledger, waiting: Arc<Mutex<mpsc::Receiver<Job>>>, config: &Config) {
    crate::priority::keep_transfer_worker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for a transfer worker");
    runtime.block_on(async move {
        // Connected here, so that the connection's I/O is this thread's.
        let db = loop {
            match crate::db::connect_sized(config, 1).await {
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
                self.announce_batch(&batch.created, &batch.wallets);
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
                            self.announce_batch(&batch.created, &batch.wallets);
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
