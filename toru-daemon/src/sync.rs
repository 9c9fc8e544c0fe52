//! The one way the daemon locks a std [`Mutex`]: ignoring poison. Every mutex it locks this way
//! guards a map or a few fields that each critical section leaves whole (one insert, lookup or
//! remove), so a holder that panicked left nothing half-done, and refusing the lock forever
//! after would turn one panic into a wedged daemon. (The store's connection is the exception:
//! it needs a rollback after a panic, see `store::Inner::lock`.) A leaf: it depends on nothing.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking the data even if a previous holder panicked.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
