//! The RESP command table: arity, flags and key positions of every command
//! corekv serves, as `COMMAND` reports them. Cluster clients read the key
//! positions to route each command to the node that owns its key.

use super::encode::{self, Proto};

/// One command's metadata, in Redis's terms. `arity` counts the command
/// name; negative means "at least". Keys are at `first..=last` (negative
/// `last` counts from the end) every `step` arguments.
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub first: i64,
    pub last: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first: keys.0,
        last: keys.1,
        step: keys.2,
        group,
        summary,
    }
}

const R: &[&str] = &["readonly", "fast"];
const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write", "fast"];
const ADMIN: &[&str] = &["loading", "stale", "fast"];
const W_FAST: &[&str] = &["write", "denyoom", "fast"];
const RO: &[&str] = &["readonly"];
const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const PAIRS: (i64, i64, i64) = (1, -1, 2);

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "get",
        2,
        R,
        ONE,
        "string",
        "Returns the string value of a key.",
    ),
    spec(
        "set",
        -3,
        W,
        ONE,
        "string",
        "Sets the string value of a key (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL).",
    ),
    spec(
        "setex",
        4,
        W,
        ONE,
        "string",
        "Sets a key with a time to live in seconds.",
    ),
    spec(
        "psetex",
        4,
        W,
        ONE,
        "string",
        "Sets a key with a time to live in milliseconds.",
    ),
    spec(
        "getex",
        -2,
        WF,
        ONE,
        "string",
        "Returns a value and changes its time to live.",
    ),
    spec(
        "expire",
        -3,
        WF,
        ONE,
        "generic",
        "Sets a key's time to live in seconds.",
    ),
    spec(
        "pexpire",
        -3,
        WF,
        ONE,
        "generic",
        "Sets a key's time to live in milliseconds.",
    ),
    spec(
        "expireat",
        -3,
        WF,
        ONE,
        "generic",
        "Sets a key's expiry to a unix time in seconds.",
    ),
    spec(
        "pexpireat",
        -3,
        WF,
        ONE,
        "generic",
        "Sets a key's expiry to a unix time in milliseconds.",
    ),
    spec(
        "expiretime",
        2,
        R,
        ONE,
        "generic",
        "Returns a key's expiry as a unix time in seconds.",
    ),
    spec(
        "pexpiretime",
        2,
        R,
        ONE,
        "generic",
        "Returns a key's expiry as a unix time in milliseconds.",
    ),
    spec(
        "persist",
        2,
        WF,
        ONE,
        "generic",
        "Removes a key's time to live.",
    ),
    spec(
        "ttl",
        2,
        R,
        ONE,
        "generic",
        "Returns a key's time to live in seconds.",
    ),
    spec(
        "pttl",
        2,
        R,
        ONE,
        "generic",
        "Returns a key's time to live in milliseconds.",
    ),
    spec(
        "setnx",
        3,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Sets a key only if it does not exist.",
    ),
    spec(
        "getdel",
        2,
        WF,
        ONE,
        "string",
        "Returns the value of a key and deletes it.",
    ),
    spec(
        "mget",
        -2,
        R,
        ALL,
        "string",
        "Returns the values of one or more keys, atomically.",
    ),
    spec(
        "mset",
        -3,
        W,
        PAIRS,
        "string",
        "Sets several keys atomically.",
    ),
    spec(
        "msetnx",
        -3,
        W,
        PAIRS,
        "string",
        "Sets several keys atomically, only if none exists.",
    ),
    spec(
        "del",
        -2,
        &["write"],
        ALL,
        "generic",
        "Deletes one or more keys, atomically.",
    ),
    spec(
        "unlink",
        -2,
        WF,
        ALL,
        "generic",
        "Deletes one or more keys, atomically.",
    ),
    spec(
        "exists",
        -2,
        R,
        ALL,
        "generic",
        "Counts how many of the keys exist.",
    ),
    spec(
        "incr",
        2,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Increments an integer value by one.",
    ),
    spec(
        "incrby",
        3,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Increments an integer value.",
    ),
    spec(
        "decr",
        2,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Decrements an integer value by one.",
    ),
    spec(
        "decrby",
        3,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Decrements an integer value.",
    ),
    spec(
        "append",
        3,
        W,
        ONE,
        "string",
        "Appends to the value of a key.",
    ),
    spec(
        "strlen",
        2,
        R,
        ONE,
        "string",
        "Returns the length of a value.",
    ),
    spec(
        "type",
        2,
        R,
        ONE,
        "generic",
        "Returns the type of a key (string or none).",
    ),
    spec(
        "multi",
        1,
        &["noscript", "loading", "stale", "fast"],
        NONE,
        "transactions",
        "Starts a transaction.",
    ),
    spec(
        "exec",
        1,
        &["noscript", "loading", "stale"],
        NONE,
        "transactions",
        "Executes the queued commands atomically.",
    ),
    spec(
        "discard",
        1,
        &["noscript", "loading", "stale", "fast"],
        NONE,
        "transactions",
        "Discards the transaction.",
    ),
    spec(
        "watch",
        -2,
        &["noscript", "loading", "stale", "fast"],
        ALL,
        "transactions",
        "Makes EXEC conditional on the keys being unchanged.",
    ),
    spec(
        "unwatch",
        1,
        &["noscript", "loading", "stale", "fast"],
        NONE,
        "transactions",
        "Forgets all watched keys.",
    ),
    spec(
        "dbsize",
        1,
        R,
        NONE,
        "server",
        "Returns the number of keys.",
    ),
    spec(
        "flushall",
        -1,
        &["write"],
        NONE,
        "server",
        "Removes all keys.",
    ),
    spec(
        "flushdb",
        -1,
        &["write"],
        NONE,
        "server",
        "Removes all keys.",
    ),
    spec(
        "scan",
        -2,
        &["readonly"],
        NONE,
        "generic",
        "Iterates over the keys with a cursor.",
    ),
    spec(
        "keys",
        2,
        &["readonly"],
        NONE,
        "generic",
        "Returns all keys matching a pattern (slow: scans every key).",
    ),
    spec(
        "ping",
        -1,
        &["fast"],
        NONE,
        "connection",
        "Returns PONG, or the argument.",
    ),
    spec(
        "echo",
        2,
        &["fast"],
        NONE,
        "connection",
        "Returns the argument.",
    ),
    spec(
        "hello",
        -1,
        &["noscript", "loading", "stale", "fast"],
        NONE,
        "connection",
        "Handshake (RESP2 only).",
    ),
    spec(
        "select",
        2,
        &["loading", "stale", "fast"],
        NONE,
        "connection",
        "Selects database 0 (the only one).",
    ),
    spec(
        "client",
        -2,
        &["loading", "stale"],
        NONE,
        "connection",
        "CLIENT LIST, INFO, KILL, SETNAME, GETNAME, ID, SETINFO, NO-EVICT, HELP.",
    ),
    spec(
        "quit",
        -1,
        &["loading", "stale", "fast"],
        NONE,
        "connection",
        "Closes the connection.",
    ),
    spec(
        "command",
        -1,
        &["loading", "stale"],
        NONE,
        "server",
        "COMMAND, COMMAND COUNT, INFO, DOCS.",
    ),
    spec(
        "config",
        -2,
        &["loading", "stale"],
        NONE,
        "server",
        "CONFIG GET, SET, RESETSTAT.",
    ),
    spec(
        "info",
        -1,
        &["loading", "stale"],
        NONE,
        "server",
        "Server information and statistics.",
    ),
    spec(
        "cluster",
        -2,
        &["loading", "stale"],
        NONE,
        "cluster",
        "CLUSTER SLOTS, SHARDS, NODES, INFO, MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT.",
    ),
    spec(
        "auth",
        -2,
        &["noscript", "loading", "stale", "fast", "no_auth"],
        NONE,
        "connection",
        "Authenticates the connection (AUTH [user] password).",
    ),
    spec(
        "acl",
        -2,
        &[],
        NONE,
        "server",
        "ACL WHOAMI, LIST, USERS, GETUSER, SETUSER, DELUSER, CAT, LOAD.",
    ),
    spec(
        "readonly",
        1,
        ADMIN,
        NONE,
        "cluster",
        "Accepted (no replicas).",
    ),
    spec(
        "readwrite",
        1,
        ADMIN,
        NONE,
        "cluster",
        "Accepted (no replicas).",
    ),
    spec(
        "asking",
        1,
        ADMIN,
        NONE,
        "cluster",
        "Accepted (no migrations).",
    ),
    spec(
        "time",
        1,
        &["loading", "stale", "fast"],
        NONE,
        "server",
        "Returns the server time.",
    ),
    spec(
        "randomkey",
        1,
        &["readonly"],
        NONE,
        "generic",
        "Returns a random key (from a random non-empty partition).",
    ),
    spec(
        "memory",
        -2,
        &[],
        NONE,
        "server",
        "MEMORY USAGE (the key's bytes in its partition's accounting), HELP.",
    ),
    spec(
        "object",
        -2,
        &[],
        NONE,
        "generic",
        "OBJECT ENCODING, FREQ, IDLETIME, REFCOUNT, HELP.",
    ),
    spec(
        "wait",
        3,
        &["noscript"],
        NONE,
        "generic",
        "Answers 0 at once (no replicas).",
    ),
    spec(
        "shutdown",
        -1,
        &[
            "admin",
            "noscript",
            "loading",
            "stale",
            "no_multi",
            "allow_busy",
        ],
        NONE,
        "server",
        "Shuts the server down as SIGTERM does (NOSAVE, NOW, FORCE; SAVE needs FORCE).",
    ),
    spec(
        "getset",
        3,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Sets the value of a key and returns its old value (clears the TTL).",
    ),
    spec(
        "getrange",
        4,
        &["readonly"],
        ONE,
        "string",
        "Returns a substring of a value.",
    ),
    spec(
        "substr",
        4,
        &["readonly"],
        ONE,
        "string",
        "Returns a substring of a value (GETRANGE's old name).",
    ),
    spec(
        "setrange",
        4,
        W,
        ONE,
        "string",
        "Overwrites part of a value from an offset, zero padding it.",
    ),
    spec(
        "incrbyfloat",
        3,
        &["write", "denyoom", "fast"],
        ONE,
        "string",
        "Adds a floating point number to a value.",
    ),
    spec(
        "setbit",
        4,
        W,
        ONE,
        "bitmap",
        "Sets or clears the bit at an offset of a value.",
    ),
    spec(
        "getbit",
        3,
        R,
        ONE,
        "bitmap",
        "Returns the bit at an offset of a value.",
    ),
    spec(
        "bitcount",
        -2,
        &["readonly"],
        ONE,
        "bitmap",
        "Counts the set bits of a value (BYTE or BIT range).",
    ),
    spec(
        "bitpos",
        -3,
        &["readonly"],
        ONE,
        "bitmap",
        "Finds the first set or clear bit of a value (BYTE or BIT range).",
    ),
    spec(
        "touch",
        -2,
        R,
        ALL,
        "generic",
        "Counts how many of the keys exist, marking them as used.",
    ),
    spec(
        "rename",
        3,
        &["write"],
        (1, 2, 1),
        "generic",
        "Renames a key, replacing the destination; atomic across partitions.",
    ),
    spec(
        "renamenx",
        3,
        WF,
        (1, 2, 1),
        "generic",
        "Renames a key only if the destination does not exist.",
    ),
    spec(
        "copy",
        -3,
        W,
        (1, 2, 1),
        "generic",
        "Copies a key's value and time to live (DB 0 only; REPLACE).",
    ),
    spec(
        "bitop",
        -4,
        W,
        (2, -1, 1),
        "bitmap",
        "Stores the bitwise AND, OR, XOR or NOT of strings.",
    ),
    spec(
        "slowlog",
        -2,
        &[],
        NONE,
        "server",
        "SLOWLOG GET [count], LEN, RESET, HELP.",
    ),
    spec(
        "hset",
        -4,
        W_FAST,
        ONE,
        "hash",
        "Sets fields of a hash (creating it), answering how many were new.",
    ),
    spec(
        "hsetnx",
        4,
        W_FAST,
        ONE,
        "hash",
        "Sets a field of a hash only if it does not exist.",
    ),
    spec(
        "hget",
        3,
        R,
        ONE,
        "hash",
        "Returns the value of a field of a hash.",
    ),
    spec(
        "hmget",
        -3,
        R,
        ONE,
        "hash",
        "Returns the values of fields of a hash.",
    ),
    spec(
        "hmset",
        -4,
        W_FAST,
        ONE,
        "hash",
        "Sets fields of a hash (HSET's old form, answering OK).",
    ),
    spec(
        "hdel",
        -3,
        WF,
        ONE,
        "hash",
        "Deletes fields of a hash; an empty hash is deleted.",
    ),
    spec(
        "hexists",
        3,
        R,
        ONE,
        "hash",
        "Tells whether a field of a hash exists.",
    ),
    spec(
        "hlen",
        2,
        R,
        ONE,
        "hash",
        "Returns the number of fields of a hash.",
    ),
    spec(
        "hstrlen",
        3,
        R,
        ONE,
        "hash",
        "Returns the length of the value of a field of a hash.",
    ),
    spec("hkeys", 2, RO, ONE, "hash", "Returns the fields of a hash."),
    spec("hvals", 2, RO, ONE, "hash", "Returns the values of a hash."),
    spec(
        "hgetall",
        2,
        RO,
        ONE,
        "hash",
        "Returns the fields and values of a hash.",
    ),
    spec(
        "hincrby",
        4,
        W_FAST,
        ONE,
        "hash",
        "Adds an integer to the value of a field of a hash.",
    ),
    spec(
        "hincrbyfloat",
        4,
        W_FAST,
        ONE,
        "hash",
        "Adds a floating point number to the value of a field of a hash.",
    ),
    spec(
        "hrandfield",
        -2,
        RO,
        ONE,
        "hash",
        "Returns random fields of a hash.",
    ),
    spec(
        "hscan",
        -3,
        RO,
        ONE,
        "hash",
        "Iterates over the fields and values of a hash.",
    ),
    spec(
        "sadd",
        -3,
        W_FAST,
        ONE,
        "set",
        "Adds members to a set (creating it), answering how many were new.",
    ),
    spec(
        "srem",
        -3,
        WF,
        ONE,
        "set",
        "Removes members of a set; an empty set is deleted.",
    ),
    spec(
        "sismember",
        3,
        R,
        ONE,
        "set",
        "Tells whether a member is in a set.",
    ),
    spec(
        "smismember",
        -3,
        R,
        ONE,
        "set",
        "Tells for each member whether it is in a set.",
    ),
    spec(
        "scard",
        2,
        R,
        ONE,
        "set",
        "Returns the number of members of a set.",
    ),
    spec(
        "smembers",
        2,
        RO,
        ONE,
        "set",
        "Returns every member of a set.",
    ),
    spec(
        "spop",
        -2,
        WF,
        ONE,
        "set",
        "Removes and returns random members of a set.",
    ),
    spec(
        "srandmember",
        -2,
        RO,
        ONE,
        "set",
        "Returns random members of a set.",
    ),
    spec(
        "smove",
        4,
        WF,
        (1, 2, 1),
        "set",
        "Moves a member from one set to another.",
    ),
    spec(
        "sinter",
        -2,
        RO,
        ALL,
        "set",
        "Returns the intersection of sets.",
    ),
    spec(
        "sintercard",
        -3,
        &["readonly", "movablekeys"],
        NONE,
        "set",
        "Returns the number of members of the intersection of sets.",
    ),
    spec("sunion", -2, RO, ALL, "set", "Returns the union of sets."),
    spec(
        "sdiff",
        -2,
        RO,
        ALL,
        "set",
        "Returns the members of the first set not in the others.",
    ),
    spec(
        "sinterstore",
        -3,
        &["write", "denyoom"],
        ALL,
        "set",
        "Stores the intersection of sets.",
    ),
    spec(
        "sunionstore",
        -3,
        &["write", "denyoom"],
        ALL,
        "set",
        "Stores the union of sets.",
    ),
    spec(
        "sdiffstore",
        -3,
        &["write", "denyoom"],
        ALL,
        "set",
        "Stores the difference of sets.",
    ),
    spec(
        "sscan",
        -3,
        RO,
        ONE,
        "set",
        "Iterates over the members of a set.",
    ),
    spec(
        "lpush",
        -3,
        W_FAST,
        ONE,
        "list",
        "Prepends elements to a list (creating it), answering its length.",
    ),
    spec(
        "rpush",
        -3,
        W_FAST,
        ONE,
        "list",
        "Appends elements to a list (creating it), answering its length.",
    ),
    spec(
        "lpushx",
        -3,
        W_FAST,
        ONE,
        "list",
        "Prepends elements to a list only if it exists.",
    ),
    spec(
        "rpushx",
        -3,
        W_FAST,
        ONE,
        "list",
        "Appends elements to a list only if it exists.",
    ),
    spec(
        "lpop",
        -2,
        WF,
        ONE,
        "list",
        "Removes and returns the first elements of a list.",
    ),
    spec(
        "rpop",
        -2,
        WF,
        ONE,
        "list",
        "Removes and returns the last elements of a list.",
    ),
    spec("llen", 2, R, ONE, "list", "Returns the length of a list."),
    spec(
        "lrange",
        4,
        RO,
        ONE,
        "list",
        "Returns a range of elements of a list.",
    ),
    spec(
        "lindex",
        3,
        RO,
        ONE,
        "list",
        "Returns an element of a list by its index.",
    ),
    spec(
        "lset",
        4,
        &["write", "denyoom"],
        ONE,
        "list",
        "Sets an element of a list by its index.",
    ),
    spec(
        "linsert",
        5,
        &["write", "denyoom"],
        ONE,
        "list",
        "Inserts an element before or after another in a list.",
    ),
    spec(
        "lrem",
        4,
        &["write"],
        ONE,
        "list",
        "Removes elements equal to a value from a list.",
    ),
    spec(
        "ltrim",
        4,
        &["write"],
        ONE,
        "list",
        "Trims a list to a range of indexes.",
    ),
    spec(
        "lpos",
        -3,
        RO,
        ONE,
        "list",
        "Returns the indexes of matching elements of a list.",
    ),
    spec(
        "lmove",
        5,
        &["write", "denyoom"],
        (1, 2, 1),
        "list",
        "Moves an element from one end of a list to an end of another.",
    ),
    spec(
        "rpoplpush",
        3,
        &["write", "denyoom"],
        (1, 2, 1),
        "list",
        "Moves the last element of a list to the head of another.",
    ),
    spec(
        "lmpop",
        -4,
        &["write", "movablekeys"],
        NONE,
        "list",
        "Pops elements from the first non-empty of several lists.",
    ),
    spec(
        "blpop",
        -3,
        &["write", "noscript", "blocking"],
        (1, -2, 1),
        "list",
        "Pops the first element of the first non-empty list, waiting for one.",
    ),
    spec(
        "brpop",
        -3,
        &["write", "noscript", "blocking"],
        (1, -2, 1),
        "list",
        "Pops the last element of the first non-empty list, waiting for one.",
    ),
    spec(
        "blmove",
        6,
        &["write", "denyoom", "noscript", "blocking"],
        (1, 2, 1),
        "list",
        "Moves an element between lists, waiting for one.",
    ),
    spec(
        "brpoplpush",
        4,
        &["write", "denyoom", "noscript", "blocking"],
        (1, 2, 1),
        "list",
        "Moves the last element of a list to the head of another, waiting for one.",
    ),
    spec(
        "blmpop",
        -5,
        &["write", "blocking", "movablekeys"],
        NONE,
        "list",
        "Pops elements from the first non-empty of several lists, waiting for one.",
    ),
    // Sorted sets.
    spec(
        "zadd",
        -4,
        W_FAST,
        ONE,
        "sorted-set",
        "Adds members to a sorted set or updates their scores (NX, XX, GT, LT, CH, INCR).",
    ),
    spec(
        "zincrby",
        4,
        W_FAST,
        ONE,
        "sorted-set",
        "Adds to the score of a member of a sorted set.",
    ),
    spec(
        "zrem",
        -3,
        WF,
        ONE,
        "sorted-set",
        "Removes members of a sorted set; an empty one is deleted.",
    ),
    spec(
        "zscore",
        3,
        R,
        ONE,
        "sorted-set",
        "Returns the score of a member of a sorted set.",
    ),
    spec(
        "zmscore",
        -3,
        R,
        ONE,
        "sorted-set",
        "Returns the scores of members of a sorted set.",
    ),
    spec(
        "zcard",
        2,
        R,
        ONE,
        "sorted-set",
        "Returns the number of members of a sorted set.",
    ),
    spec(
        "zcount",
        4,
        R,
        ONE,
        "sorted-set",
        "Counts the members of a sorted set within a score range.",
    ),
    spec(
        "zlexcount",
        4,
        R,
        ONE,
        "sorted-set",
        "Counts the members of a sorted set within a lexicographic range.",
    ),
    spec(
        "zrank",
        3,
        R,
        ONE,
        "sorted-set",
        "Returns the rank of a member of a sorted set, lowest score first.",
    ),
    spec(
        "zrevrank",
        3,
        R,
        ONE,
        "sorted-set",
        "Returns the rank of a member of a sorted set, highest score first.",
    ),
    spec(
        "zrange",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set by rank, score or member (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES).",
    ),
    spec(
        "zrangestore",
        -5,
        &["write", "denyoom"],
        (1, 2, 1),
        "sorted-set",
        "Stores a range of a sorted set in another key.",
    ),
    spec(
        "zrevrange",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set by rank, highest score first.",
    ),
    spec(
        "zrangebyscore",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set within a score range.",
    ),
    spec(
        "zrevrangebyscore",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set within a score range, highest first.",
    ),
    spec(
        "zrangebylex",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set within a lexicographic range.",
    ),
    spec(
        "zrevrangebylex",
        -4,
        RO,
        ONE,
        "sorted-set",
        "Returns members of a sorted set within a lexicographic range, last first.",
    ),
    spec(
        "zremrangebyrank",
        4,
        &["write"],
        ONE,
        "sorted-set",
        "Removes the members of a sorted set within a rank range.",
    ),
    spec(
        "zremrangebyscore",
        4,
        &["write"],
        ONE,
        "sorted-set",
        "Removes the members of a sorted set within a score range.",
    ),
    spec(
        "zremrangebylex",
        4,
        &["write"],
        ONE,
        "sorted-set",
        "Removes the members of a sorted set within a lexicographic range.",
    ),
    spec(
        "zpopmin",
        -2,
        WF,
        ONE,
        "sorted-set",
        "Removes and returns the members of a sorted set with the lowest scores.",
    ),
    spec(
        "zpopmax",
        -2,
        WF,
        ONE,
        "sorted-set",
        "Removes and returns the members of a sorted set with the highest scores.",
    ),
    spec(
        "zrandmember",
        -2,
        RO,
        ONE,
        "sorted-set",
        "Returns random members of a sorted set.",
    ),
    spec(
        "zunion",
        -3,
        &["readonly", "movablekeys"],
        NONE,
        "sorted-set",
        "Returns the union of sorted sets (and sets).",
    ),
    spec(
        "zinter",
        -3,
        &["readonly", "movablekeys"],
        NONE,
        "sorted-set",
        "Returns the intersection of sorted sets (and sets).",
    ),
    spec(
        "zdiff",
        -3,
        &["readonly", "movablekeys"],
        NONE,
        "sorted-set",
        "Returns the members of the first sorted set not in the others.",
    ),
    spec(
        "zunionstore",
        -4,
        &["write", "denyoom", "movablekeys"],
        ONE,
        "sorted-set",
        "Stores the union of sorted sets (and sets).",
    ),
    spec(
        "zinterstore",
        -4,
        &["write", "denyoom", "movablekeys"],
        ONE,
        "sorted-set",
        "Stores the intersection of sorted sets (and sets).",
    ),
    spec(
        "zdiffstore",
        -4,
        &["write", "denyoom", "movablekeys"],
        ONE,
        "sorted-set",
        "Stores the difference of sorted sets.",
    ),
    spec(
        "zintercard",
        -3,
        &["readonly", "movablekeys"],
        NONE,
        "sorted-set",
        "Returns the number of members of the intersection of sorted sets.",
    ),
    spec(
        "zscan",
        -3,
        RO,
        ONE,
        "sorted-set",
        "Iterates over the members and scores of a sorted set.",
    ),
    spec(
        "bzpopmin",
        -3,
        &["write", "noscript", "blocking", "fast"],
        (1, -2, 1),
        "sorted-set",
        "Pops the lowest-scored member of the first non-empty sorted set, waiting for one.",
    ),
    spec(
        "bzpopmax",
        -3,
        &["write", "noscript", "blocking", "fast"],
        (1, -2, 1),
        "sorted-set",
        "Pops the highest-scored member of the first non-empty sorted set, waiting for one.",
    ),
    spec(
        "zmpop",
        -4,
        &["write", "movablekeys"],
        NONE,
        "sorted-set",
        "Pops the lowest- or highest-scored members of the first non-empty of several sorted sets.",
    ),
    spec(
        "bzmpop",
        -5,
        &["write", "blocking", "movablekeys"],
        NONE,
        "sorted-set",
        "Pops the lowest- or highest-scored members of the first non-empty of several sorted sets, waiting for one.",
    ),
];

