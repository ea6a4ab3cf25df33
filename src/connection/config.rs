//! `CONFIG GET`/`CONFIG SET` of the live per-client limits, with Redis's
//! names, formats and error messages. A `CONFIG SET` of several settings
//! applies all of them or none.

use crate::clients::{
    fd_limit, ClientLimits, MaxmemoryClients, OutputLimit, MIN_PROTO_MAX_BULK_LEN,
};
use crate::config::parse_size;

/// The settings `CONFIG GET` reports from the live limits.
pub fn get(limits: &ClientLimits) -> Vec<(&'static str, String)> {
    let o = limits.output();
    vec![
        ("maxclients", limits.maxclients().to_string()),
        ("timeout", limits.timeout_secs().to_string()),
        (
            "client-output-buffer-limit",
            format!(
                "normal {} {} {} slave 268435456 67108864 60 pubsub 33554432 8388608 60",
                o.hard, o.soft, o.soft_secs
            ),
        ),
        ("proto-max-bulk-len", limits.max_value().to_string()),
        ("maxmemory-clients", limits.maxmemory_clients().to_string()),
    ]
}

/// One parsed setting, applied only once every one of them parsed.
enum Change {
    MaxClients(usize),
    Timeout(u64),
    Output(Option<OutputLimit>),
    MaxValue(usize),
    MaxmemoryClients(MaxmemoryClients),
}

/// Applies `CONFIG SET name value [name value …]`; the error is Redis's.
pub fn set(limits: &ClientLimits, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
    let mut changes = Vec::with_capacity(pairs.len());
    let mut seen: Vec<String> = Vec::new();
    for &(name, value) in pairs {
        // Redis names the argument as given, except in a value's error.
        let given = String::from_utf8_lossy(name);
        let name = given.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value);
        let failed = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        if seen.contains(&name) {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{given}') - duplicate parameter"
            ));
        }
        let change = match name.as_str() {
            "maxclients" => {
                int_in(&value, 1, u64::from(u32::MAX)).and_then(|n| maxclients(limits, n))
            }
            "timeout" => int_in(&value, 0, i32::MAX as u64).map(Change::Timeout),
            "client-output-buffer-limit" => output_limit(&value).map(Change::Output),
            "proto-max-bulk-len" => bulk_len(&value).map(Change::MaxValue),
            "maxmemory-clients" => MaxmemoryClients::parse(&value).map(Change::MaxmemoryClients),
            _ => {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{given}'"
                ))
            }
        };
        let change = change.map_err(|why| failed(&why))?;
        changes.push(change);
        seen.push(name);
    }
    for change in changes {
        match change {
            Change::MaxClients(n) => limits.set_maxclients(n),
            Change::Timeout(s) => limits.set_timeout_secs(s),
            Change::Output(Some(o)) => limits.set_output(o),
            Change::Output(None) => {}
            Change::MaxValue(n) => limits.set_max_value(n),
            Change::MaxmemoryClients(m) => limits.set_maxmemory_clients(m),
        }
    }
    Ok(())
}

/// As Redis: raises the open-files limit to fit `n` clients plus the
/// server's own descriptors, or refuses `n` (naming what would fit) and
/// keeps the old value; the raised limit stays.
fn maxclients(limits: &ClientLimits, n: u64) -> Result<Change, String> {
    fd_limit::fit(n, limits.fd_reserve()).map_err(fd_limit::too_many)?;
    Ok(Change::MaxClients(usize::try_from(n).unwrap_or(usize::MAX)))
}

/// Redis parses integer settings strictly: digits only, then a range.
fn int_in(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: i128 = value
        .trim()
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    u64::try_from(n)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("argument must be between {min} and {max} inclusive"))
}

fn bulk_len(value: &str) -> Result<usize, String> {
    let n = parse_size(value).map_err(|_| "argument must be a memory value".to_string())?;
    if n < MIN_PROTO_MAX_BULK_LEN {
        return Err(format!(
            "argument must be between {MIN_PROTO_MAX_BULK_LEN} and 9223372036854775807 inclusive"
        ));
    }
    Ok(n)
}

/// Redis's form: `<class> HARD SOFT <secs>` repeated. Only the
/// `normal` class exists in corekv (no replicas, no pub/sub): the others
/// are accepted and ignored. The last `normal` group wins.
fn output_limit(value: &str) -> Result<Option<OutputLimit>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || words.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut normal = None;
    for group in words.chunks(4) {
        let class = group[0].to_ascii_lowercase();
        if !matches!(class.as_str(), "normal" | "slave" | "replica" | "pubsub") {
            return Err("Invalid client class specified in buffer limit configuration.".into());
        }
        let limit = OutputLimit::parse(&group[1..].join(" ")).map_err(|_| {
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string()
        })?;
        if class == "normal" {
            normal = Some(limit);
        }
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::DEFAULT_PROTO_MAX_BULK_LEN;

    fn limits() -> ClientLimits {
        let output = OutputLimit::parse("256mb 64mb 60").unwrap();
        ClientLimits::new(10_000, 0, output, DEFAULT_PROTO_MAX_BULK_LEN)
    }

    fn set_one(l: &ClientLimits, name: &str, value: &str) -> Result<(), String> {
        set(l, &[(name.as_bytes(), value.as_bytes())])
    }

    #[test]
    fn sets_and_reads_back() {
        let l = limits();
        set_one(&l, "MaxClients", "5").unwrap();
        set_one(&l, "timeout", "7").unwrap();
        set_one(&l, "client-output-buffer-limit", "normal 1mb 512kb 10").unwrap();
        set_one(&l, "proto-max-bulk-len", "2mb").unwrap();
        let got = get(&l);
        assert_eq!(got[0], ("maxclients", "5".into()));
        assert_eq!(got[1], ("timeout", "7".into()));
        assert_eq!(
            got[2].1,
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(got[3], ("proto-max-bulk-len", "2097152".into()));
        assert_eq!(got[4], ("maxmemory-clients", "0".into()));
        set_one(&l, "maxmemory-clients", "10%").unwrap();
        assert_eq!(get(&l)[4], ("maxmemory-clients", "10%".into()));
        set_one(&l, "maxmemory-clients", "1k").unwrap();
        assert_eq!(get(&l)[4], ("maxmemory-clients", "1000".into()));
    }

    #[test]
    fn errors_are_redis_and_nothing_half_applied() {
        let l = limits();
        let e = set(&l, &[(b"timeout", b"5"), (b"maxclients", b"abc")]).unwrap_err();
        assert_eq!(e, "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer");
        assert_eq!(l.timeout_secs(), 0, "the valid part was not applied");
        assert_eq!(
            set_one(&l, "timeout", "-1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            set_one(&l, "proto-max-bulk-len", "100").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            set_one(&l, "client-output-buffer-limit", "normal 1mb").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            set_one(&l, "maxmemory-clients", "101%").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
        );
        assert_eq!(
            set_one(&l, "maxmemory-clients", "-1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value"
        );
        assert_eq!(
            set_one(&l, "nosuch", "1").unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            set(&l, &[(b"timeout", b"5"), (b"timeout", b"6")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter"
        );
    }
}
