//! `ACL` subcommands on a RESP connection. Changes go to the shared
//! [`crate::acl::Security`], which publishes a new snapshot; every
//! connection on every worker sees it at its next command.

use super::resp::Args;
use super::Connection;
use crate::acl::{self, perm, AclError, User};
use crate::resp::encode as enc;

/// Subcommands and their Redis arity (negative: at least).
const ARITY: &[(&str, i64)] = &[
    ("whoami", 2),
    ("list", 2),
    ("users", 2),
    ("getuser", 3),
    ("setuser", -3),
    ("deluser", -3),
    ("cat", -2),
    ("load", 2),
    ("help", 2),
];

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "GETUSER <username>",
    "    Get the user's details.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

impl Connection {
    pub(super) fn acl_command(&mut self, args: Args<'_>) {
        let sub = args.get(1).to_ascii_lowercase();
        let sub = String::from_utf8_lossy(&sub).into_owned();
        let Some(&(_, arity)) = ARITY.iter().find(|(n, _)| *n == sub) else {
            let mesg = format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                String::from_utf8_lossy(args.get(1))
            );
            return self.emit(|o| enc::error(o, &mesg));
        };
        let argc = args.len() as i64;
        if (arity >= 0 && argc != arity)
            || (arity < 0 && argc < -arity)
            || (sub == "cat" && argc > 3)
        {
            let mesg = format!("ERR wrong number of arguments for 'acl|{sub}' command");
            return self.emit(|o| enc::error(o, &mesg));
        }
        match sub.as_str() {
            "whoami" => {
                let name = self.user_name().to_string();
                self.emit(|o| enc::bulk(o, name.as_bytes()));
            }
            "list" => {
                let (_, acl) = self.ctx.acl();
                let lines: Vec<String> = acl.users().map(|u| u.describe()).collect();
                self.emit(|o| enc::bulk_array(o, lines.iter().map(|l| l.as_bytes())));
            }
            "users" => {
                let (_, acl) = self.ctx.acl();
                self.emit(|o| enc::bulk_array(o, acl.users().map(|u| u.name.as_bytes())));
            }
            "getuser" => self.acl_getuser(args.get(2)),
            "setuser" => self.acl_setuser(args),
            "deluser" => self.acl_deluser(args),
            "cat" => self.acl_cat((argc == 3).then(|| args.get(2))),
            "load" => self.acl_load(),
            _ => self.emit(|o| enc::bulk_array(o, HELP.iter().map(|l| l.as_bytes()))),
        }
    }

    fn acl_getuser(&mut self, name: &[u8]) {
        let (_, acl) = self.ctx.acl();
        match acl.user(name) {
            Some(user) => {
                let proto = self.proto();
                self.emit(|o| getuser_reply(o, user, proto))
            }
            None => {
                let proto = self.proto();
                self.emit(|o| enc::null(o, proto))
            }
        }
    }

    fn acl_setuser(&mut self, args: Args<'_>) {
        let name = args.get(2);
        let name = match std::str::from_utf8(name) {
            Ok(n) if !n.contains(' ') && !n.contains('\0') => n,
            _ => {
                return self.emit(|o| {
                    enc::error(o, "ERR Usernames can't contain spaces or null characters")
                });
            }
        };
        let rules: Vec<&[u8]> = args.iter().skip(3).collect();
        let result = self.ctx.security.update(|acl| acl.set_user(name, &rules));
        match result {
            Ok(()) => self.emit(enc::ok),
            Err((rule, e)) => {
                let rule = String::from_utf8_lossy(&rule);
                let mesg = format!("ERR Error in ACL SETUSER modifier '{rule}': {e}");
                self.emit(|o| enc::error(o, &mesg));
            }
        }
    }

    fn acl_deluser(&mut self, args: Args<'_>) {
        if args
            .iter()
            .skip(2)
            .any(|n| n == acl::DEFAULT_USER.as_bytes())
        {
            return self.emit(|o| enc::error(o, "ERR The 'default' user cannot be removed"));
        }
        let removed = self
            .ctx
            .security
            .update(|acl| Ok::<_, ()>(args.iter().skip(2).filter(|n| acl.remove(n)).count()));
        let n = removed.unwrap_or(0) as i64;
        self.emit(|o| enc::int(o, n));
    }

    fn acl_cat(&mut self, category: Option<&[u8]>) {
        let Some(category) = category else {
            return self.emit(|o| enc::bulk_array(o, acl::CATEGORIES.iter().map(|c| c.as_bytes())));
        };
        let cat = String::from_utf8_lossy(category).to_ascii_lowercase();
        if !acl::CATEGORIES.contains(&cat.as_str()) {
            let mesg = format!(
                "ERR Unknown category '{}'",
                String::from_utf8_lossy(category)
            );
            return self.emit(|o| enc::error(o, &mesg));
        }
        let names: Vec<String> = (0..perm::count())
            .filter(|&id| perm::categories(id).contains(&cat.as_str()))
            .map(perm::name)
            .collect();
        self.emit(|o| enc::bulk_array(o, names.iter().map(|n| n.as_bytes())));
    }

    fn acl_load(&mut self) {
        match self.ctx.security.reload() {
            Ok(()) => self.emit(enc::ok),
            Err(AclError::NoFile) => self.emit(|o| enc::error(o, NO_ACL_FILE)),
            Err(e) => {
                let mesg = format!("ERR {e}. WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
                self.emit(|o| enc::error(o, &mesg));
            }
        }
    }
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `ACL GETUSER`'s reply (Redis 7's map of 6 fields; flags as a set).
fn getuser_reply(o: &mut Vec<u8>, user: &User, proto: enc::Proto) {
    enc::map(o, 6, proto);
    enc::bulk(o, b"flags");
    let flags = user.flags();
    enc::set(o, flags.len(), proto);
    for f in &flags {
        enc::bulk(o, f.as_bytes());
    }
    enc::bulk(o, b"passwords");
    let hashes = user.password_hashes();
    enc::bulk_array(o, hashes.iter().map(|h| h.as_bytes()));
    enc::bulk(o, b"commands");
    enc::bulk(o, user.command_text().as_bytes());
    enc::bulk(o, b"keys");
    enc::bulk(o, user.keys_text().as_bytes());
    enc::bulk(o, b"channels");
    enc::bulk(o, user.channels_text().as_bytes());
    enc::bulk(o, b"selectors");
    enc::array(o, 0);
}
