//! What `CLIENT LIST`, `CLIENT INFO` and `CLIENT KILL` know of a
//! connection: each connection shares a [`ClientInfo`] with its worker's
//! client table (`evict.rs`), and a query about every client visits each
//! worker by message passing ([`ClientQuery`]), the worker answering from
//! its own table. A connection keeps its `ClientInfo` up to date with a few
//! `Cell` stores per command; nothing is shared between threads.
//!
//! The line has Redis 7.0's fields in Redis's order. Those corekv has no
//! counterpart for are constant: `db=0 sub=0 psub=0 ssub=0 redir=-1
//! events=r`, the per-buffer figures `qbuf qbuf-free argv-mem rbs rbp obl
//! oll omem` are 0 (a connection's buffers live in its own task; an idle
//! one holds none), `multi-mem` is what an open `MULTI` queued and
//! `tot-mem` the bytes the connection reports for `maxmemory-clients`.

use std::cell::{Cell, RefCell};
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Instant;

/// A connection as `CLIENT LIST` shows it.
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    created: Cell<Instant>,
    last: Cell<Instant>,
    name: RefCell<Option<Box<[u8]>>>,
    user: RefCell<Box<str>>,
    /// The last command, as its statistics index (`client|list` for a
    /// subcommand, see `introspect::stat_names`); `NULL` before one.
    cmd: Cell<u16>,
    /// Commands queued in `MULTI`, -1 outside it.
    multi: Cell<i64>,
    /// Waiting in a blocking command (`CLIENT LIST` flag `b`).
    blocked: Cell<bool>,
    multi_mem: Cell<usize>,
    resp: Cell<u8>,
}

/// A socket address as Redis writes it: `ip:port`, IPv6 without brackets.
pub fn address(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "?:0".into(), |a| format!("{}:{}", a.ip(), a.port()))
}

impl ClientInfo {
    pub fn new(
        id: u64,
        addr: Option<SocketAddr>,
        laddr: Option<SocketAddr>,
        fd: i32,
        user: &str,
    ) -> Self {
        let now = Instant::now();
        Self {
            id,
            addr: address(addr),
            laddr: address(laddr),
            fd,
            created: Cell::new(now),
            last: Cell::new(now),
            name: RefCell::new(None),
            user: RefCell::new(user.into()),
            cmd: Cell::new(u16::MAX),
            multi: Cell::new(-1),
            blocked: Cell::new(false),
            multi_mem: Cell::new(0),
            resp: Cell::new(2),
        }
    }

    /// A command starts: `index` names it (`introspect::stat_names`).
    pub fn command(&self, index: u16) {
        self.cmd.set(index);
    }

    /// The connection was last served at `at`: `idle` counts from here.
    /// Set once per batch with the time the batch already read (the
    /// command statistics' clock), so commands cost no extra clock read.
    pub fn served_at(&self, at: Instant) {
        self.last.set(at);
    }

    pub fn set_name(&self, name: Option<&[u8]>) {
        *self.name.borrow_mut() = name.map(Box::from);
    }

    /// When the connection was accepted (`age`).
    pub fn created(&self) -> Instant {
        self.created.get()
    }

    /// A connection that moved here from another worker keeps its age and
    /// name.
    pub fn resumed(&self, created: Instant, name: Option<&[u8]>) {
        self.created.set(created);
        self.set_name(name);
    }

    pub fn set_user(&self, user: &str) {
        *self.user.borrow_mut() = user.into();
    }

    pub fn set_blocked(&self, on: bool) {
        self.blocked.set(on);
    }

    pub fn set_multi(&self, queued: Option<(usize, usize)>) {
        let (n, bytes) = queued.map_or((-1, 0), |(n, b)| (n as i64, b));
        self.multi.set(n);
        self.multi_mem.set(bytes);
    }

    pub fn set_resp(&self, version: u8) {
        self.resp.set(version);
    }

