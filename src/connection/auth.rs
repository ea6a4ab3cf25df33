//! Who a connection is, and the gate every command passes: `NOAUTH` until
//! it authenticates (when a password is required), then the user's ACL
//! (commands by permission id, keys by pattern).
//!
//! The gate costs one atomic load and a compare per command while the
//! connection's user may run everything: the decision is cached per
//! connection and recomputed only when the ACL version moves.

use super::Connection;
use crate::acl::{self, perm, Acl, User};
use crate::protocol::Command;
use crate::resp::commands::CommandSpec;
use crate::worker::WorkerCtx;
use std::net::SocketAddr;
use std::sync::Arc;

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

/// Commands whose first argument is a subcommand (besides `ACL`).
const CONTAINERS: &[&str] = &["client", "command", "config", "cluster", "object", "memory"];

#[derive(Clone)]
pub(super) struct AuthState {
    /// The ACL version `gate` was computed at.
    version: u64,
    /// The user this connection authenticated as; `None` until it does
    /// (it then acts as `default` if that needs no password).
    user: Option<Box<str>>,
    gate: Gate,
    /// Protected mode refuses this client: answer its first request with
    /// `DENIED` and close.
    pub(super) protected: bool,
}

#[derive(Clone)]
enum Gate {
    /// Everything is allowed.
    Open,
    /// Only `AUTH`, `HELLO`, `PING`, `QUIT` until authenticated.
    NeedAuth,
    /// Check each command and its keys against this user.
    Restricted(Arc<User>),
    /// The user was deleted: close the connection.
    Gone,
}

/// Why a command was refused.
pub(super) enum Denied {
    NoAuth,
    Command(String),
    Key,
    /// The connection's user no longer exists.
    Gone,
}

impl Denied {
    /// The RESP error text (the text protocol uses it too).
    pub(super) fn message(&self) -> String {
        match self {
            Self::NoAuth | Self::Gone => NOAUTH.into(),
            Self::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Self::Key => NOPERM_KEY.into(),
        }
    }
}

/// Redis's error for a queued command the ACL no longer allows at `EXEC`.
pub(super) fn changed_before_exec(denied: &Denied) -> String {
    let reason = match denied {
        Denied::Key => "no permission to touch the specified keys",
        _ => "no permission to execute the command or subcommand",
    };
    format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}")
}

impl AuthState {
    /// The user's name, `default` before authentication.
    pub(super) fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or(acl::DEFAULT_USER)
    }

    /// A new connection from `peer`: authenticated as `default` if that
    /// needs no password (as Redis does), and the protected-mode verdict.
    pub(super) fn new(ctx: &WorkerCtx, peer: Option<SocketAddr>) -> Self {
        let (version, acl) = ctx.acl();
        let user = (!acl.auth_required()).then(|| Box::from(acl::DEFAULT_USER));
        let gate = compute(&acl, user.as_deref());
        Self {
            version,
            protected: ctx.security.refuses(&acl, peer.map(|p| p.ip())),
            user,
            gate,
        }
    }
}

/// The gate for `user` under `acl`.
fn compute(acl: &Acl, user: Option<&str>) -> Gate {
    let resolved = match user {
        Some(name) => match acl.user(name.as_bytes()) {
            Some(u) => u,
            None => return Gate::Gone,
        },
        None if acl.auth_required() => return Gate::NeedAuth,
        None => acl.default_user(),
    };
    if resolved.unrestricted() {
        Gate::Open
    } else {
        Gate::Restricted(Arc::clone(resolved))
    }
}

impl Connection {
    /// True if the connection may run anything: the hot path's only check.
    #[inline]
    pub(super) fn gate_open(&self) -> bool {
        self.auth.version == self.ctx.acl_version() && matches!(self.auth.gate, Gate::Open)
    }

    fn refresh_gate(&mut self) {
        if self.auth.version != self.ctx.acl_version() {
            let (version, acl) = self.ctx.acl();
            self.auth.gate = compute(&acl, self.auth.user.as_deref());
            self.auth.version = version;
        }
    }

    /// True while the connection must authenticate first.
    pub(super) fn needs_auth(&mut self) -> bool {
        self.refresh_gate();
        matches!(self.auth.gate, Gate::NeedAuth)
    }

    /// The name `ACL WHOAMI` answers.
    pub(super) fn user_name(&self) -> &str {
        self.auth.user.as_deref().unwrap_or(acl::DEFAULT_USER)
    }

    /// The gate for command `id` (named `name` in errors) on `keys`.
    /// `no_auth` commands pass before authentication and are never
    /// refused by the ACL (`AUTH`, `HELLO`, `QUIT`; `PING` only passes
    /// before authentication).
    fn check<'k>(
        &mut self,
        id: usize,
        name: &str,
        no_auth: bool,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Result<(), Denied> {
        self.refresh_gate();
        match &self.auth.gate {
            Gate::Open => Ok(()),
            Gate::Gone => Err(Denied::Gone),
            Gate::NeedAuth if no_auth || name == "ping" => Ok(()),
            Gate::NeedAuth => Err(Denied::NoAuth),
            Gate::Restricted(_) if no_auth => Ok(()),
            Gate::Restricted(user) if !user.allows(id) => Err(Denied::Command(perm::name(id))),
            Gate::Restricted(user) => match keys.into_iter().all(|k| user.allows_key(k)) {
                true => Ok(()),
                false => Err(Denied::Key),
            },
        }
    }

