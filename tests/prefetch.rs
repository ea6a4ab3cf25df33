//! Pipelines on a big store and on a big hash and set, where a worker
//! looks ahead at what a batch will look up and starts loading it before
//! the batch runs (`src/partition/prefetch.rs`): the replies are those of
//! running the requests one by one (a model here). Two workers, and the
//! same pipeline sent to each one's core port: on the owner's port the
//! requests run where they are read (the read buffer is looked ahead at),
//! on the other they are forwarded (the batch is prefetched window by
//! window). The pipeline mixes reads and writes of the same keys and
//! fields, new and absent ones, commands in any case, `MULTI` blocks,
//! runs of commands with nothing to prefetch,
//! and reaches the server in pieces cut anywhere, so requests are split
//! across reads.

mod common;

use common::resp::{request, RespConn, Value};
use common::Rng;
use std::collections::{HashMap, HashSet};

/// Past the prefetch threshold (65,536 keys, fields or members).
const BIG: usize = 70_000;
const WORKERS: u16 = 2;

#[derive(Default)]
struct Model {
    strings: HashMap<String, String>,
    set: HashSet<String>,
    hash: HashMap<String, String>,
}

/// Sends `requests` in one pipeline and checks each reply in order.
fn pipeline_is_answered(c: &mut RespConn, requests: &[Vec<String>], want: &[Value], rng: &mut Rng) {
    let mut bytes = Vec::new();
    for r in requests {
        let args: Vec<&[u8]> = r.iter().map(|a| a.as_bytes()).collect();
        bytes.extend_from_slice(&request(&args));
    }
    // Pieces of 1 byte to 8 KiB, some with a pause after, so that reads
    // end inside requests.
    let mut at = 0;
    while at < bytes.len() {
        let n = (1 + rng.below(8192)).min(bytes.len() - at);
        c.send_raw(&bytes[at..at + n]);
        at += n;
        if rng.below(8) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    for (i, w) in want.iter().enumerate() {
        let got = c.read();
        assert_eq!(&got, w, "reply {i} to {:?}", requests.get(i));
    }
}

fn load(c: &mut RespConn, model: &mut Model) {
    let mut requests = Vec::new();
    let mut want = Vec::new();
    for i in 0..BIG {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        requests.push(vec!["SET".into(), k.clone(), v.clone()]);
        want.push(Value::ok());
        model.strings.insert(k, v);
    }
    for chunk in (0..BIG).collect::<Vec<_>>().chunks(1000) {
        let mut sadd = vec!["SADD".to_string(), "s".into()];
        let mut hset = vec!["HSET".to_string(), "h".into()];
        for i in chunk {
            sadd.push(format!("m{i}"));
            hset.extend([format!("f{i}"), format!("x{i}")]);
            model.set.insert(format!("m{i}"));
            model.hash.insert(format!("f{i}"), format!("x{i}"));
        }
        requests.extend([sadd, hset]);
        want.extend([
            Value::Int(chunk.len() as i64),
            Value::Int(chunk.len() as i64),
        ]);
    }
    let mut rng = Rng::new(1);
    pipeline_is_answered(c, &requests, &want, &mut rng);
}

fn cased(rng: &mut Rng, name: &str) -> String {
    match rng.below(3) {
        0 => name.to_ascii_lowercase(),
        1 => name.to_ascii_uppercase(),
        _ => name
            .chars()
            .enumerate()
            .map(|(i, ch)| {
                if i % 2 == 0 {
                    ch.to_ascii_uppercase()
                } else {
                    ch
                }
            })
            .collect(),
    }
}

/// One random request and its reply from `model` (which it updates).
fn one(rng: &mut Rng, model: &mut Model, n: usize) -> (Vec<String>, Value) {
    // A tenth of the keys, fields and members are not there yet.
    let r = rng.below(BIG + BIG / 10);
    let int = |b: bool| Value::Int(i64::from(b));
    let bulk = |v: Option<&String>| v.map_or(Value::Nil, |v| Value::bulk(v));
    let (name, args, reply): (&str, Vec<String>, Value) = match rng.below(10) {
        0 => {
            let k = format!("k{r}");
            let reply = bulk(model.strings.get(&k));
            ("get", vec![k], reply)
        }
        1 => {
            let (k, v) = (format!("k{r}"), format!("w{n}"));
            model.strings.insert(k.clone(), v.clone());
            ("set", vec![k, v], Value::ok())
        }
        2 => {
            let m = format!("m{r}");
            let added = model.set.insert(m.clone());
            ("sadd", vec!["s".into(), m], int(added))
        }
        3 | 4 => {
            let m = format!("m{r}");
            let reply = int(model.set.contains(&m));
            ("sismember", vec!["s".into(), m], reply)
        }
        5 => {
            let m = format!("m{r}");
            let removed = model.set.remove(&m);
            ("srem", vec!["s".into(), m], int(removed))
        }
        6 => {
            let (f, v) = (format!("f{r}"), format!("y{n}"));
            let new = model.hash.insert(f.clone(), v.clone()).is_none();
            ("hset", vec!["h".into(), f, v], int(new))
        }
        7 | 8 => {
            let f = format!("f{r}");
            let reply = bulk(model.hash.get(&f));
            ("hget", vec!["h".into(), f], reply)
        }
        _ => {
            let f = format!("f{r}");
            let reply = int(model.hash.contains_key(&f));
            ("hexists", vec!["h".into(), f], reply)
        }
    };
    let mut request = vec![cased(rng, name)];
    request.extend(args);
    (request, reply)
}

fn random_pipeline(rng: &mut Rng, model: &mut Model, len: usize) -> (Vec<Vec<String>>, Vec<Value>) {
    let (mut requests, mut want) = (Vec::new(), Vec::new());
    while requests.len() < len {
        let n = requests.len();
        if rng.below(100) == 0 {
            // A run of requests with nothing to prefetch (the look-ahead
            // gives up on them, then takes up the ones after).
            for _ in 0..10 {
                requests.push(vec![cased(rng, "ping")]);
                want.push(Value::Simple("PONG".into()));
            }
            continue;
        }
        if rng.below(50) == 0 {
            // MULTI, two queued commands, EXEC with both replies.
            let (a, ra) = one(rng, model, n);
            let (b, rb) = one(rng, model, n + 1);
            requests.extend([vec!["MULTI".to_string()], a, b, vec!["EXEC".to_string()]]);
            let queued = Value::Simple("QUEUED".into());
            want.extend([
                Value::ok(),
                queued.clone(),
                queued,
                Value::Array(vec![ra, rb]),
            ]);
            continue;
        }
        let (r, w) = one(rng, model, n);
        requests.push(r);
        want.push(w);
    }
    (requests, want)
}

#[test]
fn pipelines_on_big_keys_answer_as_one_by_one() {
    let server = common::start(WORKERS);
    let mut model = Model::default();
    let mut c = RespConn::connect(server.core_addrs()[0]);
    load(&mut c, &mut model);
    let mut rng = Rng::new(0x9e37_79b9);
    for round in 0..3 {
        // Each core port in turn: one owns `s` and `h`, the other forwards.
        for &addr in server.core_addrs() {
            let mut c = RespConn::connect(addr);
            let (requests, want) = random_pipeline(&mut rng, &mut model, 3000);
            pipeline_is_answered(&mut c, &requests, &want, &mut rng);
            let card = c.cmd(&["SCARD", "s"]);
            assert_eq!(card, Value::Int(model.set.len() as i64), "round {round}");
            let len = c.cmd(&["HLEN", "h"]);
            assert_eq!(len, Value::Int(model.hash.len() as i64), "round {round}");
        }
    }
}
