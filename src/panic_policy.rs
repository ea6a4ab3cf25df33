//! What a panic means. A panic is a bug; the question is how much state it
//! may have corrupted.
//!
//! * **Inside a connection task, outside the partition** (parsing,
//!   planning, coordinating a transaction): only that connection's state is
//!   suspect. The task unwinds and tokio drops it: its transaction guard
//!   aborts the transaction everywhere (or, past the commit point, commits
//!   it everywhere), its socket closes, and the worker keeps serving.
//! * **Anywhere else on a worker thread**: inside the partition (a
//!   half-applied operation or commit, locks that nobody will release), in
//!   the inbox, flush or accept loop (the worker would stop answering its
//!   peers). Nothing there can be trusted, so [`install`]'s hook logs one
//!   line and aborts the process; a supervisor restarts it (the data is a
//!   cache).
//!
//! The binary installs the hook; in-process servers (tests) keep Rust's
//! default, which the failpoint tests rely on to unwind coordinators.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    /// A connection task is being polled on this thread.
    static IN_CONNECTION: Cell<bool> = const { Cell::new(false) };
    /// Borrows of the partition (or other worker-critical sections) open.
    static CRITICAL: Cell<u32> = const { Cell::new(0) };
}

/// True if a panic here now may unwind: a connection task, not inside the
/// partition.
pub fn panic_is_recoverable() -> bool {
    IN_CONNECTION.with(Cell::get) && CRITICAL.with(Cell::get) == 0
}

/// Marks a worker-critical section (a partition borrow) while alive.
pub struct Critical(());

impl Critical {
    #[inline]
    pub fn enter() -> Self {
        CRITICAL.with(|c| c.set(c.get() + 1));
        Self(())
    }
}

impl Drop for Critical {
    #[inline]
    fn drop(&mut self) {
        CRITICAL.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// A connection task's future: polled with [`panic_is_recoverable`] true
/// (outside critical sections).
pub struct Supervised<F>(Pin<Box<F>>);

impl<F: Future> Supervised<F> {
    pub fn new(future: F) -> Self {
        Self(Box::pin(future))
    }
}

impl<F: Future> Future for Supervised<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_CONNECTION.with(|c| c.set(self.0));
            }
        }
        let _reset = Reset(IN_CONNECTION.with(|c| c.replace(true)));
        self.get_mut().0.as_mut().poll(cx)
    }
}

/// Installs the process's panic policy (see the module documentation).
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        if !name.starts_with("corekv-worker-") {
            default(info);
            return;
        }
        let what = describe(info);
        if panic_is_recoverable() {
            tracing::error!(
                "{name}: a connection task panicked at {what}; closing that connection \
                 (its transaction is rolled back, or finished past its commit point)"
            );
            return;
        }
        let line = format!(
            "corekv: {name} panicked at {what}; aborting the process \
             (a partition's state cannot be trusted after a panic)"
        );
        if tracing::enabled!(tracing::Level::ERROR) {
            tracing::error!("{line}");
        } else {
            eprintln!("{line}");
        }
        std::process::abort();
    }));
}

/// `file:line: message`, on one line.
fn describe(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    match info.location() {
        Some(l) => format!("{}:{}: {message}", l.file(), l.line()),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_tasks_outside_the_partition_may_unwind() {
        assert!(
            !panic_is_recoverable(),
            "a plain thread is not a connection"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(Supervised::new(async {
            assert!(panic_is_recoverable());
            let critical = Critical::enter();
            assert!(!panic_is_recoverable(), "inside the partition");
            drop(critical);
            assert!(panic_is_recoverable());
        }));
        assert!(!panic_is_recoverable(), "reset after the poll");
    }
}
