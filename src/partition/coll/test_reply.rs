//! The RESP replies the collection unit tests decode (`set_tests`,
//! `zset_tests`, `list_tests`): every type their commands answer, in RESP2
//! and RESP3.

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP3's double (`,`), as its text.
    Double(String),
    /// RESP2's null bulk string (`$-1`) or RESP3's `_`.
    Null,
    /// RESP2's null array (`*-1`).
    NullArray,
    Array(Vec<Reply>),
    /// RESP3's set (`~`).
    Set(Vec<Reply>),
    Error(String),
}

impl Reply {
    /// The bulk strings of an array or set reply.
    pub fn items(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Array(items) | Self::Set(items) => items
                .iter()
                .map(|r| match r {
                    Self::Bulk(b) => b.clone(),
                    other => panic!("not a bulk string: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The bulk strings of an array or set reply, sorted.
    pub fn sorted(&self) -> Vec<Vec<u8>> {
        let mut items = self.items();
        items.sort();
        items
    }
}

/// An array of bulk strings.
pub fn bulks(items: &[Vec<u8>]) -> Reply {
    Reply::Array(items.iter().cloned().map(Reply::Bulk).collect())
}

/// An error reply.
pub fn error(mesg: &str) -> Reply {
    Reply::Error(mesg.to_string())
}

/// Decodes one RESP value at the start of `buf`: it and its length.
pub fn parse(buf: &[u8]) -> (Reply, usize) {
    let eol = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a complete line");
    let line = std::str::from_utf8(&buf[1..eol]).expect("ASCII header");
    let after = eol + 2;
    match buf[0] {
        b'+' if line == "OK" => (Reply::Ok, after),
        b':' => (Reply::Int(line.parse().expect("integer")), after),
        b'_' => (Reply::Null, after),
        b',' => (Reply::Double(line.to_string()), after),
        b'-' => (Reply::Error(line.to_string()), after),
        b'$' if line == "-1" => (Reply::Null, after),
        b'*' if line == "-1" => (Reply::NullArray, after),
        b'$' => {
            let n: usize = line.parse().expect("length");
            (Reply::Bulk(buf[after..after + n].to_vec()), after + n + 2)
        }
        b'*' | b'~' => {
            let n: usize = line.parse().expect("count");
            let mut at = after;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let (item, used) = parse(&buf[at..]);
                items.push(item);
                at += used;
            }
            let reply = if buf[0] == b'~' {
                Reply::Set(items)
            } else {
                Reply::Array(items)
            };
            (reply, at)
        }
        other => panic!("unexpected RESP type {:?}", other as char),
    }
}
