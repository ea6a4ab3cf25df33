//! Failpoints (tikv style): named places in the two-phase commit where a
//! test can make the server panic, stall, or fail early, to prove that no
//! failure leaves a key locked or a transaction half-applied.
//!
//! Compiled only with the `failpoints` cargo feature; without it the
//! [`fail_point!`](crate::fail_point) macros expand to nothing. A point is
//! armed in-process with [`set`] (tests), or for the binary by
//! `COREKV_FAILPOINTS="name=action;name=action"` read at start-up
//! ([`set_from_env`]). Actions: `panic`, `sleep(MS)`, `error` (the code's
//! early-return path), each optionally prefixed `N*` to fire N times only.
//!
//! Points: `2pc::after_prepare_sent` (coordinator, after each prepare is
//! sent), `2pc::between_votes` (after each vote is received),
//! `2pc::before_commit` (every vote is in, commit not yet decided),
//! `2pc::between_commits` (after the first commit was sent),
//! `handoff::before_fill` (a handoff's snapshot is computed, its writes
//! not yet sent),
//! `partition::before_commit` (a participant about to apply a commit),
//! `worker::receive` (a worker's inbox serving a letter).

use std::sync::Mutex;
use std::time::Duration;

/// What an armed point does when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Panic,
    Sleep(u64),
    /// Take the code's early-return path (each point names its error).
    Error,
}

struct Armed {
    name: String,
    action: Action,
    /// Fires left; `None`: forever.
    left: Option<u32>,
}

static POINTS: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

fn points() -> std::sync::MutexGuard<'static, Vec<Armed>> {
    POINTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Arms `name` with `spec` (`panic`, `sleep(100)`, `error`, `2*panic`, or
/// `off` to disarm).
pub fn set(name: &str, spec: &str) -> Result<(), String> {
    let mut points = points();
    points.retain(|p| p.name != name);
    if spec == "off" {
        return Ok(());
    }
    let (left, action) = match spec.split_once('*') {
        Some((n, a)) => (
            Some(n.parse().map_err(|_| format!("bad count in {spec:?}"))?),
            a,
        ),
        None => (None, spec),
    };
    let action = match action {
        "panic" => Action::Panic,
        "error" => Action::Error,
        a => a
            .strip_prefix("sleep(")
            .and_then(|ms| ms.strip_suffix(')'))
            .and_then(|ms| ms.parse().ok())
            .map(Action::Sleep)
            .ok_or_else(|| format!("unknown failpoint action {spec:?}"))?,
    };
    points.push(Armed {
        name: name.to_string(),
        action,
        left,
    });
    Ok(())
}

/// Disarms every point.
pub fn clear_all() {
    points().clear();
}

/// Arms the points listed in `COREKV_FAILPOINTS` (`name=action;…`).
pub fn set_from_env() -> Result<(), String> {
    let Ok(list) = std::env::var("COREKV_FAILPOINTS") else {
        return Ok(());
    };
    for item in list.split(';').filter(|i| !i.trim().is_empty()) {
        let (name, spec) = item
            .split_once('=')
            .ok_or_else(|| format!("failpoint {item:?}: expected name=action"))?;
        set(name.trim(), spec.trim())?;
    }
    Ok(())
}

/// The action of `name` if it is armed (counting one fire). A `panic`
/// action panics here, reported at the failpoint's place.
#[track_caller]
pub fn eval(name: &str) -> Option<Action> {
    let mut points = points();
    let i = points.iter().position(|p| p.name == name)?;
    let point = &mut points[i];
    let action = point.action;
    match &mut point.left {
        Some(1) => {
            points.remove(i);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    drop(points);
    if action == Action::Panic {
        panic!("failpoint {name} panicked");
    }
    Some(action)
}

/// Sleeps the thread for a `Sleep` action (synchronous code).
pub fn sleep(action: Action) {
    if let Action::Sleep(ms) = action {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Awaits a `Sleep` action (async code: the worker keeps running).
pub async fn sleep_async(action: Action) {
    if let Action::Sleep(ms) = action {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_counts_run_out() {
        set("t::a", "2*sleep(0)").unwrap();
        assert_eq!(eval("t::a"), Some(Action::Sleep(0)));
        assert_eq!(eval("t::a"), Some(Action::Sleep(0)));
        assert_eq!(eval("t::a"), None, "fired twice");
        set("t::b", "error").unwrap();
        set("t::b", "off").unwrap();
        assert_eq!(eval("t::b"), None);
        assert!(set("t::c", "explode").is_err());
        assert!(set("t::c", "x*panic").is_err());
        set("t::d", "panic").unwrap();
        assert!(std::panic::catch_unwind(|| eval("t::d")).is_err());
        set("t::d", "off").unwrap();
    }
}
