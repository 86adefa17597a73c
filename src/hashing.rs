//! Password hashing off the async runtime, a bounded number at a time.
//!
//! An argon2 hash takes about 19 MiB and a few tens of milliseconds of one core. Run
//! unbounded on the blocking pool, a burst of sign-ins ran hundreds at once: the server
//! went from 95 MB to over 900 MB after 300 sign-ins and kept it. At most as many hashes
//! as the machine has cores run at once here; the rest wait their turn in order.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// The node's password-hashing queue. Cheap to clone.
#[derive(Clone)]
pub struct Hashing(Arc<Semaphore>);

impl Default for Hashing {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Hashing::with_limit(cores)
    }
}

impl Hashing {
    /// At most `limit` hashes at once (at least one).
    pub fn with_limit(limit: usize) -> Self {
        Hashing(Arc::new(Semaphore::new(limit.max(1))))
    }

    /// Run `f` (a password hash or check) on the blocking pool once a slot is free.
    pub async fn run<T, F>(&self, f: F) -> Result<T, HashingError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.0.acquire().await.map_err(|_| HashingError)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| HashingError)
    }

    /// Slots free right now (for tests).
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// The hashing task could not run (the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub struct HashingError;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_the_limit_run_at_once() {
        let hashing = Hashing::with_limit(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (h, running, most) = (hashing.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                h.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .expect("runs");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(hashing.available(), 2);
    }
}
