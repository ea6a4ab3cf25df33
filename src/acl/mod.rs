//! Users, passwords and permissions: Redis's ACL model, reduced to what
//! corekv serves (commands, command categories, key patterns).
//!
//! An [`Acl`] is an immutable snapshot of every user. The live one sits in
//! [`Security`], shared by all workers; a change (`ACL SETUSER`, `DELUSER`,
//! `LOAD`) builds a new snapshot under a mutex and bumps a version counter.
//! Workers read the counter (one relaxed-cost atomic load per command) and
//! take the mutex only when it moved, so the data path takes no lock.

mod file;
pub mod perm;
mod rules;
mod user;

pub use file::parse_file;
pub use rules::RuleError;
pub use user::{sha256, User};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &str = "default";

/// The categories `ACL CAT` lists, in Redis's order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

#[derive(Debug, thiserror::Error)]
pub enum AclError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A bad line of an ACL file (1-based line number).
    #[error("{path}:{line}: {reason}")]
    File {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("no ACL file is configured")]
    NoFile,
}

/// Every user, by name (sorted, as `ACL LIST`/`ACL USERS` print them).
#[derive(Clone, Debug)]
pub struct Acl {
    users: BTreeMap<Box<str>, Arc<User>>,
}

impl Default for Acl {
    /// Only the default user: on, no password, every command and key.
    fn default() -> Self {
        let mut acl = Self {
            users: BTreeMap::new(),
        };
        acl.put(User::open_default());
        acl
    }
}

impl Acl {
    pub fn user(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.users.get(std::str::from_utf8(name).ok()?)
    }

    /// The default user; always present.
    pub fn default_user(&self) -> &Arc<User> {
        &self.users[DEFAULT_USER]
    }

    pub fn users(&self) -> impl ExactSizeIterator<Item = &Arc<User>> {
        self.users.values()
    }

    pub fn put(&mut self, user: User) {
        self.users.insert(user.name.clone(), Arc::new(user));
    }

    /// Removes `name`; true if it existed. The default user cannot go.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        match std::str::from_utf8(name) {
            Ok(n) if n != DEFAULT_USER => self.users.remove(n).is_some(),
            _ => false,
        }
    }

    /// Applies `rules` to user `name` (created off, with no rights, if
    /// new), all or nothing, as `ACL SETUSER` does. An error names the
    /// rule that failed.
    pub fn set_user(&mut self, name: &str, rules: &[&[u8]]) -> Result<(), (Vec<u8>, RuleError)> {
        let mut user = match self.users.get(name) {
            Some(u) => User::clone(u),
            None => User::new(name),
        };
        for rule in rules {
            user.apply(rule).map_err(|e| (rule.to_vec(), e))?;
        }
        self.put(user);
        Ok(())
    }

    /// True if a new connection must authenticate before running commands.
    pub fn auth_required(&self) -> bool {
        let d = self.default_user();
        !d.nopass || !d.enabled
    }

    /// The user that `AUTH name password` logs in as, if it may.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<&Arc<User>> {
        self.user(name)
            .filter(|u| u.enabled && u.check_password(password))
    }
}

/// The server-wide security settings and the live ACL.
pub struct Security {
    current: Mutex<Arc<Acl>>,
    version: AtomicU64,
    file: Option<PathBuf>,
    /// SHA-256 of `--requirepass`: the default user's password when the ACL
    /// file does not define the default user.
    requirepass: Option<[u8; 32]>,
    pub protected_mode: bool,
    /// Test hook: treat every client as non-loopback for protected mode.
    pub peers_are_remote: bool,
}

impl Security {
    /// Loads `file` (if any) and applies `requirepass` (if any).
    pub fn new(
        file: Option<PathBuf>,
        requirepass: Option<&[u8]>,
        protected_mode: bool,
    ) -> Result<Self, AclError> {
        let requirepass = requirepass.map(sha256);
        let acl = build(file.as_deref(), requirepass)?;
        Ok(Self {
            current: Mutex::new(Arc::new(acl)),
            version: AtomicU64::new(1),
            file,
            requirepass,
            protected_mode,
            peers_are_remote: false,
        })
    }

    /// Changes whenever the ACL does; cheap enough to read per command.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The live ACL and its version.
    pub fn snapshot(&self) -> (u64, Arc<Acl>) {
        let acl = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (self.version(), Arc::clone(&acl))
    }

