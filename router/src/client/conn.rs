//! One TCP connection to one port of the server, with a buffered reader.

use super::auth::Auth;
use super::error::{Error, Result};
use super::wire::Reply;
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const READ_BUFFER: usize = 64 * 1024;

/// A connection that is in step with the server: every line written has had
/// its reply read. Any failure part-way (an I/O or protocol error, or the
/// future being dropped) loses the connection instead of reusing it.
pub(crate) struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: Vec<u8>,
}

impl Conn {
    /// Connects to `host:port` and, with `auth`, authenticates first (a
    /// refusal is the server's error).
    pub(crate) async fn connect(host: &str, port: u16, auth: Option<&Auth>) -> Result<Self> {
        let mut conn = Self::open(host, port).await?;
        if let Some(auth) = auth {
            conn.call(&auth.command()).await?.into_unit()?;
        }
        Ok(conn)
    }

    async fn open(host: &str, port: u16) -> Result<Self> {
        let stream = TcpStream::connect((host, port)).await.map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot connect to {host}:{port}: {e}"),
            ))
        })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::with_capacity(READ_BUFFER, reader),
            writer,
            line: Vec::new(),
        })
    }

    /// Sends one command line and reads its reply.
    pub(crate) async fn call(&mut self, request: &[u8]) -> Result<Reply> {
        self.writer.write_all(request).await?;
        read_reply(&mut self.reader, &mut self.line).await
    }

    /// Sends `request` (`n` complete lines) with one write and reads the `n`
    /// replies. Reading goes on while the request is written, so neither side
    /// can stall the other however large the pipeline is.
    pub(crate) async fn pipeline(&mut self, request: &[u8], n: usize) -> Result<Vec<Reply>> {
        let Self {
            reader,
            writer,
            line,
        } = self;
        let write = async { writer.write_all(request).await.map_err(Error::Io) };
        let read = async {
            let mut replies = Vec::with_capacity(n);
            for _ in 0..n {
                replies.push(read_reply(reader, line).await?);
            }
            Ok(replies)
        };
        let ((), replies) = tokio::try_join!(write, read)?;
        Ok(replies)
    }
}

async fn read_reply(reader: &mut BufReader<OwnedReadHalf>, line: &mut Vec<u8>) -> Result<Reply> {
    line.clear();
    if reader.read_until(b'\n', line).await? == 0 || line.last() != Some(&b'\n') {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    line.pop();
    if line.capacity() > READ_BUFFER * 4 {
        // Do not keep a huge value's buffer for the connection's lifetime.
        let reply = Reply::parse(line);
        *line = Vec::new();
        return reply;
    }
    Reply::parse(line)
}