/// Longest command name [`lookup`] finds, plus one.
const NAME_ROOM: usize = 24;
/// Slots of [`lookup`]'s table (a power of two, at least four times the
/// commands: probes stay short).
const NAME_SLOTS: usize = 2048;

/// The spec of `name` (any case): one probe sequence per request in an
/// open-addressed table of command indexes, hashed while the name is
/// lower-cased onto the stack. Cheaper than a general hasher on the hot
/// path, where every request looks its command up.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    static TABLE: std::sync::OnceLock<Box<[u16; NAME_SLOTS]>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        const _: () = assert!(NAME_SLOTS < u16::MAX as usize);
        assert!(COMMANDS.len() * 4 <= NAME_SLOTS);
        let mut table = Box::new([u16::MAX; NAME_SLOTS]);
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(c.name.len() < NAME_ROOM);
            let mut at = fold(c.name.as_bytes(), &mut [0; NAME_ROOM]);
            while table[at] != u16::MAX {
                at = (at + 1) % NAME_SLOTS;
            }
            table[at] = i as u16;
        }
        table
    });
    let mut buf = [0u8; NAME_ROOM];
    if name.len() >= NAME_ROOM {
        return None;
    }
    let mut at = fold(name, &mut buf);
    let lower = &buf[..name.len()];
    loop {
        let spec = COMMANDS.get(usize::from(table[at]))?;
        if spec.name.as_bytes() == lower {
            return Some(spec);
        }
        at = (at + 1) % NAME_SLOTS;
    }
}

