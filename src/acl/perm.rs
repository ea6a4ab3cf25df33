//! Permission ids: one per command of the RESP table, then one per `ACL`
//! subcommand (`ACL WHOAMI` is harmless, `ACL SETUSER` is `@dangerous`, so
//! they need rights of their own). A user's rights are a bit set over them.

use crate::resp::commands::{self, CommandSpec, COMMANDS};

/// `ACL` subcommands and their Redis 7 categories.
pub const ACL_SUBCOMMANDS: &[(&str, &[&str])] = &[
    ("whoami", &["slow"]),
    ("cat", &["slow"]),
    ("help", &["slow"]),
    ("list", ADMIN),
    ("users", ADMIN),
    ("getuser", ADMIN),
    ("setuser", ADMIN),
    ("deluser", ADMIN),
    ("load", ADMIN),
];

const ADMIN: &[&str] = &["admin", "slow", "dangerous"];

/// How many permission ids there are.
pub fn count() -> usize {
    COMMANDS.len() + ACL_SUBCOMMANDS.len()
}

/// The id of a command of the table.
pub fn of_spec(spec: &CommandSpec) -> usize {
    COMMANDS
        .iter()
        .position(|c| std::ptr::eq(c, spec))
        .unwrap_or(usize::MAX)
}

/// The id of a request: its `ACL` subcommand's if it has a known one.
pub fn of_request(spec: &CommandSpec, sub: Option<&[u8]>) -> usize {
    if spec.name == "acl" {
        if let Some(i) = sub.and_then(acl_subcommand) {
            return COMMANDS.len() + i;
        }
    }
    of_spec(spec)
}

fn acl_subcommand(sub: &[u8]) -> Option<usize> {
    ACL_SUBCOMMANDS
        .iter()
        .position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(sub))
}

/// The ids a `+name`/`-name` rule names: a command (all its `ACL`
/// subcommands too, for `acl`) or `acl|sub`. `None` if unknown.
pub fn named(name: &[u8]) -> Option<Vec<usize>> {
    if let Some(sub) = name
        .strip_prefix(b"acl|")
        .or_else(|| name.strip_prefix(b"ACL|"))
    {
        return acl_subcommand(sub).map(|i| vec![COMMANDS.len() + i]);
    }
    let spec = commands::lookup(name)?;
    let mut ids = vec![of_spec(spec)];
    if spec.name == "acl" {
        ids.extend(COMMANDS.len()..count());
    }
    Some(ids)
}

/// The categories of permission id `id`.
pub fn categories(id: usize) -> &'static [&'static str] {
    match id.checked_sub(COMMANDS.len()) {
        None => COMMANDS[id].acl_categories(),
        Some(sub) => ACL_SUBCOMMANDS.get(sub).map_or(&[], |(_, c)| c),
    }
}

/// The name `ACL CAT <category>` prints for id `id`.
pub fn name(id: usize) -> String {
    match id.checked_sub(COMMANDS.len()) {
        None => COMMANDS[id].name.to_string(),
        Some(sub) => format!("acl|{}", ACL_SUBCOMMANDS[sub].0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_named() {
        let get = commands::lookup(b"get").unwrap();
        assert_eq!(named(b"get"), Some(vec![of_spec(get)]));
        assert_eq!(named(b"GET"), Some(vec![of_spec(get)]));
        assert!(named(b"nosuch").is_none());
        assert!(named(b"acl|nosuch").is_none());
        let acl = named(b"acl").unwrap();
        assert_eq!(acl.len(), 1 + ACL_SUBCOMMANDS.len());
        let whoami = named(b"acl|whoami").unwrap()[0];
        let spec = commands::lookup(b"acl").unwrap();
        assert_eq!(of_request(spec, Some(b"WHOAMI")), whoami);
        assert_eq!(name(whoami), "acl|whoami");
        assert!(categories(whoami).contains(&"slow"));
        assert!(categories(of_request(spec, Some(b"setuser"))).contains(&"dangerous"));
    }

    #[test]
    fn every_category_used_is_known() {
        for id in 0..count() {
            for c in categories(id) {
                assert!(super::super::CATEGORIES.contains(c), "{} has {c}", name(id));
            }
        }
    }
}
