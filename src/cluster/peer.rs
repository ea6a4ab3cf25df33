//! Links from this worker to the workers of other pods, for the commands a
//! plain client sends to the shared or RESP port about keys another pod
//! owns.
//!
//! Each worker keeps its own links (no sharing between threads, no lock):
//! one TCP connection per remote worker and protocol version, opened on
//! first use and reopened on the next use after it broke. A link is a
//! pipeline: requests from every connection of this worker are written in
//! one go as they queue up, and replies come back in order, each to the
//! connection that asked (a oneshot channel). A client's requests to one
//! key always take the same link, so they keep their order.
//!
//! Failure model: a peer that cannot be reached, or that stops answering
//! for [`REPLY_TIMEOUT`], fails every request waiting on that link with
//! `-CLUSTERDOWN`; the client's connection keeps serving.

use super::ClusterMap;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Longest wait to connect to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the next reply on a link with requests outstanding.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A forwarded request's reply: one RESP value, or the error to send.
pub type PeerReply = Vec<u8>;

/// One request: bytes holding `replies` commands; the last reply is the
/// one returned (a transaction's `+OK` and `+QUEUED`s are dropped: its
/// `EXEC` answers for it, `EXECABORT` included).
struct Job {
    request: Vec<u8>,
    replies: usize,
    tx: oneshot::Sender<PeerReply>,
}

/// A waiting request on an open link.
struct Waiting {
    left: usize,
    tx: oneshot::Sender<PeerReply>,
}

/// The protocol of a link: RESP2, RESP3, or corekv's text protocol (one
/// JSON line per reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    Resp2,
    Resp3,
    Text,
}

/// This worker's links, by (global partition, RESP version).
pub struct Peers {
    map: Arc<ClusterMap>,
    /// The default user's password, sent with `AUTH` first on every link.
    auth: Option<Vec<u8>>,
    links: RefCell<HashMap<(usize, Wire), mpsc::UnboundedSender<Job>>>,
}

impl Peers {
    pub fn new(map: Arc<ClusterMap>, password: Option<&[u8]>) -> Self {
        Self {
            map,
            auth: password.map(<[u8]>::to_vec),
            links: RefCell::new(HashMap::new()),
        }
    }

    pub fn map(&self) -> &ClusterMap {
        &self.map
    }

    /// Sends `request` (`replies` commands in `wire`'s protocol) to global
    /// partition `partition`; the receiver gets the last reply.
    pub fn send(
        &self,
        partition: usize,
        wire: Wire,
        request: Vec<u8>,
        replies: usize,
    ) -> oneshot::Receiver<PeerReply> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            request,
            replies,
            tx,
        };
        let mut links = self.links.borrow_mut();
        let link = links.entry((partition, wire)).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let (host, port) = self.map.addr_of(partition);
            let target = Target {
                host: host.to_string(),
                port,
                pod: partition / self.map.workers,
                wire,
                auth: self.auth.clone(),
            };
            tokio::task::spawn_local(run_link(target, rx));
            tx
        });
        if let Err(mpsc::error::SendError(job)) = link.send(job) {
            let _ = job
                .tx
                .send(down(partition / self.map.workers, wire, "link closed"));
        }
        rx
    }
}

struct Target {
    host: String,
    port: u16,
    pod: usize,
    wire: Wire,
    /// The default user's password.
    auth: Option<Vec<u8>>,
}

/// The error a request gets when its pod cannot answer.
fn down(pod: usize, wire: Wire, why: &str) -> PeerReply {
    let mesg = format!("CLUSTERDOWN pod {pod} unreachable: {why}");
    let mut out = Vec::new();
    match wire {
        Wire::Text => crate::response::error(&mut out, &mesg),
        Wire::Resp2 | Wire::Resp3 => crate::resp::encode::error(&mut out, &mesg),
    }
    out
}