    fn user(&self) -> std::cell::Ref<'_, Box<str>> {
        self.user.borrow()
    }

    /// The `CLIENT LIST` line, newline included; `tot_mem` is the bytes
    /// the connection last reported.
    pub fn line(&self, tot_mem: usize, out: &mut String) {
        let now = Instant::now();
        let name = self.name.borrow();
        let name = String::from_utf8_lossy(name.as_deref().unwrap_or_default());
        let multi = self.multi.get();
        let flags = match (multi >= 0, self.blocked.get()) {
            (_, true) => "b",
            (true, false) => "x",
            (false, false) => "N",
        };
        let _ = writeln!(
            out,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 \
             ssub=0 multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem={} rbs=0 rbp=0 obl=0 \
             oll=0 omem=0 tot-mem={tot_mem} events=r cmd={} user={} redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now.duration_since(self.created.get()).as_secs(),
            now.duration_since(self.last.get()).as_secs(),
            self.multi_mem.get(),
            crate::introspect::stat_names()
                .get(usize::from(self.cmd.get()))
                .map_or("NULL", String::as_str),
            self.user(),
            self.resp.get(),
        );
    }
}

/// Which clients a `CLIENT LIST` or `CLIENT KILL` is about (every given
/// criterion must hold). Sent to every worker, so it owns its data.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub ids: Option<Vec<u64>>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    pub user: Option<String>,
    /// `TYPE master|replica|pubsub`: corekv's clients are all normal.
    pub no_normal: bool,
    /// The asking client, left out (`SKIPME yes`, and always on other
    /// workers' side: the asker decides about itself).
    pub skip: Option<u64>,
}

