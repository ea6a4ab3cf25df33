//! RESP key commands → partition operations: argument parsing with Redis
//! 7's rules, order of checks and error texts (the differential test in
//! `tests/differential.rs` holds them to a real `redis-server`).
//!
//! Redis checks a command's syntax first and its numbers after, and some
//! numbers only once the key was looked up (`GETEX`); each parser follows
//! the same order so the same bad request gets the same error.

use super::plan::Combine;
use super::resp::Args;
use crate::partition::{parse_i64, unix_ms, ExpireCond, OpKind, SetCond, TtlMode};
use std::borrow::Cow;

pub(super) const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub(super) const SYNTAX: &str = "ERR syntax error";

/// A key command reduced to partition operations.
pub(super) enum KeyCmd<'a> {
    One(OpKind, &'a [u8], &'a [u8]),
    /// One operation whose value packs several arguments (`coll::pack`).
    Packed(OpKind, &'a [u8], Vec<u8>),
    /// The same operation on several keys. `header` is an array length to
    /// write first (`MGET`); `then_ok` writes `+OK` after (`MSET`).
    Many {
        kind: OpKind,
        pairs: Vec<(&'a [u8], &'a [u8])>,
        combine: Combine,
        header: bool,
        then_ok: bool,
    },
    /// `MSETNX`: set all only if none exists.
    SetAllAbsent(Vec<(&'a [u8], &'a [u8])>),
}

/// A parsed key command, or the error Redis gives for its arguments.
pub(super) type Parsed<'a> = Result<KeyCmd<'a>, Cow<'static, str>>;

/// Parses a key command (arity already checked); `None` if `name` is not
/// one.
pub(super) fn key_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    let one = |kind| Some(Ok(KeyCmd::One(kind, args.get(1), &b""[..])));
    let with_value = |kind| Some(Ok(KeyCmd::One(kind, args.get(1), args.get(2))));
    let keys = |kind, combine, header| {
        Some(Ok(KeyCmd::Many {
            kind,
            pairs: args.iter().skip(1).map(|k| (k, &b""[..])).collect(),
            combine,
            header,
            then_ok: false,
        }))
    };
    // The most frequent first: a `match` on strings compares in order.
    match name {
        "get" => one(OpKind::Get),
        "set" => Some(set(args)),
        "getdel" => one(OpKind::GetDel),
        "strlen" => one(OpKind::Strlen),
        "type" => one(OpKind::Type),
        "incr" => one(OpKind::IncrBy(1)),
        "decr" => one(OpKind::IncrBy(-1)),
        "incrby" | "decrby" => Some(incr_by(name, args)),
        "append" => with_value(OpKind::Append),
        "setnx" => with_value(OpKind::SetNx),
        "setex" | "psetex" => Some(set_ex(args, name)),
        "getex" => Some(get_ex(args)),
        "expire" | "pexpire" | "expireat" | "pexpireat" => Some(expire(args, name)),
        "persist" => one(OpKind::Persist),
        "ttl" => one(OpKind::Ttl { ms: false }),
        "pttl" => one(OpKind::Ttl { ms: true }),
        "expiretime" => one(OpKind::ExpireTime { ms: false }),
        "pexpiretime" => one(OpKind::ExpireTime { ms: true }),
        "mget" => keys(OpKind::MGet, Combine::Each, true),
        "exists" => keys(OpKind::Exists, Combine::Sum, false),
        "del" | "unlink" => keys(OpKind::Del, Combine::Sum, false),
        "mset" | "msetnx" => Some(mset(args, name)),
        _ => super::strcmd::string_command(name, args)
            .or_else(|| super::collcmd::coll_command(name, args))
            .or_else(|| super::zsetcmd::zset_command(name, args)),
    }
}

fn mset<'a>(args: Args<'a>, name: &str) -> Parsed<'a> {
    if args.len() % 2 == 0 {
        return Err(format!("ERR wrong number of arguments for '{name}' command").into());
    }
    let pairs = (1..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect();
    Ok(if name == "mset" {
        KeyCmd::Many {
            kind: OpKind::Put,
            pairs,
            combine: Combine::Drop,
            header: false,
            then_ok: true,
        }
    } else {
        KeyCmd::SetAllAbsent(pairs)
    })
}

