//! Where an index's segments live: tantivy's in-memory directory, with its locks held in memory
//! too, so that a wait for one ends the moment it is released.
//!
//! ```
//! use lucarne_search::memory::Memory;
//! use tantivy::directory::META_LOCK;
//! use tantivy::Directory;
//!
//! let memory = Memory::default();
//! let held = memory.acquire_lock(&META_LOCK)?;
//! drop(held); // a thread waiting for it goes on at once
//! let _again = memory.acquire_lock(&META_LOCK)?;
//! # Ok::<(), tantivy::directory::error::LockError>(())
//! ```
//!
//! Why: tantivy's directories take a lock by creating a file, and a blocking lock taken while
//! another holds it is tried again every 100 ms. Its `META_LOCK` is taken by the reader on each
//! reload and by the writer's clean-up after each commit and each merge, so a commit that met a
//! background merge waited 100 ms: the tail of "commit → visible in a live search" (p99 104–111 ms
//! while its median was 6–8 ms). Here a lock is a name in a set behind a mutex, and a waiter
//! sleeps on a condition variable until the name is released. The index lives in one process
//! (the server's), so nothing outside it needs to see the lock.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tantivy::Directory;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    DirectoryLock, FileHandle, Lock, RamDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// An in-memory directory whose locks are held in memory (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Memory {
    files: RamDirectory,
    locks: Arc<Locks>,
}

/// The names of the locks held, and a wake-up for those waiting.
#[derive(Debug, Default)]
struct Locks {
    held: Mutex<HashSet<PathBuf>>,
    released: Condvar,
}

/// A lock held: released when dropped.
struct Held {
    locks: Arc<Locks>,
    name: PathBuf,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.locks.held.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.name);
        self.locks.released.notify_all();
    }
}

impl Memory {
    /// The bytes its files hold.
    pub fn bytes(&self) -> usize {
        self.files.total_mem_usage()
    }
}

impl Directory for Memory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.files.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.files.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.files.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.files.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.files.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.files.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.files.sync_directory()
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.files.watch(watch_callback)
    }

    /// Takes the lock; a blocking one waits until it is released, without polling.
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        let mut held = self.locks.held.lock().unwrap_or_else(PoisonError::into_inner);
        while held.contains(&lock.filepath) {
            if !lock.is_blocking {
                return Err(LockError::LockBusy);
            }
            held = self.locks.released.wait(held).unwrap_or_else(PoisonError::into_inner);
        }
        held.insert(lock.filepath.clone());
        let guard = Held { locks: self.locks.clone(), name: lock.filepath.clone() };
        Ok(DirectoryLock::from(Box::new(guard)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use tantivy::directory::{INDEX_WRITER_LOCK, META_LOCK};

    use super::*;

    #[test]
    fn a_blocking_lock_is_handed_over_as_soon_as_it_is_released() {
        let memory = Memory::default();
        let held = memory.acquire_lock(&META_LOCK).expect("free");
        // Not a file: tantivy's own way (a file, tried again every 100 ms) is not taken.
        assert!(!memory.exists(&META_LOCK.filepath).expect("exists"), "the lock is a file");
        let (taken, took) = mpsc::channel();
        let waiter = {
            let memory = memory.clone();
            std::thread::spawn(move || {
                let lock = memory.acquire_lock(&META_LOCK);
                let _ = taken.send(());
                lock.map(drop)
            })
        };
        // While held, the waiter waits (a generous bound: it must not get through at all).
        assert!(took.recv_timeout(Duration::from_millis(50)).is_err(), "taken while held");
        drop(held);
        // tantivy's own directories would retry after 100 ms; here it is a wake-up.
        assert!(took.recv_timeout(Duration::from_secs(5)).is_ok(), "never handed over");
        assert!(waiter.join().expect("waiter").is_ok());
    }

    #[test]
    fn a_lock_that_does_not_block_is_refused_while_held_and_granted_once_released() {
        let memory = Memory::default();
        let held = memory.acquire_lock(&INDEX_WRITER_LOCK).expect("free");
        assert!(matches!(memory.acquire_lock(&INDEX_WRITER_LOCK), Err(LockError::LockBusy)));
        drop(held);
        assert!(memory.acquire_lock(&INDEX_WRITER_LOCK).is_ok());
    }
}
