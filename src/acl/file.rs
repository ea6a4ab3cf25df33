//! Redis's ACL file format: one `user <name> <rules...>` per line; blank
//! lines are skipped. A user the file does not define keeps its defaults
//! (only `default` exists otherwise).

use super::{Acl, User};

/// Parses an ACL file. An error carries the 1-based line number and a
/// reason worded as Redis words it.
pub fn parse_file(text: &str) -> Result<Acl, (usize, String)> {
    let mut acl = Acl::default();
    let mut seen: Vec<&str> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let mut words = line.split_ascii_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let name = match (first, words.next()) {
            ("user", Some(name)) => name,
            _ => {
                let reason = "should start with user keyword followed by the username";
                return Err((line_no, reason.into()));
            }
        };
        if seen.contains(&name) {
            return Err((line_no, format!("Duplicate user '{name}' found")));
        }
        seen.push(name);
        let mut user = User::new(name);
        for rule in words {
            user.apply(rule.as_bytes()).map_err(|e| {
                (
                    line_no,
                    format!("Error in applying operation '{rule}': {e}"),
                )
            })?;
        }
        user.defined_in_file = true;
        acl.put(user);
    }
    Ok(acl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_from_a_file() {
        let acl = parse_file("user alice on >p1 ~cache:* +@read\n\n  \nuser bob on nopass +@all\n")
            .unwrap();
        let names: Vec<&str> = acl.users().map(|u| &*u.name).collect();
        assert_eq!(names, ["alice", "bob", "default"]);
        assert!(acl.authenticate(b"alice", b"p1").is_some());
        assert_eq!(
            acl.user(b"bob").unwrap().describe(),
            "user bob on nopass resetchannels +@all"
        );
        assert!(!acl.default_user().defined_in_file);
        assert!(!acl.auth_required());
    }

    #[test]
    fn the_file_may_lock_the_default_user() {
        let acl = parse_file("user default on >pw ~* +@all").unwrap();
        assert!(acl.auth_required());
        assert!(acl.default_user().defined_in_file);
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| parse_file(text).unwrap_err();
        assert_eq!(err("# comment\n").0, 1);
        assert_eq!(
            err("user a on\nalice on\n"),
            (
                2,
                "should start with user keyword followed by the username".into()
            )
        );
        assert_eq!(err("user\n").0, 1);
        assert_eq!(
            err("user a\nuser a\n"),
            (2, "Duplicate user 'a' found".into())
        );
        assert_eq!(
            err("user a on\n\nuser b +@nosuch\n"),
            (
                3,
                "Error in applying operation '+@nosuch': Unknown command or category name in ACL"
                    .into()
            )
        );
    }
}