    /// Runs `change` on a copy of the live ACL and publishes the copy if it
    /// succeeds. Changes are serialised by the mutex.
    pub fn update<T, E>(&self, change: impl FnOnce(&mut Acl) -> Result<T, E>) -> Result<T, E> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Acl::clone(&current);
        let result = change(&mut next)?;
        *current = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(result)
    }

    /// `ACL LOAD`: re-reads the file; on any error nothing changes.
    pub fn reload(&self) -> Result<(), AclError> {
        let path = self.file.as_deref().ok_or(AclError::NoFile)?;
        let fresh = build(Some(path), self.requirepass)?;
        self.update(|acl| {
            *acl = fresh;
            Ok::<_, AclError>(())
        })
    }

    /// True if protected mode refuses a client from `peer` now.
    pub fn refuses(&self, acl: &Acl, peer: Option<IpAddr>) -> bool {
        let remote = self.peers_are_remote || peer.is_some_and(|p| !is_loopback(p));
        refuse_protected(self.protected_mode, !acl.default_user().nopass, remote)
    }
}

/// The ACL at start-up or after `ACL LOAD`: the file's users; the default
/// user keeps `--requirepass` unless the file defines it.
fn build(file: Option<&Path>, requirepass: Option<[u8; 32]>) -> Result<Acl, AclError> {
    let mut acl = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| AclError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            parse_file(&text).map_err(|(line, reason)| AclError::File {
                path: path.to_path_buf(),
                line,
                reason,
            })?
        }
        None => Acl::default(),
    };
    let defined = file.is_some() && acl.default_user().defined_in_file;
    if let (Some(hash), false) = (requirepass, defined) {
        let mut user = User::clone(acl.default_user());
        user.require_password(hash);
        acl.put(user);
    }
    Ok(acl)
}

/// Protected mode's decision, as Redis makes it: with protected mode on
/// and no password for the default user, only loopback clients are
/// served. `remote` is true for a client from a non-loopback address.
pub fn refuse_protected(protected_mode: bool, password_set: bool, remote: bool) -> bool {
    protected_mode && !password_set && remote
}

/// Loopback, including IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Redis 7's reply to a client refused by protected mode.
pub const DENIED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";

/// The text protocol's version of [`DENIED`].
pub const DENIED_TEXT: &str = "DENIED corekv is running in protected mode: protected mode is enabled and no password is set for the default user, so only loopback clients are served. Set a password (--requirepass or an ACL file), bind to loopback only, or start with --protected-mode no.";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn protected_mode_decision() {
        assert!(refuse_protected(true, false, true));
        assert!(!refuse_protected(true, false, false), "loopback is served");
        assert!(!refuse_protected(true, true, true), "a password lifts it");
        assert!(!refuse_protected(false, false, true), "--protected-mode no");
    }

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("127.3.2.1".parse().unwrap()));
        assert!(is_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn security_refuses_only_remote_peers_without_password() {
        let open = Security::new(None, None, true).unwrap();
        let (_, acl) = open.snapshot();
        assert!(!acl.auth_required());
        assert!(open.refuses(&acl, Some("192.0.2.1".parse().unwrap())));
        assert!(!open.refuses(&acl, Some("127.0.0.1".parse().unwrap())));
        let locked = Security::new(None, Some(b"pw"), true).unwrap();
        let (_, acl) = locked.snapshot();
        assert!(acl.auth_required());
        assert!(!locked.refuses(&acl, Some("192.0.2.1".parse().unwrap())));
    }

    #[test]
    fn requirepass_sets_the_default_password() {
        let s = Security::new(None, Some(b"s3cret"), true).unwrap();
        let (_, acl) = s.snapshot();
        assert!(acl.authenticate(b"default", b"s3cret").is_some());
        assert!(acl.authenticate(b"default", b"wrong").is_none());
        assert!(acl.authenticate(b"nobody", b"s3cret").is_none());
    }

    #[test]
    fn update_publishes_a_new_version_only_on_success() {
        let s = Security::new(None, None, true).unwrap();
        let v = s.version();
        let r = s.update(|acl| acl.set_user("bob", &[b"on", b"bogus"]));
        assert_eq!(r, Err((b"bogus".to_vec(), RuleError::Syntax)));
        assert_eq!(s.version(), v);
        s.update(|acl| acl.set_user("bob", &[b"on", b">pw"]))
            .unwrap();
        assert_ne!(s.version(), v);
        assert!(s.snapshot().1.authenticate(b"bob", b"pw").is_some());
    }

    #[test]
    fn default_user_cannot_be_removed() {
        let mut acl = Acl::default();
        assert!(!acl.remove(b"default"));
        acl.set_user("x", &[b"on"]).unwrap();
        assert!(acl.remove(b"x"));
        assert!(!acl.remove(b"x"));
    }
}
