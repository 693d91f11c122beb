//! CPU-heavy work off the async workers: parsing and compiling a client's SQL, and building a
//! live query's window from a view's rows.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let sum = lucarne_server::offload::run(|| (1..=100u64).sum::<u64>()).await;
//! assert_eq!(sum, Ok(5050));
//! # }
//! ```
//!
//! The async workers (two on a two-core machine) also accept connections and answer every
//! other client: a few costly `subscribe`s run on them would freeze the whole server. Jobs run
//! instead on a small pool of threads ([`THREADS`], one job each at a time, the rest waiting in
//! turn) whose stacks ([`STACK_BYTES`]) hold any expression within [`crate::budget::MAX_DEPTH`]
//! even in a debug build, where sqlparser's frames are large. A job that panics is answered
//! [`Gone`]; its thread goes on.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

/// Threads in the pool: jobs beyond this many wait.
pub const THREADS: usize = 2;

/// Stack of each pool thread.
pub const STACK_BYTES: usize = 64 * 1024 * 1024;

/// Jobs waiting for a thread; a caller past this waits (asynchronously) to queue its job.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// The job did not give an answer: it panicked, or the pool could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the work could not be done (the worker failed)")]
pub struct Gone;

fn pool() -> Option<&'static SyncSender<Job>> {
    static POOL: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for i in 0..THREADS {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("lucarne-offload-{i}"))
                .stack_size(STACK_BYTES)
                .spawn(move || work(&queue));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!("cannot start an offload thread: {e}"),
            }
        }
        (started > 0).then_some(jobs)
    })
    .as_ref()
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panicking job drops its reply: the caller gets `Gone`, the thread takes the next.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Runs `f` on the pool and waits (asynchronously) for its result.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Gone> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(f());
    });
    let jobs = pool().ok_or(Gone)?.clone();
    // `send` blocks only while the queue is full: do that wait on the blocking pool.
    match jobs.try_send(job) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(job)) => {
            tokio::task::spawn_blocking(move || jobs.send(job)).await.map_err(|_| Gone)?.map_err(|_| Gone)?;
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(Gone),
    }
    answer.await.map_err(|_| Gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_answer_and_a_panicking_one_is_gone_without_stopping_the_pool() {
        assert_eq!(run(|| 2 + 2).await, Ok(4));
        let panicked = run(|| -> u8 { panic!("a bad job") }).await;
        assert_eq!(panicked, Err(Gone));
        let many: Vec<_> = (0..(THREADS * 4) as u64).map(|i| run(move || i * i)).collect();
        let mut got = Vec::new();
        for job in many {
            got.push(job.await);
        }
        assert_eq!(got, (0..(THREADS * 4) as u64).map(|i| Ok(i * i)).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_pool_threads_hold_expressions_at_the_depth_budget() {
        // A chain as long as the budget allows (compiled and evaluated recursively), and the
        // deepest prefix chain sqlparser's own recursion limit (50) lets through (its frames
        // are large: 25 to 45 of them overflowed an async worker's 2 MiB stack in a debug build).
        let columns = vec!["total".to_string()];
        let chain = format!("{} > 0", vec!["total"; crate::budget::MAX_DEPTH - 2].join(" + "));
        let prefix = format!("{}total > 0", "NOT ".repeat(45));
        for text in [chain, prefix] {
            let columns = columns.clone();
            let row = serde_json::json!({"total": 1}).as_object().cloned().unwrap_or_default();
            let holds = run(move || {
                let query = crate::query::LiveQuery::parse(Some(&text), None, None, &columns).ok()?;
                Some(query.matches(&row))
            })
            .await;
            assert!(matches!(holds, Ok(Some(_))), "{holds:?}");
        }
    }
}