    /// The gate for a RESP request (`spec` and its arguments).
    pub(super) fn check_resp<'a>(
        &mut self,
        spec: &CommandSpec,
        args: impl Fn(usize) -> &'a [u8] + Copy,
        argc: usize,
    ) -> Result<(), Denied> {
        let sub = (argc > 1).then(|| args(1));
        let id = perm::of_request(spec, sub);
        let no_auth = matches!(spec.name, "auth" | "hello" | "quit");
        // `OBJECT`/`MEMORY` subcommands take their key at 2 (Redis's key
        // specs are the subcommands'; the container has none).
        let sub_key = (matches!(spec.name, "object" | "memory") && argc > 2).then(|| args(2));
        let keys = crate::resp::commands::key_positions(spec, argc)
            .chain(crate::resp::commands::movable_key_positions(
                spec, args, argc,
            ))
            .map(args)
            .chain(sub_key);
        match self.check(id, spec.name, no_auth, keys) {
            // Redis names a container's subcommand: 'config|get'.
            Err(Denied::Command(_)) if CONTAINERS.contains(&spec.name) && argc > 1 => {
                let sub = String::from_utf8_lossy(args(1)).to_ascii_lowercase();
                Err(Denied::Command(format!("{}|{sub}", spec.name)))
            }
            other => other,
        }
    }

    /// The gate for a text command, by the RESP command it corresponds to.
    pub(super) fn check_text(&mut self, command: &Command<'_>) -> Result<(), Denied> {
        let (name, key) = text_equivalent(command);
        let Some(spec) = crate::resp::commands::lookup(name.as_bytes()) else {
            return Ok(());
        };
        let id = perm::of_spec(spec);
        self.check(id, name, matches!(name, "auth" | "quit"), key.into_iter())
    }

    /// `AUTH [user] password`: on success the connection is that user.
    pub(super) fn authenticate(
        &mut self,
        user: Option<&[u8]>,
        password: &[u8],
    ) -> Result<(), &'static str> {
        let (_, acl) = self.ctx.acl();
        if user.is_none() && acl.default_user().nopass {
            return Err(NO_PASSWORD);
        }
        let name = user.unwrap_or(acl::DEFAULT_USER.as_bytes());
        let user = acl.authenticate(name, password).ok_or(WRONGPASS)?;
        self.auth.user = Some(user.name.clone());
        self.info.set_user(&user.name);
        self.auth.version = 0;
        Ok(())
    }
}

/// The RESP command a text command is checked as, and its key.
fn text_equivalent<'a>(command: &Command<'a>) -> (&'static str, Option<&'a [u8]>) {
    match *command {
        Command::Get { key } => ("get", Some(key)),
        Command::Put { key, .. } => ("set", Some(key)),
        Command::Del { key } => ("del", Some(key)),
        Command::Watch { key } => ("watch", Some(key)),
        Command::Expire { key, .. } => ("pexpire", Some(key)),
        Command::Ttl { key } => ("ttl", Some(key)),
        Command::Persist { key } => ("persist", Some(key)),
        Command::PutEx { key, .. } => ("setex", Some(key)),
        Command::Unwatch => ("unwatch", None),
        Command::Start => ("multi", None),
        Command::Commit => ("exec", None),
        Command::Rollback => ("discard", None),
        Command::Ping => ("ping", None),
        Command::Help => ("command", None),
        Command::Quit => ("quit", None),
        Command::Topology => ("cluster", None),
        Command::Stats => ("info", None),
        Command::Flush => ("flushall", None),
        Command::Dbsize => ("dbsize", None),
        Command::Auth { .. } => ("auth", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse, Parsed};

    /// Every text command maps to a command of the RESP table, with its key.
    #[test]
    fn text_commands_have_resp_equivalents() {
        let lines = [
            "GET k",
            "PUT k v",
            "DEL k",
            "WATCH k",
            "EXPIRE k 1",
            "TTL k",
            "PERSIST k",
            "PUTEX k 1 v",
            "UNWATCH",
            "START",
            "COMMIT",
            "ROLLBACK",
            "PING",
            "HELP",
            "QUIT",
            "TOPOLOGY",
            "STATS",
            "FLUSH",
            "DBSIZE",
            "AUTH pw",
        ];
        for line in lines {
            let with_nl = format!("{line}\n");
            let Parsed::Complete { command, .. } = parse(with_nl.as_bytes(), 1024) else {
                panic!("{line} does not parse");
            };
            let (name, key) = text_equivalent(&command);
            let spec = crate::resp::commands::lookup(name.as_bytes())
                .unwrap_or_else(|| panic!("{line} → {name}: not in the table"));
            assert_eq!(
                key.is_some(),
                spec.first > 0,
                "{line}: key vs {name}'s spec"
            );
        }
    }

    #[test]
    fn denied_messages_are_redis_texts() {
        assert_eq!(Denied::NoAuth.message(), NOAUTH);
        assert_eq!(
            Denied::Command("flushall".into()).message(),
            "NOPERM this user has no permissions to run the 'flushall' command"
        );
        assert_eq!(Denied::Key.message(), NOPERM_KEY);
        assert!(changed_before_exec(&Denied::Key)
            .ends_with("no permission to touch the specified keys"));
    }
}
