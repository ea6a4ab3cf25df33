//! The open-file limit (`RLIMIT_NOFILE`): raised to fit `maxclients`, at
//! start and on `CONFIG SET maxclients`, as Redis does; never above the
//! hard limit, which only a privileged process could raise.

/// Descriptors the server needs besides clients: each listening socket
/// and the spare its accept loop keeps for refusing clients, each worker's
/// runtime (epoll, wake-up), logs, some slack.
pub fn reserved(workers: usize, sockets: usize) -> u64 {
    32 + 4 * workers as u64 + 2 * sockets as u64
}

/// Raises the soft limit to fit `maxclients` plus `reserve` (up to the
/// hard limit). `Err(fits)`: the limit obtained holds only `fits` clients
/// (at least 1). `Ok` also when the limit cannot be read.
pub fn fit(maxclients: u64, reserve: u64) -> Result<(), u64> {
    let want = maxclients.saturating_add(reserve);
    match raise(want) {
        Some(got) if got < want => Err(got.saturating_sub(reserve).max(1)),
        _ => Ok(()),
    }
}

/// At start: [`fit`], logged; a `maxclients` that does not fit is lowered
/// with a warning.
pub fn fit_at_start(maxclients: u64, reserve: u64) -> usize {
    let want = maxclients.saturating_add(reserve);
    let fits = match raise(want) {
        Some(got) if got < want => {
            let fits = got.saturating_sub(reserve).max(1);
            tracing::warn!(
                "open files limit is {got} (wanted {want}); maxclients lowered from {maxclients} to {fits} (raise ulimit -n)"
            );
            fits
        }
        Some(got) => {
            tracing::info!("open files limit {got}: fits maxclients {maxclients}");
            maxclients
        }
        None => maxclients,
    };
    usize::try_from(fits).unwrap_or(usize::MAX)
}

/// Redis's reason when `CONFIG SET maxclients` asks for more descriptors
/// than the system gives (after `CONFIG SET failed … - `).
pub fn too_many(fits: u64) -> String {
    format!(
        "The operating system is not able to handle the specified number of clients, try with {fits}"
    )
}

/// Sets the soft limit to `min(want, hard)` if it is lower; returns the
/// soft limit now in force (`None` if it cannot be read).
fn raise(want: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = target;
        }
    }
    Some(lim.rlim_cur)
}