/// Lower-cases `name` (shorter than [`NAME_ROOM`]) into `lower` and
/// returns its slot in [`lookup`]'s table: a rotate-and-xor of the bytes
/// in registers (no stores read back), mixed by one multiplication.
#[inline]
fn fold(name: &[u8], lower: &mut [u8; NAME_ROOM]) -> usize {
    let mut h = name.len() as u64;
    for (d, &s) in lower.iter_mut().zip(name) {
        let b = s.to_ascii_lowercase();
        *d = b;
        h = h.rotate_left(7) ^ u64::from(b);
    }
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - NAME_SLOTS.trailing_zeros())) as usize
}

impl CommandSpec {
    /// True if `argc` (command name included) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// The ACL categories Redis 7 gives the command (without `@`). A
    /// container's are those of the subcommands corekv serves (`CONFIG GET`
    /// is `@admin @dangerous`); `ACL`'s own subcommands have their own
    /// (`crate::acl::perm`).
    pub fn acl_categories(&self) -> &'static [&'static str] {
        const STRING_READ: &[&str] = &["read", "string", "fast"];
        const STRING_WRITE: &[&str] = &["write", "string", "fast"];
        const STRING_WRITE_SLOW: &[&str] = &["write", "string", "slow"];
        const KEYSPACE_READ: &[&str] = &["keyspace", "read", "fast"];
        const KEYSPACE_WRITE: &[&str] = &["keyspace", "write", "fast"];
        const TRANSACTION: &[&str] = &["fast", "transaction"];
        const CONNECTION: &[&str] = &["fast", "connection"];
        if let Some(categories) = string_part_categories(self.name) {
            return categories;
        }
        if let Some(categories) = type_categories(self) {
            return categories;
        }
        match self.name {
            "get" | "mget" | "strlen" => STRING_READ,
            "set" | "setex" | "psetex" | "mset" | "msetnx" => STRING_WRITE_SLOW,
            "getex" | "setnx" | "getdel" | "incr" | "incrby" | "decr" | "decrby" | "append" => {
                STRING_WRITE
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" | "persist" | "unlink" => {
                KEYSPACE_WRITE
            }
            "ttl" | "pttl" | "expiretime" | "pexpiretime" | "exists" | "type" | "dbsize" => {
                KEYSPACE_READ
            }
            "del" => &["keyspace", "write", "slow"],
            "rename" | "copy" => &["keyspace", "write", "slow"],
            "renamenx" => KEYSPACE_WRITE,
            "bitop" => &["write", "bitmap", "slow"],
            "multi" | "discard" | "watch" | "unwatch" => TRANSACTION,
            "exec" => &["slow", "transaction"],
            "flushall" | "flushdb" => &["keyspace", "write", "slow", "dangerous"],
            "scan" => &["keyspace", "read", "slow"],
            "keys" => &["keyspace", "read", "slow", "dangerous"],
            "client" | "command" => &["slow", "connection"],
            "config" | "slowlog" => &["admin", "slow", "dangerous"],
            "info" => &["slow", "dangerous"],
            "cluster" | "acl" => &["slow"],
            "time" => &["fast"],
            "randomkey" => &["keyspace", "read", "slow"],
            // Containers: their subcommands' (`memory|usage`, `object|…`).
            "memory" => &["read", "slow"],
            "object" => &["keyspace", "read", "slow"],
            "wait" => &["slow", "connection"],
            "shutdown" => &["admin", "slow", "dangerous"],
            "ping" | "echo" | "hello" | "select" | "quit" | "readonly" | "readwrite" | "asking"
            | "auth" => CONNECTION,
            // A command added without an entry here: by its flags.
            _ if self.is_write() => &["write", "slow"],
            _ => &["read", "slow"],
        }
    }

    fn is_write(&self) -> bool {
        self.flags.contains(&"write")
    }

    /// One `COMMAND INFO` entry (the 10-element Redis 7 form; flags,
    /// categories, tips, key specs and subcommands are sets in RESP3).
    pub fn encode_info(&self, out: &mut Vec<u8>, proto: Proto) {
        encode::array(out, 10);
        encode::bulk(out, self.name.as_bytes());
        encode::int(out, self.arity);
        encode::set(out, self.flags.len(), proto);
        for f in self.flags {
            encode::simple(out, f);
        }
        encode::int(out, self.first);
        encode::int(out, self.last);
        encode::int(out, self.step);
        let categories = self.acl_categories();
        encode::set(out, categories.len(), proto);
        for c in categories {
            encode::simple(out, &format!("@{c}"));
        }
        encode::set(out, 0, proto);
        self.encode_key_specs(out, proto);
        encode::set(out, 0, proto);
    }

    /// Redis 7 key specifications: one equivalent to first/last/step, and
    /// for a command whose keys follow a `numkeys` argument, Redis's
    /// `keynum` spec (a `*STORE`'s destination is the first: `OW update`).
    fn encode_key_specs(&self, out: &mut Vec<u8>, proto: Proto) {
        let keynum = keynum_at(self.name);
        let plain = self.first != 0;
        encode::set(
            out,
            usize::from(plain) + usize::from(keynum.is_some()),
            proto,
        );
        if plain {
            let flags: &[&str] = match (keynum, self.is_write()) {
                (Some(_), _) => &["OW", "update"],
                (None, true) => &["RW", "update"],
                (None, false) => &["RO", "access"],
            };
            self.encode_spec_head(out, proto, flags, self.first);
            self.encode_range(out, proto);
        }
        if let Some(at) = keynum {
            let flags: &[&str] = match (plain, self.is_write()) {
                (false, true) => &["RW", "access", "delete"],
                _ => &["RO", "access"],
            };
            self.encode_spec_head(out, proto, flags, at as i64);
            encode::map(out, 2, proto);
            encode::bulk(out, b"type");
            encode::bulk(out, b"keynum");
            encode::bulk(out, b"spec");
            encode::map(out, 3, proto);
            for (name, n) in [("keynumidx", 0), ("firstkey", 1), ("keystep", 1)] {
                encode::bulk(out, name.as_bytes());
                encode::int(out, n);
            }
        }
    }

    /// A key spec's map (3 entries), its flags and `begin_search` at
    /// `index`; `find_keys` follows.
    fn encode_spec_head(&self, out: &mut Vec<u8>, proto: Proto, flags: &[&str], index: i64) {
        encode::map(out, 3, proto);
        encode::bulk(out, b"flags");
        encode::set(out, flags.len(), proto);
        for f in flags {
            encode::simple(out, f);
        }
        encode::bulk(out, b"begin_search");
        encode::map(out, 2, proto);
        encode::bulk(out, b"type");
        encode::bulk(out, b"index");
        encode::bulk(out, b"spec");
        encode::map(out, 1, proto);
        encode::bulk(out, b"index");
        encode::int(out, index);
        encode::bulk(out, b"find_keys");
    }

    /// `find_keys` of the first/last/step spec: a range.
    fn encode_range(&self, out: &mut Vec<u8>, proto: Proto) {
        encode::map(out, 2, proto);
        encode::bulk(out, b"type");
        encode::bulk(out, b"range");
        encode::bulk(out, b"spec");
        encode::map(out, 3, proto);
        encode::bulk(out, b"lastkey");
        encode::int(
            out,
            if self.last < 0 {
                self.last
            } else {
                self.last - self.first
            },
        );
        encode::bulk(out, b"keystep");
        encode::int(out, self.step);
        encode::bulk(out, b"limit");
        encode::int(out, 0);
    }

    /// One `COMMAND DOCS` entry: name, then a map of its documentation.
    pub fn encode_docs(&self, out: &mut Vec<u8>, proto: Proto) {
        encode::bulk(out, self.name.as_bytes());
        encode::map(out, 3, proto);
        encode::bulk(out, b"summary");
        encode::bulk(out, self.summary.as_bytes());
        encode::bulk(out, b"since");
        encode::bulk(out, b"1.0.0");
        encode::bulk(out, b"group");
        encode::bulk(out, self.group.as_bytes());
    }
}