/// The length of the complete reply at the front of `buf` (`None` while
/// incomplete).
fn reply_len(wire: Wire, buf: &[u8]) -> Result<Option<usize>, &'static str> {
    match wire {
        Wire::Text => Ok(memchr::memchr(b'\n', buf).map(|nl| nl + 1)),
        Wire::Resp2 | Wire::Resp3 => frame_len(buf),
    }
}

/// A link's life: connect on demand, pipeline requests, reconnect after a
/// failure on the next request. Ends when the worker drops its sender.
async fn run_link(target: Target, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let stream = match connect(&target).await {
            Ok(s) => s,
            Err(e) => {
                let why = e.to_string();
                let _ = job.tx.send(down(target.pod, target.wire, &why));
                // Fail what queued meanwhile too, rather than retrying a
                // dead peer once per request.
                while let Ok(job) = jobs.try_recv() {
                    let _ = job.tx.send(down(target.pod, target.wire, &why));
                }
                continue;
            }
        };
        tracing::debug!(
            "link to pod {} ({}:{}) open",
            target.pod,
            target.host,
            target.port
        );
        let why = serve(&target, stream, job, &mut jobs).await;
        tracing::warn!(
            "link to pod {} ({}:{}) closed: {why}",
            target.pod,
            target.host,
            target.port
        );
    }
}

