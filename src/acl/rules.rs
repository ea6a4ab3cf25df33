//! The ACL rule language of `ACL SETUSER` and ACL files, as Redis 7
//! spells it: `on off nopass resetpass >pw <pw #hash !hash ~pattern
//! allkeys resetkeys &* allchannels resetchannels +cmd -cmd +@cat -@cat
//! allcommands nocommands reset`.

use super::{perm, sha256, User, CATEGORIES};
use std::fmt;

/// Why a rule was refused; the text follows Redis's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    BadHash,
    NoSuchPassword,
    PatternAfterAll,
    /// Valid in Redis, not served by corekv (selectors, channel patterns,
    /// subcommand rules other than `acl|…`).
    Unsupported(&'static str),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "Syntax error",
            Self::UnknownCommand => "Unknown command or category name in ACL",
            Self::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            Self::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            Self::PatternAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            Self::Unsupported(what) => what,
        })
    }
}

impl User {
    /// Applies one rule.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| rule.eq_ignore_ascii_case(word.as_bytes());
        match rule {
            _ if is("on") => self.enabled = true,
            _ if is("off") => self.enabled = false,
            _ if is("nopass") => {
                self.nopass = true;
                self.passwords.clear();
            }
            _ if is("resetpass") => {
                self.nopass = false;
                self.passwords.clear();
            }
            _ if is("allkeys") => self.key_patterns = vec![Box::from(&b"*"[..])],
            _ if is("resetkeys") => self.key_patterns.clear(),
            _ if is("allchannels") || rule == b"&*" => self.all_channels = true,
            _ if is("resetchannels") => self.all_channels = false,
            _ if is("allcommands") => self.set_all_commands(true),
            _ if is("nocommands") => self.set_all_commands(false),
            _ if is("reset") => self.reset(),
            [b'>', pw @ ..] => self.add_password(sha256(pw)),
            [b'<', pw @ ..] => self.remove_password(&sha256(pw))?,
            [b'#', hash @ ..] => self.add_password(parse_hash(hash)?),
            [b'!', hash @ ..] => self.remove_password(&parse_hash(hash)?)?,
            [b'~', pattern @ ..] => self.add_pattern(pattern)?,
            [b'+' | b'-', target @ ..] => self.command_rule(rule[0] == b'+', target)?,
            [b'%', ..] | [b'(', ..] => {
                return Err(RuleError::Unsupported(
                    "selectors (%R~, %W~, (...)) are not supported by corekv",
                ))
            }
            [b'&', ..] => {
                return Err(RuleError::Unsupported(
                    "channel patterns other than &* are not supported (corekv has no pub/sub)",
                ))
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.enabled = false;
        self.nopass = false;
        self.passwords.clear();
        self.key_patterns.clear();
        self.all_channels = false;
        self.set_all_commands(false);
    }

    fn add_password(&mut self, hash: [u8; 32]) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    fn remove_password(&mut self, hash: &[u8; 32]) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|h| h != hash);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    fn add_pattern(&mut self, pattern: &[u8]) -> Result<(), RuleError> {
        if self.key_patterns.iter().any(|p| &**p == b"*") {
            return Err(RuleError::PatternAfterAll);
        }
        if pattern == b"*" {
            self.key_patterns = vec![Box::from(pattern)];
        } else if !self.key_patterns.iter().any(|p| **p == *pattern) {
            self.key_patterns.push(Box::from(pattern));
        }
        Ok(())
    }

    fn set_all_commands(&mut self, all: bool) {
        self.all_commands = all;
        self.command_rules.clear();
        self.recompute();
    }

    /// `+target` / `-target`: a command, `acl|sub`, or `@category`.
    fn command_rule(&mut self, allow: bool, target: &[u8]) -> Result<(), RuleError> {
        let target = std::str::from_utf8(target)
            .map_err(|_| RuleError::UnknownCommand)?
            .to_ascii_lowercase();
        if target == "@all" {
            self.set_all_commands(allow);
            return Ok(());
        }
        if target.contains('|') && !target.starts_with("acl|") {
            return Err(RuleError::Unsupported(
                "subcommand rules are supported only for ACL (e.g. +acl|whoami)",
            ));
        }
        targets(&target).ok_or(RuleError::UnknownCommand)?;
        self.command_rules.retain(|r| r[1..] != target);
        let sign = if allow { '+' } else { '-' };
        self.command_rules.push(format!("{sign}{target}"));
        self.recompute();
        Ok(())
    }
}

/// The permission ids a rule target names (`get`, `acl|whoami`, `@read`).
pub(super) fn targets(target: &str) -> Option<Vec<usize>> {
    match target.strip_prefix('@') {
        Some("all") => Some((0..perm::count()).collect()),
        Some(cat) if CATEGORIES.contains(&cat) => Some(
            (0..perm::count())
                .filter(|&id| perm::categories(id).contains(&cat))
                .collect(),
        ),
        Some(_) => None,
        None => perm::named(target.as_bytes()),
    }
}