/// The ACL categories of the hash, set, sorted set and list commands, as
/// Redis 7 gives them: read or write, the type, fast or slow by the
/// command's flags.
fn type_categories(spec: &CommandSpec) -> Option<&'static [&'static str]> {
    let fast = spec.flags.contains(&"fast");
    Some(match (spec.group, spec.is_write(), fast) {
        ("hash", true, true) => &["write", "hash", "fast"],
        ("hash", false, true) => &["read", "hash", "fast"],
        ("hash", false, false) => &["read", "hash", "slow"],
        ("hash", true, false) => &["write", "hash", "slow"],
        ("set", true, true) => &["write", "set", "fast"],
        ("set", false, true) => &["read", "set", "fast"],
        ("set", false, false) => &["read", "set", "slow"],
        ("set", true, false) => &["write", "set", "slow"],
        ("list", true, true) => &["write", "list", "fast"],
        ("list", false, true) => &["read", "list", "fast"],
        ("list", false, false) => &["read", "list", "slow"],
        ("list", true, false) if spec.flags.contains(&"blocking") => {
            &["write", "list", "slow", "blocking"]
        }
        ("list", true, false) => &["write", "list", "slow"],
        ("sorted-set", true, true) if spec.flags.contains(&"blocking") => {
            &["write", "sortedset", "fast", "blocking"]
        }
        ("sorted-set", true, true) => &["write", "sortedset", "fast"],
        ("sorted-set", false, true) => &["read", "sortedset", "fast"],
        ("sorted-set", false, false) => &["read", "sortedset", "slow"],
        ("sorted-set", true, false) if spec.flags.contains(&"blocking") => {
            &["write", "sortedset", "slow", "blocking"]
        }
        ("sorted-set", true, false) => &["write", "sortedset", "slow"],
        _ => return None,
    })
}