async fn connect(t: &Target) -> std::io::Result<TcpStream> {
    let addr = (t.host.as_str(), t.port);
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    let mut hello = Vec::new();
    let mut expect = 0;
    if let Some(password) = &t.auth {
        match t.wire {
            Wire::Text => {
                hello.extend_from_slice(b"AUTH ");
                hello.extend_from_slice(password);
                hello.push(b'\n');
            }
            Wire::Resp2 | Wire::Resp3 => {
                corekv_router::resp::push_request(&mut hello, &[b"AUTH", password]);
            }
        }
        expect += 1;
    }
    if t.wire == Wire::Resp3 {
        corekv_router::resp::push_request(&mut hello, &[b"HELLO", b"3"]);
        expect += 1;
    }
    if expect == 0 {
        return Ok(stream);
    }
    stream.write_all(&hello).await?;
    let mut buf = Vec::new();
    let mut seen = 0;
    let read = async {
        while seen < expect {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(len) = reply_len(t.wire, &buf).map_err(invalid)? {
                let refused = match t.wire {
                    Wire::Text => !buf[..len].starts_with(b"{\"status\": \"Ok\""),
                    Wire::Resp2 | Wire::Resp3 => buf[0] == b'-',
                };
                if refused {
                    let e = String::from_utf8_lossy(&buf[..len]).trim().to_string();
                    return Err(std::io::Error::other(e));
                }
                buf.drain(..len);
                seen += 1;
            }
        }
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"))??;
    Ok(stream)
}

fn invalid(e: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

/// Pipelines jobs over one open connection until it fails; fails every
/// request still waiting then, and returns why.
async fn serve(
    target: &Target,
    stream: TcpStream,
    first: Job,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
) -> String {
    let (mut rd, mut wr) = stream.into_split();
    let waiting: Rc<RefCell<VecDeque<Waiting>>> = Rc::default();
    let why = {
        let reader = read_replies(target.wire, &mut rd, &waiting);
        let writer = async {
            let mut next = Some(first);
            let mut out = Vec::new();
            loop {
                let Some(job) = next.take() else {
                    match jobs.recv().await {
                        Some(job) => next = Some(job),
                        None => return "worker stopped".to_string(),
                    }
                    continue;
                };
                // One write for every request queued so far.
                let mut batch = vec![job];
                while out.len() < 1 << 20 {
                    match jobs.try_recv() {
                        Ok(job) => {
                            out.extend_from_slice(&job.request);
                            batch.push(job);
                        }
                        Err(_) => break,
                    }
                }
                let mut all = std::mem::take(&mut batch[0].request);
                all.extend_from_slice(&out);
                out.clear();
                {
                    let mut w = waiting.borrow_mut();
                    for job in batch {
                        w.push_back(Waiting {
                            left: job.replies.max(1),
                            tx: job.tx,
                        });
                    }
                }
                if let Err(e) = wr.write_all(&all).await {
                    return e.to_string();
                }
            }
        };
        tokio::select! {
            why = reader => why,
            why = writer => why,
        }
    };
    for w in waiting.borrow_mut().drain(..) {
        let _ = w.tx.send(down(target.pod, target.wire, &why));
    }
    why
}

/// Reads replies and hands each to its request, until the connection fails.
async fn read_replies(
    wire: Wire,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    waiting: &RefCell<VecDeque<Waiting>>,
) -> String {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let idle = waiting.borrow().is_empty();
        let mut chunk = [0u8; 16 * 1024];
        let read = rd.read(&mut chunk);
        let n = if idle {
            read.await
        } else {
            match tokio::time::timeout(REPLY_TIMEOUT, read).await {
                Ok(r) => r,
                Err(_) => return format!("no reply for {} s", REPLY_TIMEOUT.as_secs()),
            }
        };
        match n {
            Ok(0) => return "closed by the peer".to_string(),
            Err(e) => return e.to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let mut used = 0;
        loop {
            let len = match reply_len(wire, &buf[used..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => return format!("bad reply: {e}"),
            };
            let frame = &buf[used..used + len];
            used += len;
            let mut w = waiting.borrow_mut();
            let Some(head) = w.front_mut() else {
                return "a reply nobody asked for".to_string();
            };
            head.left -= 1;
            if head.left > 0 {
                continue;
            }
            let done = w.pop_front().expect("head");
            let _ = done.tx.send(frame.to_vec());
        }
        buf.drain(..used);
    }
}

/// The length of the complete RESP2/RESP3 value at the start of `buf`;
/// `None` while incomplete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut pos = 0;
    // Values still to read at each open aggregate level.
    let mut pending: usize = 1;
    while pending > 0 {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(nl) = memchr::memchr(b'\n', &buf[pos..]) else {
            return Ok(None);
        };
        let line_end = pos + nl + 1;
        if nl == 0 || buf[line_end - 2] != b'\r' {
            return Err("line without CRLF");
        }
        let line = &buf[pos + 1..line_end - 2];
        pending -= 1;
        pos = line_end;
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let n: i64 = parse(line)?;
                if n >= 0 {
                    let end = pos + n as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    pos = end;
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n: i64 = parse(line)?;
                if n > 0 {
                    let n = n as usize;
                    let n = if matches!(kind, b'%' | b'|') {
                        2 * n
                    } else {
                        n
                    };
                    // An attribute precedes the value it describes.
                    pending += if kind == b'|' { n + 1 } else { n };
                }
            }
            _ => return Err("unknown reply type"),
        }
    }
    Ok(Some(pos))
}

fn parse(line: &[u8]) -> Result<i64, &'static str> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("bad length")
}

#[cfg(test)]
mod tests {
    use super::frame_len;

    #[test]
    fn frames() {
        assert_eq!(frame_len(b"+OK\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"+OK\r"), Ok(None));
        assert_eq!(frame_len(b"$3\r\nabc\r\n+x"), Ok(Some(9)));
        assert_eq!(frame_len(b"$3\r\nab"), Ok(None));
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n$1\r\na\r\n"), Ok(Some(15)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_len(b"*-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*0\r\n"), Ok(Some(4)));
        assert_eq!(frame_len(b"%1\r\n+a\r\n*1\r\n:1\r\n"), Ok(Some(16)));
        assert_eq!(frame_len(b"_\r\n"), Ok(Some(3)));
        assert_eq!(frame_len(b"=5\r\ntxt:a\r\n"), Ok(Some(11)));
        assert_eq!(frame_len(b"|1\r\n+k\r\n+v\r\n:1\r\n"), Ok(Some(16)));
        assert!(frame_len(b"?x\r\n").is_err());
        assert!(frame_len(b"$x\r\n").is_err());
    }
}
