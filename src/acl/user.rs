//! One ACL user: state, password check, permission checks and the text
//! `ACL LIST`/`ACL GETUSER` show.

use super::perm;
use sha2::{Digest, Sha256};

/// A user. Passwords are kept only as SHA-256 digests (as Redis does).
#[derive(Clone, Debug)]
pub struct User {
    pub name: Box<str>,
    pub enabled: bool,
    pub nopass: bool,
    pub(super) passwords: Vec<[u8; 32]>,
    /// `+@all` (true) or `-@all` (false) before `command_rules`.
    pub(super) all_commands: bool,
    /// `+x`/`-x`/`+@c`/`-@c` rules after the last `+@all`/`-@all`, in order
    /// (one per target: a later rule for the same target replaces it).
    pub(super) command_rules: Vec<String>,
    /// Derived from the two above: one bit per permission id.
    pub(super) allowed: Box<[u64]>,
    pub(super) key_patterns: Vec<Box<[u8]>>,
    /// `&*` (true) or `resetchannels`; kept for display (no pub/sub here).
    pub(super) all_channels: bool,
    /// Set by the ACL file parser: this user came from the file.
    pub(super) defined_in_file: bool,
}

impl User {
    /// A new user, as `ACL SETUSER name` creates it: off, no password, no
    /// commands, no keys.
    pub fn new(name: &str) -> Self {
        let mut user = Self {
            name: name.into(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            all_commands: false,
            command_rules: Vec::new(),
            allowed: Box::new([]),
            key_patterns: Vec::new(),
            all_channels: false,
            defined_in_file: false,
        };
        user.recompute();
        user
    }

    /// The default user of a server without passwords: `on nopass ~* &* +@all`.
    pub fn open_default() -> Self {
        let mut user = Self::new(super::DEFAULT_USER);
        user.enabled = true;
        user.nopass = true;
        user.all_commands = true;
        user.key_patterns.push(Box::from(&b"*"[..]));
        user.all_channels = true;
        user.recompute();
        user
    }

    /// `--requirepass`: this password only.
    pub(super) fn require_password(&mut self, hash: [u8; 32]) {
        self.nopass = false;
        self.passwords = vec![hash];
    }

    /// True if `password` is one of the user's (or it needs none). Every
    /// stored digest is compared, each in constant time.
    pub fn check_password(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let given = sha256(password);
        self.passwords
            .iter()
            .fold(false, |found, h| ct_eq(h, &given) | found)
    }

    /// True if the user may run permission id `id`.
    #[inline]
    pub fn allows(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// True if some key pattern matches `key`.
    pub fn allows_key(&self, key: &[u8]) -> bool {
        self.key_patterns
            .iter()
            .any(|p| crate::glob::matches(p, key))
    }

    /// True if nothing is ever refused: every command, every key.
    pub fn unrestricted(&self) -> bool {
        (0..perm::count()).all(|id| self.allows(id))
            && self.key_patterns.iter().any(|p| &**p == b"*")
    }

    /// Rebuilds the permission bits from the command rules.
    pub(super) fn recompute(&mut self) {
        let n = perm::count();
        let mut bits = vec![0u64; n.div_ceil(64)].into_boxed_slice();
        let mut set = |id: usize, on: bool| {
            if id < n {
                let mask = 1u64 << (id % 64);
                bits[id / 64] = if on {
                    bits[id / 64] | mask
                } else {
                    bits[id / 64] & !mask
                };
            }
        };
        (0..n).for_each(|id| set(id, self.all_commands));
        for rule in &self.command_rules {
            let (on, target) = (rule.starts_with('+'), &rule[1..]);
            for id in super::rules::targets(target).unwrap_or_default() {
                set(id, on);
            }
        }
        self.allowed = bits;
    }

    /// The flags `ACL GETUSER` lists.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        flags
    }

    /// Password digests as lowercase hex.
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(|h| hex(h)).collect()
    }

    /// The command rules, e.g. `-@all +@read` or `+@all -flushall`.
    pub fn command_text(&self) -> String {
        let mut s = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for r in &self.command_rules {
            s.push(' ');
            s.push_str(r);
        }
        s
    }

    /// The key patterns, e.g. `~cache:* ~session:*`.
    pub fn keys_text(&self) -> String {
        let patterns: Vec<String> = self
            .key_patterns
            .iter()
            .map(|p| format!("~{}", String::from_utf8_lossy(p)))
            .collect();
        patterns.join(" ")
    }

    pub fn channels_text(&self) -> &'static str {
        if self.all_channels {
            "&*"
        } else {
            ""
        }
    }

    /// One `ACL LIST` line (also the ACL file's format).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name)];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.password_hashes().into_iter().map(|h| format!("#{h}")));
        let keys = self.keys_text();
        if !keys.is_empty() {
            parts.push(keys);
        }
        parts.push(
            if self.all_channels {
                "&*"
            } else {
                "resetchannels"
            }
            .into(),
        );
        parts.push(self.command_text());
        parts.join(" ")
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two digests without an early exit.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_redis_compatible() {
        // Redis: ACL SETUSER alice >p1 → #f64551fc…
        assert_eq!(
            hex(&sha256(b"p1")),
            "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"
        );
    }

    #[test]
    fn default_user_describes_as_redis() {
        let d = User::open_default();
        assert_eq!(d.describe(), "user default on nopass ~* &* +@all");
        assert!(d.unrestricted());
        assert!(d.check_password(b"anything"));
    }

    #[test]
    fn new_user_is_off_and_powerless() {
        let u = User::new("carol");
        assert_eq!(u.describe(), "user carol off resetchannels -@all");
        assert!(!u.unrestricted());
        assert!((0..perm::count()).all(|id| !u.allows(id)));
        assert!(!u.allows_key(b"k"));
        assert!(!u.check_password(b""));
    }

    #[test]
    fn constant_time_eq() {
        let a = sha256(b"a");
        assert!(ct_eq(&a, &sha256(b"a")));
        assert!(!ct_eq(&a, &sha256(b"b")));
    }
}