/// The ACL categories of the partial-string and bit commands, as Redis 7.
fn string_part_categories(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "getset" | "incrbyfloat" => &["write", "string", "fast"],
        "getrange" | "substr" => &["read", "string", "slow"],
        "setrange" => &["write", "string", "slow"],
        "setbit" => &["write", "bitmap", "slow"],
        "getbit" => &["read", "bitmap", "fast"],
        "bitcount" | "bitpos" => &["read", "bitmap", "slow"],
        "touch" => &["keyspace", "read", "fast"],
        _ => return None,
    })
}

/// The key arguments of a command (indexes into `args`, name at 0), by its
/// spec; empty for unknown or keyless commands.
pub fn key_indexes(spec: &CommandSpec, argc: usize) -> Vec<usize> {
    key_positions(spec, argc).collect()
}

/// The key arguments of a command whose keys move (`movablekeys`: its
/// spec names none), found from its arguments: `SINTERCARD numkeys key
/// …`, `ZUNION numkeys key …`, `ZUNIONSTORE dst numkeys key …`. Empty for
/// every other command.
/// Where the `numkeys` argument of a command with movable keys is (its
/// keys follow it); `None` for the others.
fn keynum_at(name: &str) -> Option<usize> {
    match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => Some(1),
        "zunionstore" | "zinterstore" | "zdiffstore" | "blmpop" | "bzmpop" => Some(2),
        _ => None,
    }
}

