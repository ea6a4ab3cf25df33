//! Single-key operations and their outcomes: what both protocols' key
//! commands reduce to once routed to the owning partition.

use super::coll::zset::ZSetCmd;
use super::coll::{self, hash::HashCmd, list::ListCmd, set::SetCmd, Kind};
use super::expiry::Expiry;
use super::store::Store;
use crate::resp::encode::Proto;

/// What a write does to the key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlMode {
    /// Remove any TTL (a plain `SET`/`PUT`).
    Clear,
    /// Leave it as it is (`KEEPTTL`; `GETEX` without options).
    Keep,
    /// Expire at this unix time in milliseconds.
    At(u64),
}

/// How `SET` behaves when the key exists (`NX`) or not (`XX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCond {
    Always,
    IfAbsent,
    IfPresent,
}

/// `EXPIRE`'s conditions on the key's current TTL (`NX`, `XX`, `GT`, `LT`;
/// Redis allows `XX` with `GT` or `LT`). No TTL counts as an infinite one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireCond {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

impl ExpireCond {
    /// No condition: a plain `EXPIRE`.
    pub const ALWAYS: Self = Self {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
    };

    /// True if a new deadline `at` may replace `current` (`None`: no TTL).
    fn allows(self, at: u64, current: Option<u64>) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| at <= c)
            || self.lt && current.is_some_and(|c| at >= c))
    }
}

