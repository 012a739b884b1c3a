//! Where SQL runs: a pool of threads of its own, a bound on queries at once, and a
//! time limit that stops a query between batches.
//!
//! SQL written by users can keep a thread busy for as long as its time limit allows.
//! Run on the server's own runtime, two such queries on a two-core machine would leave
//! no thread to answer `/healthz` or anyone else's search. Here each query is a task
//! of a separate multi-threaded runtime ([`SQL_THREAD_STACK_BYTES`] of stack a thread,
//! for the recursion of planning and of DataFusion's operators); the operating system
//! shares the cores between it and the server's threads, so requests that do not run
//! SQL are answered while SQL runs. At most [`SqlLimits::concurrency`] queries run at
//! once (each within its own memory limit, [`crate::sql::session`]); others wait their turn
//! within their time limit. When the time limit passes, the caller is answered at once
//! and the query's task is aborted: it stops at its next batch boundary (bounded
//! functions, [`crate::sql::bounded`], keep a batch short).

use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::{Result, StoreError};
use crate::sql::limits::SqlLimits;

/// The stack of each SQL thread.
pub const SQL_THREAD_STACK_BYTES: usize = 16 << 20;

/// The SQL threads and the queue of queries, started on first use.
#[derive(Default)]
pub struct SqlRuntime {
    started: Mutex<Option<Started>>,
}

struct Started {
    runtime: Runtime,
    permits: Arc<Semaphore>,
    concurrency: usize,
}

impl fmt::Debug for SqlRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlRuntime").finish_non_exhaustive()
    }
}

impl Drop for SqlRuntime {
    /// Stops the threads without waiting for queries (a runtime may not be dropped
    /// from inside another one, where the last store handle often goes).
    fn drop(&mut self) {
        let started = self.started.get_mut().map(Option::take);
        if let Ok(Some(s)) = started {
            s.runtime.shutdown_background();
        }
    }
}

impl SqlRuntime {
    /// Runs `work` as one query within `limits`: after waiting for a turn, on the SQL
    /// threads, stopped when the time limit passes.
    pub async fn run<T: Send + 'static>(
        &self,
        limits: &SqlLimits,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let deadline = Instant::now() + limits.timeout;
        let (handle, permits) = self.handle(limits.concurrency)?;
        let stopped = || {
            StoreError::Query(format!(
                "query stopped after {} s (the time limit)",
                limits.timeout.as_secs()
            ))
        };
        let permit = tokio::time::timeout_at(deadline, permits.acquire_owned())
            .await
            .map_err(|_| stopped())?
            .map_err(|_| StoreError::Query("the SQL runtime has stopped".into()))?;
        let mut task = handle.spawn(async move {
            let _turn = permit;
            work.await
        });
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) if e.is_panic() => Err(StoreError::Query(
                "the query engine failed on this query (a panic); it was stopped".into(),
            )),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => {
                task.abort();
                Err(stopped())
            }
        }
    }

    /// The runtime's handle and the permits, starting it on first use.
    fn handle(&self, concurrency: usize) -> Result<(tokio::runtime::Handle, Arc<Semaphore>)> {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = started.as_ref().filter(|s| s.concurrency == concurrency) {
            return Ok((s.runtime.handle().clone(), s.permits.clone()));
        }
        if let Some(s) = started.as_mut() {
            // A new bound on queries at once: new permits, the same threads.
            s.permits = Arc::new(Semaphore::new(concurrency.max(1)));
            s.concurrency = concurrency;
            return Ok((s.runtime.handle().clone(), s.permits.clone()));
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(threads.max(4))
            .thread_stack_size(SQL_THREAD_STACK_BYTES)
            .thread_name("auditwatch-sql")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Query(format!("cannot start the SQL threads: {e}")))?;
        let s = Started {
            runtime,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency,
        };
        let out = (s.runtime.handle().clone(), s.permits.clone());
        *started = Some(s);
        Ok(out)
    }
}
