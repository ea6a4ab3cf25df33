//! Single-key operations and their outcomes: what both protocols' key
//! commands reduce to once routed to the owning partition.

use super::store::Store;

/// How `SET` behaves when the key exists (`NX`) or not (`XX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCond {
    Always,
    IfAbsent,
    IfPresent,
}

/// One operation on one key. The value (for writes) travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// The value, or absent.
    Get,
    /// Store the value; answers plain Ok (text `PUT`, RESP `SET`/`MSET`).
    Put,
    /// Remove; answers plain Ok (text `DEL`).
    Remove,
    /// Remove; answers 1 if it existed, else 0 (RESP `DEL`/`UNLINK`).
    Del,
    /// `SET` with options: `get` returns the old value instead of Ok.
    Set { cond: SetCond, get: bool },
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
}

impl OpKind {
    /// True if the operation never changes the store.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::Get | Self::Exists | Self::Strlen | Self::Type | Self::Watch(_)
        )
    }
}

/// What an operation produced, before encoding for a protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    Ok,
    /// A value, or none (text: "key not found"; RESP: nil).
    Value(Option<&'a [u8]>),
    /// An owned value (the old value of `GETDEL`/`SET … GET`).
    Owned(Option<Box<[u8]>>),
    Int(i64),
    /// A short status word (RESP `+word`).
    Status(&'static str),
    /// A failure of the operation itself; RESP `-<text>`.
    Error(&'static str),
    /// `SET NX/XX` whose condition failed: RESP nil.
    NotSet,
}

pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// Runs `kind` on `key`. `touched` is called with the key when the store
/// was (or may have been) modified, so watches can be invalidated.
pub fn execute<'s>(
    store: &'s mut Store,
    kind: OpKind,
    key: &[u8],
    value: &[u8],
    touched: &mut dyn FnMut(&[u8]),
) -> Outcome<'s> {
    match kind {
        OpKind::Get => Outcome::Value(store.get(key)),
        OpKind::Exists => Outcome::Int(i64::from(store.contains(key))),
        OpKind::Strlen => Outcome::Int(store.get(key).map_or(0, |v| v.len() as i64)),
        OpKind::Type => Outcome::Status(if store.contains(key) {
            "string"
        } else {
            "none"
        }),
        OpKind::Put => {
            touched(key);
            store.put(key, value);
            Outcome::Ok
        }
        OpKind::Remove => {
            if store.del(key) {
                touched(key);
            }
            Outcome::Ok
        }
        OpKind::Del => {
            let existed = store.del(key);
            if existed {
                touched(key);
            }
            Outcome::Int(i64::from(existed))
        }
        OpKind::GetDel => {
            let old = store.get(key).map(Box::from);
            if old.is_some() {
                store.del(key);
                touched(key);
            }
            Outcome::Owned(old)
        }
        OpKind::SetNx => {
            if store.contains(key) {
                return Outcome::Int(0);
            }
            touched(key);
            store.put(key, value);
            Outcome::Int(1)
        }
        OpKind::Set { cond, get } => set(store, key, value, cond, get, touched),
        // Watches live beside the store; the partition handles them.
        OpKind::Watch(_) => Outcome::Ok,
        OpKind::IncrBy(by) => incr_by(store, key, by, touched),
        OpKind::Append => {
            let mut new = store.get(key).map(<[u8]>::to_vec).unwrap_or_default();
            new.extend_from_slice(value);
            let len = new.len() as i64;
            touched(key);
            store.put(key, &new);
            Outcome::Int(len)
        }
    }
}

fn set<'s>(
    store: &'s mut Store,
    key: &[u8],
    value: &[u8],
    cond: SetCond,
    get: bool,
    touched: &mut dyn FnMut(&[u8]),
) -> Outcome<'s> {
    let old = store.get(key);
    let allowed = match cond {
        SetCond::Always => true,
        SetCond::IfAbsent => old.is_none(),
        SetCond::IfPresent => old.is_some(),
    };
    let old = if get { old.map(Box::from) } else { None };
    if allowed {
        touched(key);
        store.put(key, value);
    }
    match (get, allowed) {
        (true, _) => Outcome::Owned(old),
        (false, true) => Outcome::Ok,
        (false, false) => Outcome::NotSet,
    }
}

fn incr_by<'s>(
    store: &'s mut Store,
    key: &[u8],
    by: i64,
    touched: &mut dyn FnMut(&[u8]),
) -> Outcome<'s> {
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
    touched(key);
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

    fn run(store: &mut Store, kind: OpKind, key: &str, value: &str) -> String {
        let mut touched = Vec::new();
        let out = execute(store, kind, key.as_bytes(), value.as_bytes(), &mut |k| {
            touched.push(k.to_vec())
        });
        let shown = format!("{out:?}");
        if !kind.is_read() || !touched.is_empty() {
            assert!(!kind.is_read(), "a read touched the store");
        }
        shown
    }

    #[test]
    fn set_conditions_and_get() {
        let s = &mut Store::default();
        let nx = OpKind::Set {
            cond: SetCond::IfAbsent,
            get: false,
        };
        let xx = OpKind::Set {
            cond: SetCond::IfPresent,
            get: false,
        };
        assert_eq!(run(s, xx, "k", "1"), "NotSet");
        assert_eq!(run(s, nx, "k", "1"), "Ok");
        assert_eq!(run(s, nx, "k", "2"), "NotSet");
        assert_eq!(run(s, xx, "k", "3"), "Ok");
        let get = OpKind::Set {
            cond: SetCond::Always,
            get: true,
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
}