/// One operation on one key. The value (for writes) travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// The value, or absent.
    Get,
    /// `MGET`'s part: the value, absent also for a key of another type.
    MGet,
    /// Store the value; answers plain Ok (text `PUT`, RESP `SET`/`MSET`).
    Put,
    /// Remove; answers plain Ok (text `DEL`).
    Remove,
    /// Remove; answers 1 if it existed, else 0 (RESP `DEL`/`UNLINK`).
    Del,
    /// `SET` with options: `get` returns the old value instead of Ok.
    Set {
        cond: SetCond,
        get: bool,
        ttl: TtlMode,
    },
    /// `SETNX`: 1 if set, 0 if the key existed.
    SetNx,
    /// Return the value and remove the key.
    GetDel,
    /// 1 if the key exists, else 0.
    Exists,
    /// Add to the integer value (absent = 0); answers the new value.
    IncrBy(i64),
    /// Append to the value (absent = empty); answers the new length.
    Append,
    /// Length of the value (absent = 0).
    Strlen,
    /// `string` or `none`.
    Type,
    /// Register a watch on the key for this connection's id; answers Ok.
    Watch(u64),
    /// Expire at a unix time (ms) if the condition holds; 1 if it was set
    /// (a past deadline deletes the key now), 0 if the condition failed,
    /// absent if there is no key.
    Expire(u64, ExpireCond),
    /// Remove the TTL: 1 if there was one, 0 if not, absent otherwise.
    Persist,
    /// Time left: -1 without TTL, absent (-2) if no key; seconds (rounded)
    /// or, with `ms`, milliseconds.
    Ttl { ms: bool },
    /// The deadline: -1 without TTL, absent (-2) if no key; unix seconds
    /// or, with `ms`, milliseconds (`EXPIRETIME`/`PEXPIRETIME`).
    ExpireTime { ms: bool },
    /// The value, changing the TTL as asked (`GETEX`).
    GetEx(TtlMode),
    /// `GETEX` with a time Redis refuses: nil if there is no key, else this
    /// error (Redis checks the time after looking the key up).
    GetExRefused(&'static str),
    /// `GETRANGE`/`SUBSTR start end`: the bytes in that range (negative
    /// indexes count from the end); empty if none or no key.
    GetRange(i64, i64),
    /// `SETRANGE`: write the value at this offset, zero padded; answers
    /// the new length. Keeps the TTL.
    SetRange(u64),
    /// `INCRBYFLOAT`: add the value (a float's text) to the float value
    /// (absent = 0); answers the new value as text. Keeps the TTL.
    IncrByFloat,
    /// `SETBIT`: set or clear the bit at `offset` (`on: None`: the bit
    /// argument was not 0 or 1, an error once the offset is checked);
    /// answers the old bit. Keeps the TTL.
    SetBit { offset: u64, on: Option<bool> },
    /// `GETBIT`: the bit at this offset (0 past the end or without key).
    GetBit(u64),
    /// `BITCOUNT`: set bits from `start` to `end` (inclusive, negative
    /// from the end), in bytes or, with `bits`, in bits.
    BitCount { start: i64, end: i64, bits: bool },
    /// `BITPOS`: the first `bit` in the range (`end_given`: the range ends
    /// where the client said, not at the end of the value).
    BitPos {
        bit: bool,
        start: i64,
        end: i64,
        bits: bool,
        end_given: bool,
    },
    /// `BITCOUNT`/`BITPOS` with arguments Redis refuses once it found the
    /// key (Redis 7.0 looks the key up first): `missing` if there is no
    /// key, else this error.
    BitRefused { missing: i64, error: &'static str },
    /// 1 if the key exists, else 0; marks it used (`TOUCH`).
    Touch,
    /// `RENAME`/`RENAMENX` (`nx`): the value is the destination key.
    Rename { nx: bool },
    /// `COPY` (`replace`): the value is the destination key.
    Copy { replace: bool },
    /// `BITOP` into this key; the value packs the source keys.
    BitOp(super::movekey::BitOp),
    /// Holds the key for a handoff transaction (exclusive lock); does
    /// nothing when run.
    Lock,
    /// A hash command; its arguments travel packed as the value.
    Hash(HashCmd),
    /// A list command; its arguments travel packed as the value (the other
    /// keys of `LMOVE`/`LMPOP`, as `pack_keys` packs them).
    List(ListCmd),
    /// A set command; its arguments travel packed as the value (the other
    /// keys of a command on several sets, as `pack_keys` packs them).
    SetType(SetCmd),
    /// A sorted-set command; its arguments travel packed as the value (the
    /// other keys of a command on several keys, as `pack_keys` packs them).
    ZSetType(ZSetCmd),
    /// Stores a collection written out by `coll::dump` (the value), with
    /// this TTL (a handoff transaction's writes).
    Restore(TtlMode),
}

impl OpKind {
    /// True if the operation compares a deadline with the clock even when
    /// no key has a TTL yet.
    pub fn sets_deadline(self) -> bool {
        matches!(
            self,
            Self::Expire(..)
                | Self::Set {
                    ttl: TtlMode::At(_),
                    ..
                }
                | Self::GetEx(TtlMode::At(_))
                | Self::Restore(TtlMode::At(_))
        )
    }

    /// True for string commands that a key of another type answers with
    /// WRONGTYPE.
    #[inline]
    pub fn string_only(self) -> bool {
        matches!(
            self,
            Self::Get
                | Self::GetDel
                | Self::IncrBy(_)
                | Self::Append
                | Self::Strlen
                | Self::GetEx(_)
                | Self::GetExRefused(_)
                | Self::GetRange(..)
                | Self::SetRange(_)
                | Self::IncrByFloat
                | Self::SetBit { .. }
                | Self::GetBit(_)
                | Self::BitCount { .. }
                | Self::BitPos { .. }
                | Self::BitRefused { .. }
                | Self::Set { get: true, .. }
        )
    }

    /// True if the operation touches keys besides its own (a move or
    /// combine operation: `movekey::extra_keys`).
    #[inline]
    pub fn has_extra_keys(self) -> bool {
        match self {
            Self::Rename { .. } | Self::Copy { .. } | Self::BitOp(_) => true,
            Self::SetType(cmd) => cmd.is_multi(),
            Self::List(cmd) => cmd.is_multi(),
            Self::ZSetType(cmd) => cmd.is_multi(),
            _ => false,
        }
    }

    /// True if the operation's work is bounded apart from copying its value
    /// in or out (no scan of a value, no growth of one): a command made of
    /// one such operation is timed with its neighbours for its statistics
    /// (`introspect::timing`).
    pub fn is_quick(self) -> bool {
        match self {
            Self::Hash(cmd) => return cmd.is_quick(),
            Self::SetType(cmd) => return cmd.is_quick(),
            Self::List(cmd) => return cmd.is_quick(),
            Self::ZSetType(cmd) => return cmd.is_quick(),
            _ => {}
        }
        matches!(
            self,
            Self::Get
                | Self::MGet
                | Self::Put
                | Self::Remove
                | Self::Del
                | Self::Set { .. }
                | Self::SetNx
                | Self::GetDel
                | Self::Exists
                | Self::IncrBy(_)
                | Self::Strlen
                | Self::Type
                | Self::Watch(_)
                | Self::Expire(..)
                | Self::Persist
                | Self::Ttl { .. }
                | Self::ExpireTime { .. }
                | Self::GetEx(_)
                | Self::GetExRefused(_)
                | Self::GetRange(..)
                | Self::GetBit(_)
                | Self::BitRefused { .. }
                | Self::Touch
        )
    }

    /// True if the operation never changes the store.
    pub fn is_read(self) -> bool {
        match self {
            Self::Hash(cmd) => return cmd.is_read(),
            Self::SetType(cmd) => return cmd.is_read(),
            Self::List(cmd) => return cmd.is_read(),
            Self::ZSetType(cmd) => return cmd.is_read(),
            _ => {}
        }
        matches!(
            self,
            Self::Get
                | Self::MGet
                | Self::Exists
                | Self::Strlen
                | Self::Type
                | Self::Watch(_)
                | Self::Ttl { .. }
                | Self::ExpireTime { .. }
                | Self::GetRange(..)
                | Self::GetBit(_)
                | Self::BitCount { .. }
                | Self::BitPos { .. }
                | Self::BitRefused { .. }
                | Self::Touch
        )
    }
}

/// What an operation produced, before encoding for a protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    Ok,
    /// A value, or none (text: "key not found"; RESP: nil).
    Value(Option<&'a [u8]>),
    /// A string computed from the value (a range, a float's text): a
    /// bulk string, neither a hit nor a miss.
    Bulk(&'a [u8]),
    /// An owned value (the old value of `GETDEL`/`SET … GET`).
    Owned(Option<Box<[u8]>>),
    Int(i64),
    /// A short status word (RESP `+word`).
    Status(&'static str),
    /// A failure of the operation itself; RESP `-<text>`.
    Error(&'static str),
    /// `SET NX/XX` whose condition failed: RESP nil.
    NotSet,
    /// No such key, for commands whose RESP reply is then an integer
    /// (`EXPIRE` 0, `TTL` -2); the text protocol answers "key not found".
    Absent(i64),
    /// A write refused because it would pass the memory limit.
    OutOfMemory,
    /// A string command on a key of this other type.
    WrongType(Kind),
    /// The reply is already encoded, in the partition's reply buffer
    /// (collection commands: arrays, maps, …).
    Raw,
}

impl Outcome<'_> {
    /// The number a summed reply adds (`DEL`/`EXISTS` over several keys:
    /// 1 or 0 per key); 0 for outcomes that are not counts.
    pub fn count(&self) -> i64 {
        match self {
            Self::Int(n) | Self::Absent(n) => *n,
            _ => 0,
        }
    }
}

pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";

/// What an operation may touch besides the value: TTLs, the clock, and a
/// callback for keys it (may have) modified, so watches can be invalidated.
pub struct Env<'a> {
    pub expiry: &'a mut Expiry,
    pub now: u64,
    pub touched: &'a mut dyn FnMut(&[u8]),
    /// Where collection commands encode their replies ([`Outcome::Raw`]),
    /// in this RESP version.
    pub reply: &'a mut Vec<u8>,
    pub proto: Proto,
    /// When collections change form.
    pub limits: coll::Limits,
    /// State of the partition's random numbers (`HRANDFIELD`, `SPOP`).
    pub rng: &'a mut u64,
}

/// Runs `kind` on `key`. The caller has already removed the key if its TTL
/// had passed.
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    kind: OpKind,
    key: &[u8],
    value: &[u8],
) -> Outcome<'s> {
    if store.has_collections() && kind.string_only() {
        match store.kind(key) {
            None | Some(Kind::String) => {}
            Some(other) => return Outcome::WrongType(other),
        }
    }
    match kind {
        OpKind::Get | OpKind::MGet => Outcome::Value(store.get(key)),
        OpKind::Exists => Outcome::Int(i64::from(store.contains(key))),
        OpKind::Strlen => Outcome::Int(store.get(key).map_or(0, |v| v.len() as i64)),
        OpKind::Type => Outcome::Status(store.kind(key).map_or("none", Kind::name)),
        OpKind::Hash(cmd) => coll::hash::execute(store, env, cmd, key, value),
        OpKind::SetType(cmd) => coll::set::execute(store, env, cmd, key, value),
        OpKind::List(cmd) => coll::list::execute(store, env, cmd, key, value),
        OpKind::ZSetType(cmd) => coll::zset::execute(store, env, cmd, key, value),
        OpKind::Restore(ttl) => {
            (env.touched)(key);
            if coll::is_dump(value) {
                store.insert_entry(key, coll::restore(key, value));
            }
            match ttl {
                TtlMode::At(at) => env.expiry.set(key, at),
                _ => {
                    env.expiry.clear(key);
                }
            }
            Outcome::Ok
        }
        OpKind::Put => {
            (env.touched)(key);
            store.put(key, value);
            env.expiry.clear(key);
            Outcome::Ok
        }
        OpKind::Remove => {
            remove(store, env, key);
            Outcome::Ok
        }
        OpKind::Del => Outcome::Int(i64::from(remove(store, env, key))),
        OpKind::GetDel => {
            let old = store.get(key).map(Box::from);
            if old.is_some() {
                remove(store, env, key);
            }
            Outcome::Owned(old)
        }
        OpKind::SetNx => {
            if store.contains(key) {
                return Outcome::Int(0);
            }
            (env.touched)(key);
            store.put(key, value);
            Outcome::Int(1)
        }
        OpKind::Set { cond, get, ttl } => set(store, env, key, value, (cond, get, ttl)),
        // Watches live beside the store; the partition handles them.
        OpKind::Watch(_) => Outcome::Ok,
        OpKind::IncrBy(by) => incr_by(store, env, key, by),
        OpKind::Append => {
            (env.touched)(key);
            Outcome::Int(store.append(key, value) as i64)
        }
        OpKind::Expire(at, cond) => {
            if !store.contains(key) {
                return Outcome::Absent(0);
            }
            if !cond.allows(at, env.expiry.deadline(key)) {
                return Outcome::Int(0);
            }
            if at <= env.now {
                remove(store, env, key);
            } else {
                (env.touched)(key);
                env.expiry.set(key, at);
            }
            Outcome::Int(1)
        }
        OpKind::Persist => {
            if !store.contains(key) {
                return Outcome::Absent(0);
            }
            let had = env.expiry.clear(key);
            if had {
                (env.touched)(key);
            }
            Outcome::Int(i64::from(had))
        }
        OpKind::Ttl { ms } => {
            if !store.contains(key) {
                return Outcome::Absent(-2);
            }
            match env.expiry.deadline(key) {
                None => Outcome::Int(-1),
                Some(at) => {
                    let left = at.saturating_sub(env.now);
                    // Seconds round to nearest, as Redis's TTL does.
                    let left = if ms { left } else { (left + 500) / 1000 };
                    Outcome::Int(left as i64)
                }
            }
        }
        OpKind::ExpireTime { ms } => {
            if !store.contains(key) {
                return Outcome::Absent(-2);
            }
            match env.expiry.deadline(key) {
                None => Outcome::Int(-1),
                Some(at) => Outcome::Int((if ms { at } else { at / 1000 }) as i64),
            }
        }
        OpKind::GetEx(mode) => get_ex(store, env, key, mode),
        OpKind::GetExRefused(error) => match store.get(key) {
            None => Outcome::Value(None),
            Some(_) => Outcome::Error(error),
        },
        OpKind::Rename { .. } | OpKind::Copy { .. } | OpKind::BitOp(_) | OpKind::Lock => {
            super::movekey::execute(store, env, kind, key, value)
        }
        _ => super::string_ops::execute(store, env, kind, key, value),
    }
}