/// A `#`/`!` rule's digest: exactly 64 lowercase hex digits.
fn parse_hash(hex: &[u8]) -> Result<[u8; 32], RuleError> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if hex.len() != 64 {
        return Err(RuleError::BadHash);
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let (hi, lo) = (digit(pair[0]), digit(pair[1]));
        out[i] = (hi.ok_or(RuleError::BadHash)? << 4) | lo.ok_or(RuleError::BadHash)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::lookup;

    fn user(rules: &str) -> User {
        let mut u = User::new("u");
        for r in rules.split_whitespace() {
            u.apply(r.as_bytes()).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        u
    }

    fn may(u: &User, cmd: &str) -> bool {
        u.allows(perm::of_spec(lookup(cmd.as_bytes()).unwrap()))
    }

    #[test]
    fn read_only_on_a_prefix() {
        let u = user("on >p1 ~cache:* +@read");
        assert_eq!(
            u.describe(),
            "user u on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~cache:* resetchannels -@all +@read"
        );
        assert!(may(&u, "get") && may(&u, "mget") && may(&u, "ttl") && may(&u, "scan"));
        assert!(!may(&u, "set") && !may(&u, "del") && !may(&u, "flushall"));
        assert!(u.allows_key(b"cache:1") && !u.allows_key(b"other"));
        assert!(u.check_password(b"p1") && !u.check_password(b"p2"));
        assert!(!u.unrestricted());
    }

    #[test]
    fn all_but_dangerous() {
        let u = user("on nopass allkeys +@all -@dangerous");
        assert!(may(&u, "get") && may(&u, "set") && may(&u, "del"));
        assert!(!may(&u, "flushall") && !may(&u, "keys") && !may(&u, "info"));
        assert_eq!(u.command_text(), "+@all -@dangerous");
        let setuser = perm::of_request(lookup(b"acl").unwrap(), Some(b"setuser"));
        let whoami = perm::of_request(lookup(b"acl").unwrap(), Some(b"whoami"));
        assert!(!u.allows(setuser) && u.allows(whoami));
    }

    #[test]
    fn later_rules_win_and_replace_earlier_ones() {
        let u = user("+@all -get +get -set");
        assert!(may(&u, "get") && !may(&u, "set"));
        assert_eq!(u.command_text(), "+@all +get -set");
        let u = user("+@read -@all +set");
        assert_eq!(u.command_text(), "-@all +set");
        assert!(!may(&u, "get") && may(&u, "set"));
        let u = user("allcommands -flushall nocommands +acl|whoami");
        assert_eq!(u.command_text(), "-@all +acl|whoami");
    }

    #[test]
    fn passwords_add_remove_and_hash_forms() {
        let mut u = user(">a >b <a");
        assert!(!u.check_password(b"a") && u.check_password(b"b"));
        assert_eq!(u.apply(b"<zzz"), Err(RuleError::NoSuchPassword));
        let hash = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"; // sha256("a")
        u.apply(format!("#{hash}").as_bytes()).unwrap();
        assert!(u.check_password(b"a"));
        u.apply(format!("!{hash}").as_bytes()).unwrap();
        assert!(!u.check_password(b"a"));
        assert_eq!(u.apply(b"#abc"), Err(RuleError::BadHash));
        assert_eq!(
            u.apply(format!("#{}", hash.to_uppercase()).as_bytes()),
            Err(RuleError::BadHash)
        );
        u.apply(b"nopass").unwrap();
        assert!(u.check_password(b"whatever"));
        u.apply(b"resetpass").unwrap();
        assert!(!u.check_password(b"whatever") && !u.nopass);
    }

    #[test]
    fn key_patterns() {
        let mut u = user("~a* ~b ~a*");
        assert_eq!(u.keys_text(), "~a* ~b");
        u.apply(b"resetkeys").unwrap();
        assert!(!u.allows_key(b"a1"));
        u.apply(b"allkeys").unwrap();
        assert_eq!(u.keys_text(), "~*");
        assert_eq!(u.apply(b"~x"), Err(RuleError::PatternAfterAll));
        assert!(u.allows_key(b"anything"));
    }

    #[test]
    fn reset_and_errors() {
        let mut u = user("on nopass ~* &* +@all");
        u.apply(b"reset").unwrap();
        assert_eq!(u.describe(), "user u off resetchannels -@all");
        assert_eq!(u.apply(b"bogus"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"+@nosuch"), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"+nosuch"), Err(RuleError::UnknownCommand));
        assert!(matches!(u.apply(b"%R~x"), Err(RuleError::Unsupported(_))));
        assert!(matches!(
            u.apply(b"+config|get"),
            Err(RuleError::Unsupported(_))
        ));
        assert!(u.apply(b"ON").is_ok() && u.enabled);
    }
}
