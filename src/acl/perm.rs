//! Permission ids: one per command of the RESP table, then one per
//! subcommand with rights of its own (`ACL WHOAMI` is harmless, `ACL
//! SETUSER` is `@dangerous`; `CLIENT ID` is `@connection`, `CLIENT KILL`
//! `@admin @dangerous`). A user's rights are a bit set over them.

use crate::resp::commands::{self, CommandSpec, COMMANDS};

/// Subcommands with rights of their own, and their Redis 7 categories.
pub const SUBCOMMANDS: &[(&str, &str, &[&str])] = &[
    ("acl", "whoami", &["slow"]),
    ("acl", "cat", &["slow"]),
    ("acl", "help", &["slow"]),
    ("acl", "list", ADMIN),
    ("acl", "users", ADMIN),
    ("acl", "getuser", ADMIN),
    ("acl", "setuser", ADMIN),
    ("acl", "deluser", ADMIN),
    ("acl", "load", ADMIN),
    ("client", "list", ADMIN),
    ("client", "kill", ADMIN),
];

const ADMIN: &[&str] = &["admin", "slow", "dangerous"];

/// How many permission ids there are.
pub fn count() -> usize {
    COMMANDS.len() + SUBCOMMANDS.len()
}

/// The id of a command of the table.
pub fn of_spec(spec: &CommandSpec) -> usize {
    COMMANDS
        .iter()
        .position(|c| std::ptr::eq(c, spec))
        .unwrap_or(usize::MAX)
}

/// The id of a request: its subcommand's if that has rights of its own.
pub fn of_request(spec: &CommandSpec, sub: Option<&[u8]>) -> usize {
    match sub.and_then(|sub| subcommand(spec.name, sub)) {
        Some(i) => COMMANDS.len() + i,
        None => of_spec(spec),
    }
}

fn subcommand(container: &str, sub: &[u8]) -> Option<usize> {
    SUBCOMMANDS
        .iter()
        .position(|(c, n, _)| *c == container && n.as_bytes().eq_ignore_ascii_case(sub))
}

/// The ids a `+name`/`-name` rule names: a command (with its subcommands
/// that have ids of their own) or `container|sub`. `None` if unknown.
pub fn named(name: &[u8]) -> Option<Vec<usize>> {
    if let Some(bar) = name.iter().position(|&b| b == b'|') {
        let spec = commands::lookup(&name[..bar])?;
        return subcommand(spec.name, &name[bar + 1..]).map(|i| vec![COMMANDS.len() + i]);
    }
    let spec = commands::lookup(name)?;
    let mut ids = vec![of_spec(spec)];
    ids.extend(
        SUBCOMMANDS
            .iter()
            .enumerate()
            .filter(|(_, (c, _, _))| *c == spec.name)
            .map(|(i, _)| COMMANDS.len() + i),
    );
    Some(ids)
}

/// The categories of permission id `id`.
pub fn categories(id: usize) -> &'static [&'static str] {
    match id.checked_sub(COMMANDS.len()) {
        None => COMMANDS[id].acl_categories(),
        Some(sub) => SUBCOMMANDS.get(sub).map_or(&[], |(_, _, c)| c),
    }
}

/// The name `ACL CAT <category>` prints for id `id`.
pub fn name(id: usize) -> String {
    match id.checked_sub(COMMANDS.len()) {
        None => COMMANDS[id].name.to_string(),
        Some(sub) => format!("{}|{}", SUBCOMMANDS[sub].0, SUBCOMMANDS[sub].1),
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
        assert_eq!(acl.len(), 10);
        let whoami = named(b"acl|whoami").unwrap()[0];
        let spec = commands::lookup(b"acl").unwrap();
        assert_eq!(of_request(spec, Some(b"WHOAMI")), whoami);
        assert_eq!(name(whoami), "acl|whoami");
        assert!(categories(whoami).contains(&"slow"));
        assert!(categories(of_request(spec, Some(b"setuser"))).contains(&"dangerous"));
        let client = commands::lookup(b"client").unwrap();
        let kill = of_request(client, Some(b"KILL"));
        assert_eq!(name(kill), "client|kill");
        assert_eq!(named(b"CLIENT|kill"), Some(vec![kill]));
        assert!(categories(kill).contains(&"dangerous"));
        assert_eq!(of_request(client, Some(b"id")), of_spec(client));
        assert_eq!(named(b"client").unwrap().len(), 3);
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