/// Deletes `key` and its TTL; true if it existed.
fn remove(store: &mut Store, env: &mut Env<'_>, key: &[u8]) -> bool {
    let existed = store.del(key);
    if existed {
        (env.touched)(key);
        env.expiry.clear(key);
    }
    existed
}

fn get_ex<'s>(store: &'s mut Store, env: &mut Env<'_>, key: &[u8], mode: TtlMode) -> Outcome<'s> {
    let Some(value) = store.get(key).map(Box::from) else {
        return Outcome::Value(None);
    };
    match mode {
        TtlMode::Keep => {}
        TtlMode::Clear => {
            if env.expiry.clear(key) {
                (env.touched)(key);
            }
        }
        TtlMode::At(at) if at <= env.now => {
            remove(store, env, key);
        }
        TtlMode::At(at) => {
            (env.touched)(key);
            env.expiry.set(key, at);
        }
    }
    Outcome::Owned(Some(value))
}

fn set<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    value: &[u8],
    (cond, get, ttl): (SetCond, bool, TtlMode),
) -> Outcome<'s> {
    let old = store.get(key);
    // Any type counts as present (a `GET` of another type was refused).
    let present = old.is_some() || store.is_collection(key);
    let allowed = match cond {
        SetCond::Always => true,
        SetCond::IfAbsent => !present,
        SetCond::IfPresent => present,
    };
    let old = if get { old.map(Box::from) } else { None };
    if allowed {
        (env.touched)(key);
        store.put(key, value);
        match ttl {
            TtlMode::Clear => {
                env.expiry.clear(key);
            }
            TtlMode::Keep => {}
            TtlMode::At(at) if at <= env.now => {
                remove(store, env, key);
            }
            TtlMode::At(at) => env.expiry.set(key, at),
        }
    }
    match (get, allowed) {
        (true, _) => Outcome::Owned(old),
        (false, true) => Outcome::Ok,
        (false, false) => Outcome::NotSet,
    }
}