impl Filter {
    pub fn matches(&self, c: &ClientInfo) -> bool {
        !self.no_normal
            && self.skip != Some(c.id)
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
            && self.addr.as_ref().is_none_or(|a| *a == c.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && self.user.as_ref().is_none_or(|u| **u == **c.user())
    }
}

/// A question to one worker about its clients.
#[derive(Debug)]
pub enum ClientQuery {
    /// The `CLIENT LIST` lines of the matching clients.
    List(Filter),
    /// Close the matching clients; how many.
    Kill(Filter),
    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]` (`true`: ERROR): 1 if that
    /// client was blocked here.
    Unblock(u64, bool),
}

#[derive(Debug)]
pub enum ClientAnswer {
    Lines(String),
    Killed(usize),
}

/// A `CLIENT KILL` request, parsed: the filter, whether the asker is
/// spared, and the old form (`CLIENT KILL addr:port`), which answers `+OK`
/// or `No such client` rather than a count.
pub struct Kill {
    pub filter: Filter,
    pub skipme: bool,
    pub old_form: bool,
}

pub const NO_SUCH_CLIENT: &str = "ERR No such client";

fn parse_type(t: &[u8]) -> Result<bool, String> {
    match &t.to_ascii_lowercase()[..] {
        b"normal" => Ok(false),
        b"master" | b"replica" | b"slave" | b"pubsub" => Ok(true),
        _ => Err(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(t)
        )),
    }
}

fn text(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// `CLIENT LIST [TYPE type] [ID id …]` (arguments after `LIST`).
pub fn parse_list(args: &[&[u8]]) -> Result<Filter, String> {
    let mut f = Filter::default();
    let mut i = 0;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        match &opt[..] {
            b"TYPE" if i + 1 < args.len() => {
                f.no_normal = parse_type(args[i + 1])?;
                i += 2;
            }
            b"ID" if i + 1 < args.len() => {
                let mut ids = Vec::new();
                for a in &args[i + 1..] {
                    // Any integer (Redis lists none for 0 or less).
                    match crate::partition::parse_i64(a) {
                        Some(id) => ids.push(id as u64),
                        None => return Err("ERR Invalid client ID".into()),
                    }
                }
                f.ids = Some(ids);
                i = args.len();
            }
            _ => return Err(super::keycmd::SYNTAX.into()),
        }
    }
    Ok(f)
}

/// `CLIENT KILL addr:port` or `CLIENT KILL <filter> <value> …` (arguments
/// after `KILL`). A `USER` that does not exist is checked by the caller.
pub fn parse_kill(args: &[&[u8]]) -> Result<Kill, String> {
    if args.len() == 1 {
        let filter = Filter {
            addr: Some(text(args[0])),
            ..Filter::default()
        };
        return Ok(Kill {
            filter,
            skipme: false,
            old_form: true,
        });
    }
    if args.len() % 2 != 0 {
        return Err(super::keycmd::SYNTAX.into());
    }
    let mut k = Kill {
        filter: Filter::default(),
        skipme: true,
        old_form: false,
    };
    for pair in args.chunks(2) {
        let (opt, value) = (pair[0].to_ascii_uppercase(), pair[1]);
        match &opt[..] {
            b"ID" => match crate::partition::parse_i64(value) {
                Some(id) if id > 0 => k.filter.ids = Some(vec![id as u64]),
                _ => return Err("ERR client-id should be greater than 0".into()),
            },
            b"TYPE" => k.filter.no_normal = parse_type(value)?,
            b"ADDR" => k.filter.addr = Some(text(value)),
            b"LADDR" => k.filter.laddr = Some(text(value)),
            b"USER" => k.filter.user = Some(text(value)),
            b"SKIPME" => match &value.to_ascii_lowercase()[..] {
                b"yes" => k.skipme = true,
                b"no" => k.skipme = false,
                _ => return Err(super::keycmd::SYNTAX.into()),
            },
            _ => return Err(super::keycmd::SYNTAX.into()),
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ClientInfo {
        let addr = "127.0.0.1:5000".parse().ok();
        let laddr = "127.0.0.1:6379".parse().ok();
        ClientInfo::new(7, addr, laddr, 12, "default")
    }

    #[test]
    fn the_line_has_redis_fields_in_order() {
        let c = info();
        c.set_name(Some(b"worker"));
        let names = crate::introspect::stat_names();
        let list = names.iter().position(|n| n == "client|list").unwrap();
        let mut line = String::new();
        c.line(1024, &mut line);
        assert!(line.contains(" cmd=NULL "), "{line}");
        c.command(list as u16);
        line.clear();
        c.line(1024, &mut line);
        let fields: Vec<&str> = line
            .trim_end()
            .split(' ')
            .map(|f| f.split('=').next().unwrap())
            .collect();
        let redis = "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free \
                     argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp";
        assert_eq!(fields, redis.split(' ').collect::<Vec<_>>());
        assert!(
            line.starts_with("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=12 name=worker ")
        );
        assert!(
            line.ends_with("cmd=client|list user=default redir=-1 resp=2\n"),
            "{line}"
        );
    }

    #[test]
    fn ipv6_addresses_have_no_brackets() {
        assert_eq!(address("[::1]:80".parse().ok()), "::1:80");
    }

    #[test]
    fn kill_filters_parse_as_redis() {
        let k = parse_kill(&[b"1.2.3.4:5"]).unwrap();
        assert!(k.old_form && !k.skipme);
        let k = parse_kill(&[b"id", b"3", b"skipme", b"NO"]).unwrap();
        assert_eq!(k.filter.ids, Some(vec![3]));
        assert!(!k.skipme);
        assert_eq!(
            parse_kill(&[b"id", b"x"]).err().unwrap(),
            "ERR client-id should be greater than 0"
        );
        assert_eq!(
            parse_kill(&[b"id", b"1", b"id"]).err().unwrap(),
            "ERR syntax error"
        );
        assert_eq!(
            parse_kill(&[b"type", b"foo"]).err().unwrap(),
            "ERR Unknown client type 'foo'"
        );
        assert_eq!(
            parse_kill(&[b"maxage", b"5"]).err().unwrap(),
            "ERR syntax error"
        );
        assert!(parse_kill(&[b"type", b"pubsub"]).unwrap().filter.no_normal);
    }

    #[test]
    fn filters_match_by_every_criterion() {
        let c = info();
        let mut f = parse_list(&[b"type", b"normal", b"id", b"7", b"9"]).unwrap();
        assert!(f.matches(&c));
        f.skip = Some(7);
        assert!(!f.matches(&c));
        let f = Filter {
            addr: Some("127.0.0.1:5000".into()),
            user: Some("other".into()),
            ..Filter::default()
        };
        assert!(!f.matches(&c));
        assert_eq!(
            parse_list(&[b"id", b"x"]).err().unwrap(),
            "ERR Invalid client ID"
        );
        assert_eq!(parse_list(&[b"type"]).err().unwrap(), "ERR syntax error");
    }
}