pub fn movable_key_positions<'a>(
    spec: &CommandSpec,
    args: impl Fn(usize) -> &'a [u8],
    argc: usize,
) -> std::ops::Range<usize> {
    // `ZUNION numkeys key …`, `ZUNIONSTORE dst numkeys key …` (its
    // destination is in the spec), `LMPOP numkeys key …`, `BLMPOP timeout
    // numkeys key …`.
    let Some(at) = keynum_at(spec.name) else {
        return 0..0;
    };
    if argc < at + 2 {
        return 0..0;
    }
    let n = std::str::from_utf8(args(at))
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    at + 1..at + 1 + n.min(argc - at - 1)
}

/// [`key_indexes`] without allocating (the ACL gate checks every key).
pub fn key_positions(spec: &CommandSpec, argc: usize) -> impl Iterator<Item = usize> {
    let (first, last) = if spec.first == 0 || argc <= spec.first as usize {
        (1, 0)
    } else if spec.last < 0 {
        (spec.first, argc as i64 + spec.last)
    } else {
        (spec.first, spec.last.min(argc as i64 - 1))
    };
    (first..=last)
        .step_by(spec.step.max(1) as usize)
        .map(|i| i as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_arity() {
        let set = lookup(b"SeT").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(6) && !set.arity_ok(2));
        let get = lookup(b"get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        assert!(lookup(b"nope").is_none());
    }

    #[test]
    fn lookup_finds_every_command_and_nothing_else() {
        for spec in COMMANDS {
            let name = spec.name.as_bytes();
            assert!(std::ptr::eq(lookup(name).unwrap(), spec), "{}", spec.name);
            let upper = name.to_ascii_uppercase();
            assert!(std::ptr::eq(lookup(&upper).unwrap(), spec), "{}", spec.name);
            // A neighbour name is found only if it is a command itself.
            let shorter = &name[..name.len() - 1];
            assert!(lookup(shorter).is_none_or(|s| s.name.as_bytes() == shorter));
            let mut longer = name.to_vec();
            longer.push(b'x');
            assert!(lookup(&longer).is_none_or(|s| s.name.as_bytes() == longer));
        }
        // Probes stay short: the worst name is found within a few slots.
        let lookup_slots = COMMANDS
            .iter()
            .map(|c| fold(c.name.as_bytes(), &mut [0; NAME_ROOM]));
        let mut taken = vec![false; NAME_SLOTS];
        let mut longest = 0;
        for mut at in lookup_slots {
            let mut probes = 1;
            while taken[at] {
                at = (at + 1) % NAME_SLOTS;
                probes += 1;
            }
            taken[at] = true;
            longest = longest.max(probes);
        }
        assert!(longest <= 4, "a name takes {longest} probes");
        assert!(lookup(b"").is_none());
        assert!(lookup(&[b'a'; 40]).is_none());
        assert!(lookup(b"get\0").is_none());
    }

    #[test]
    fn key_positions() {
        assert_eq!(key_indexes(lookup(b"get").unwrap(), 2), [1]);
        assert_eq!(key_indexes(lookup(b"mget").unwrap(), 4), [1, 2, 3]);
        assert_eq!(key_indexes(lookup(b"mset").unwrap(), 5), [1, 3]);
        assert_eq!(key_indexes(lookup(b"copy").unwrap(), 6), [1, 2]);
        assert_eq!(key_indexes(lookup(b"renamenx").unwrap(), 3), [1, 2]);
        assert_eq!(key_indexes(lookup(b"bitop").unwrap(), 6), [2, 3, 4, 5]);
        assert_eq!(key_indexes(lookup(b"set").unwrap(), 5), [1]);
        assert!(key_indexes(lookup(b"ping").unwrap(), 1).is_empty());
    }

    #[test]
    fn info_entry_shape() {
        let mut out = Vec::new();
        lookup(b"mset").unwrap().encode_info(&mut out, Proto::V2);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with(
                "*10\r\n$4\r\nmset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n"
            ),
            "{s}"
        );
    }
}