fn incr_by<'a>(name: &str, args: Args<'a>) -> Parsed<'a> {
    let by = parse_i64(args.get(2)).ok_or(NOT_INTEGER)?;
    let by = if name == "decrby" {
        by.checked_neg().ok_or("ERR decrement would overflow")?
    } else {
        by
    };
    Ok(KeyCmd::One(OpKind::IncrBy(by), args.get(1), b""))
}

/// A TTL option of `SET`/`GETEX`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// The options of `SET` (`for_set`) or `GETEX`, syntax only, as Redis's
/// `parseExtendedStringArgumentsOrReply` checks them: a repeated option is
/// fine, a contradicting one or one of the other command is a syntax error.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(Unit, &'a [u8])>,
}

fn string_options(
    args: Args<'_>,
    first: usize,
    for_set: bool,
) -> Result<StringOptions<'_>, &'static str> {
    let mut o = StringOptions::default();
    let mut i = first;
    while i < args.len() {
        let opt = args.get(i).to_ascii_uppercase();
        let next = (i + 1 < args.len()).then(|| args.get(i + 1));
        let unit = o.expire.map(|(u, _)| u);
        // A TTL option may repeat itself but not follow another one.
        let other_ttl = |me| o.keepttl || o.persist || unit.is_some_and(|u| u != me);
        match &opt[..] {
            b"NX" if for_set && !o.xx => o.nx = true,
            b"XX" if for_set && !o.nx => o.xx = true,
            b"GET" if for_set => o.get = true,
            b"KEEPTTL" if for_set && !o.persist && unit.is_none() => o.keepttl = true,
            b"PERSIST" if !for_set && !o.keepttl && unit.is_none() => o.persist = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" => {
                let me = match &opt[..] {
                    b"EX" => Unit::Ex,
                    b"PX" => Unit::Px,
                    b"EXAT" => Unit::ExAt,
                    _ => Unit::PxAt,
                };
                match next {
                    Some(arg) if !other_ttl(me) => o.expire = Some((me, arg)),
                    _ => return Err(SYNTAX),
                }
                i += 1;
            }
            _ => return Err(SYNTAX),
        }
        i += 1;
    }
    Ok(o)
}

/// The unix-ms deadline of a TTL option, with Redis's checks
/// (`getExpireMillisecondsOrReply`): a number, positive, and no overflow
/// once converted to milliseconds and (for relative ones) added to now.
fn deadline(unit: Unit, arg: &[u8], cmd: &str) -> Result<u64, &'static str> {
    let n = parse_i64(arg).ok_or(NOT_INTEGER)?;
    let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid_expire(cmd));
    }
    let ms = if seconds { n * 1000 } else { n };
    let at = match unit {
        Unit::Ex | Unit::Px => ms.checked_add(unix_ms() as i64),
        Unit::ExAt | Unit::PxAt => Some(ms),
    };
    at.filter(|&at| at > 0)
        .map(|at| at as u64)
        .ok_or(invalid_expire(cmd))
}