fn incr_by<'s>(store: &'s mut Store, env: &mut Env<'_>, key: &[u8], by: i64) -> Outcome<'s> {
    let current = match store.get(key) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return Outcome::Error(NOT_INTEGER),
        },
    };
    let Some(new) = current.checked_add(by) else {
        return Outcome::Error(OVERFLOW);
    };
    let mut buf = itoa::Buffer::new();
    (env.touched)(key);
    store.put(key, buf.format(new).as_bytes());
    Outcome::Int(new)
}

/// Parses a value as Redis does for `INCR`: decimal, optional `-`, no
/// spaces, no leading `+` or zeros, fits in an i64.
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0";
    if !canonical {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(
        store: &mut Store,
        expiry: &mut Expiry,
        now: u64,
        kind: OpKind,
        key: &str,
        value: &str,
    ) -> String {
        let mut touched = Vec::new();
        let mut on_touch = |k: &[u8]| touched.push(k.to_vec());
        let (mut reply, mut rng) = (Vec::new(), 1);
        let mut env = Env {
            expiry,
            now,
            touched: &mut on_touch,
            reply: &mut reply,
            proto: Proto::V2,
            limits: coll::Limits::default(),
            rng: &mut rng,
        };
        let out = execute(store, &mut env, kind, key.as_bytes(), value.as_bytes());
        let shown = format!("{out:?}");
        if kind.is_read() {
            assert!(touched.is_empty(), "a read touched the store");
        }
        shown
    }

    fn run(store: &mut Store, kind: OpKind, key: &str, value: &str) -> String {
        run_at(store, &mut Expiry::default(), 1_000, kind, key, value)
    }

    #[test]
    fn set_conditions_and_get() {
        let s = &mut Store::default();
        let nx = OpKind::Set {
            cond: SetCond::IfAbsent,
            get: false,
            ttl: TtlMode::Clear,
        };
        let xx = OpKind::Set {
            cond: SetCond::IfPresent,
            get: false,
            ttl: TtlMode::Clear,
        };
        assert_eq!(run(s, xx, "k", "1"), "NotSet");
        assert_eq!(run(s, nx, "k", "1"), "Ok");
        assert_eq!(run(s, nx, "k", "2"), "NotSet");
        assert_eq!(run(s, xx, "k", "3"), "Ok");
        let get = OpKind::Set {
            cond: SetCond::Always,
            get: true,
            ttl: TtlMode::Clear,
        };
        assert_eq!(
            run(s, get, "k", "4"),
            format!("{:?}", Outcome::Owned(Some(b"3"[..].into())))
        );
        assert_eq!(s.get(b"k"), Some(&b"4"[..]));
        assert_eq!(run(s, OpKind::SetNx, "k", "5"), "Int(0)");
        assert_eq!(run(s, OpKind::SetNx, "j", "5"), "Int(1)");
    }

    #[test]
    fn incr_rules() {
        let s = &mut Store::default();
        assert_eq!(run(s, OpKind::IncrBy(1), "n", ""), "Int(1)");
        assert_eq!(run(s, OpKind::IncrBy(-11), "n", ""), "Int(-10)");
        assert_eq!(s.get(b"n"), Some(&b"-10"[..]));
        s.put(b"n", &i64::MAX.to_string().into_bytes());
        assert_eq!(
            run(s, OpKind::IncrBy(1), "n", ""),
            format!("Error({OVERFLOW:?})")
        );
        for bad in [
            "abc",
            " 1",
            "1 ",
            "+1",
            "01",
            "-0",
            "",
            "1.5",
            "99999999999999999999",
        ] {
            s.put(b"n", bad.as_bytes());
            assert_eq!(
                run(s, OpKind::IncrBy(1), "n", ""),
                format!("Error({NOT_INTEGER:?})"),
                "{bad:?}"
            );
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn append_strlen_getdel_del_exists_type() {
        let s = &mut Store::default();
        assert_eq!(run(s, OpKind::Append, "a", "he"), "Int(2)");
        assert_eq!(run(s, OpKind::Append, "a", "llo"), "Int(5)");
        assert_eq!(run(s, OpKind::Strlen, "a", ""), "Int(5)");
        assert_eq!(run(s, OpKind::Strlen, "zz", ""), "Int(0)");
        assert_eq!(run(s, OpKind::Type, "a", ""), "Status(\"string\")");
        assert_eq!(run(s, OpKind::Exists, "a", ""), "Int(1)");
        assert_eq!(
            run(s, OpKind::GetDel, "a", ""),
            format!("{:?}", Outcome::Owned(Some(b"hello"[..].into())))
        );
        assert_eq!(run(s, OpKind::Type, "a", ""), "Status(\"none\")");
        assert_eq!(run(s, OpKind::Del, "a", ""), "Int(0)");
        assert_eq!(run(s, OpKind::Remove, "a", ""), "Ok");
    }

    #[test]
    fn ttls_set_read_clear_and_expire() {
        let (s, e) = (&mut Store::default(), &mut Expiry::default());
        let now = 10_000;
        assert_eq!(
            run_at(
                s,
                e,
                now,
                OpKind::Expire(now + 5_000, ExpireCond::ALWAYS),
                "k",
                ""
            ),
            "Absent(0)"
        );
        assert_eq!(
            run_at(s, e, now, OpKind::Ttl { ms: false }, "k", ""),
            "Absent(-2)"
        );
        let ex = OpKind::Set {
            cond: SetCond::Always,
            get: false,
            ttl: TtlMode::At(now + 1_500),
        };
        assert_eq!(run_at(s, e, now, ex, "k", "v"), "Ok");
        assert_eq!(
            run_at(s, e, now, OpKind::Ttl { ms: false }, "k", ""),
            "Int(2)"
        );
        assert_eq!(
            run_at(s, e, now, OpKind::Ttl { ms: true }, "k", ""),
            "Int(1500)"
        );
        // KEEPTTL keeps it; INCR-like writes keep it; a plain SET clears it.
        let keep = OpKind::Set {
            cond: SetCond::Always,
            get: false,
            ttl: TtlMode::Keep,
        };
        assert_eq!(run_at(s, e, now, keep, "k", "w"), "Ok");
        assert_eq!(e.deadline(b"k"), Some(now + 1_500));
        assert_eq!(run_at(s, e, now, OpKind::Append, "k", "x"), "Int(2)");
        assert_eq!(e.deadline(b"k"), Some(now + 1_500));
        assert_eq!(run_at(s, e, now, OpKind::Put, "k", "v"), "Ok");
        assert_eq!(
            run_at(s, e, now, OpKind::Ttl { ms: false }, "k", ""),
            "Int(-1)"
        );
        // EXPIRE, PERSIST.
        assert_eq!(
            run_at(
                s,
                e,
                now,
                OpKind::Expire(now + 100, ExpireCond::ALWAYS),
                "k",
                ""
            ),
            "Int(1)"
        );
        assert_eq!(run_at(s, e, now, OpKind::Persist, "k", ""), "Int(1)");
        assert_eq!(run_at(s, e, now, OpKind::Persist, "k", ""), "Int(0)");
        // A deadline in the past deletes at once.
        assert_eq!(
            run_at(s, e, now, OpKind::Expire(now, ExpireCond::ALWAYS), "k", ""),
            "Int(1)"
        );
        assert_eq!(s.get(b"k"), None);
        assert!(e.is_empty());
        // DEL forgets the TTL, so a new key of that name has none.
        run_at(s, e, now, ex, "d", "v");
        run_at(s, e, now, OpKind::Del, "d", "");
        run_at(s, e, now, OpKind::SetNx, "d", "v");
        assert_eq!(
            run_at(s, e, now, OpKind::Ttl { ms: true }, "d", ""),
            "Int(-1)"
        );
    }

    #[test]
    fn getex_changes_the_ttl_and_returns_the_value() {
        let (s, e) = (&mut Store::default(), &mut Expiry::default());
        let now = 500;
        run_at(s, e, now, OpKind::Put, "g", "v");
        let owned = format!("{:?}", Outcome::Owned(Some(b"v"[..].into())));
        assert_eq!(
            run_at(s, e, now, OpKind::GetEx(TtlMode::At(now + 9_000)), "g", ""),
            owned
        );
        assert_eq!(e.deadline(b"g"), Some(now + 9_000));
        assert_eq!(
            run_at(s, e, now, OpKind::GetEx(TtlMode::Keep), "g", ""),
            owned
        );
        assert_eq!(
            run_at(s, e, now, OpKind::GetEx(TtlMode::Clear), "g", ""),
            owned
        );
        assert!(e.is_empty());
        assert_eq!(
            run_at(s, e, now, OpKind::GetEx(TtlMode::At(now)), "g", ""),
            owned
        );
        assert_eq!(s.get(b"g"), None, "a past deadline deletes after returning");
        assert_eq!(
            run_at(s, e, now, OpKind::GetEx(TtlMode::Keep), "g", ""),
            "Value(None)"
        );
    }
}