fn invalid_expire(cmd: &str) -> &'static str {
    match cmd {
        "set" => "ERR invalid expire time in 'set' command",
        "setex" => "ERR invalid expire time in 'setex' command",
        "psetex" => "ERR invalid expire time in 'psetex' command",
        "getex" => "ERR invalid expire time in 'getex' command",
        "expire" => "ERR invalid expire time in 'expire' command",
        "pexpire" => "ERR invalid expire time in 'pexpire' command",
        "expireat" => "ERR invalid expire time in 'expireat' command",
        "pexpireat" => "ERR invalid expire time in 'pexpireat' command",
        _ => "ERR invalid expire time",
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts|KEEPTTL]`.
fn set(args: Args<'_>) -> Parsed<'_> {
    if args.len() == 3 {
        return Ok(KeyCmd::One(OpKind::Put, args.get(1), args.get(2)));
    }
    let o = string_options(args, 3, true)?;
    let cond = match (o.nx, o.xx) {
        (true, _) => SetCond::IfAbsent,
        (_, true) => SetCond::IfPresent,
        _ => SetCond::Always,
    };
    let ttl = match o.expire {
        Some((unit, arg)) => TtlMode::At(deadline(unit, arg, "set")?),
        None if o.keepttl => TtlMode::Keep,
        None => TtlMode::Clear,
    };
    let kind = match (cond, o.get, ttl) {
        (SetCond::Always, false, TtlMode::Clear) => OpKind::Put,
        (cond, get, ttl) => OpKind::Set { cond, get, ttl },
    };
    Ok(KeyCmd::One(kind, args.get(1), args.get(2)))
}

/// `SETEX key seconds value` / `PSETEX key ms value`.
fn set_ex<'a>(args: Args<'a>, name: &str) -> Parsed<'a> {
    let unit = if name == "setex" { Unit::Ex } else { Unit::Px };
    let at = deadline(unit, args.get(2), name)?;
    let kind = OpKind::Set {
        cond: SetCond::Always,
        get: false,
        ttl: TtlMode::At(at),
    };
    Ok(KeyCmd::One(kind, args.get(1), args.get(3)))
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ts|PERSIST]`. A bad time is only an
/// error if the key exists: Redis looks the key up first.
fn get_ex(args: Args<'_>) -> Parsed<'_> {
    let o = string_options(args, 2, false)?;
    let kind = match o.expire {
        Some((unit, arg)) => match deadline(unit, arg, "getex") {
            Ok(at) => OpKind::GetEx(TtlMode::At(at)),
            Err(e) => OpKind::GetExRefused(e),
        },
        None if o.persist => OpKind::GetEx(TtlMode::Clear),
        None => OpKind::GetEx(TtlMode::Keep),
    };
    Ok(KeyCmd::One(kind, args.get(1), b""))
}

/// `EXPIRE`/`PEXPIRE key time` (relative) and `EXPIREAT`/`PEXPIREAT key
/// unix-time`, with `NX|XX|GT|LT`. Redis checks the options first, then the
/// number, then overflow (so a huge negative time is an error, not a
/// delete); a time at or before now deletes the key.
fn expire<'a>(args: Args<'a>, name: &str) -> Parsed<'a> {
    let cond = expire_cond(args)?;
    let n = parse_i64(args.get(2)).ok_or(NOT_INTEGER)?;
    let invalid = || invalid_expire(name);
    let mut when = n;
    if matches!(name, "expire" | "expireat") {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&n) {
            return Err(invalid().into());
        }
        when *= 1000;
    }
    let base = if name.ends_with("at") {
        0
    } else {
        unix_ms() as i64
    };
    if when > i64::MAX - base {
        return Err(invalid().into());
    }
    // Any time before the epoch is as past as the epoch.
    let at = (when + base).max(0) as u64;
    Ok(KeyCmd::One(OpKind::Expire(at, cond), args.get(1), b""))
}

/// `EXPIRE`'s options, as Redis's `parseExtendedExpireArgumentsOrReply`.
fn expire_cond(args: Args<'_>) -> Result<ExpireCond, Cow<'static, str>> {
    let mut c = ExpireCond::ALWAYS;
    for opt in args.iter().skip(3) {
        match &opt.to_ascii_uppercase()[..] {
            b"NX" => c.nx = true,
            b"XX" => c.xx = true,
            b"GT" => c.gt = true,
            b"LT" => c.lt = true,
            _ => {
                let opt = String::from_utf8_lossy(c_string(opt));
                return Err(format!("ERR Unsupported option {opt}").into());
            }
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if c.gt && c.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(c)
}

/// The bytes before the first NUL: what Redis's `%s` prints of an
/// argument in an error message.
pub(super) fn c_string(arg: &[u8]) -> &[u8] {
    &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())]
}

/// Redis's error for an unknown command: the name and the arguments (as
/// C strings), 128 bytes of each at most and about 128 of arguments in all.
pub(super) fn unknown_command(args: Args<'_>) -> String {
    let name = c_string(args.get(0));
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    let mut list = Vec::new();
    for arg in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let arg = c_string(arg);
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&arg[..arg.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    format!(
        "ERR unknown command '{name}', with args beginning with: {}",
        String::from_utf8_lossy(&list)
    )
}
