//! A blocking line connection: one command out, one JSON reply line in.

use anyhow::{anyhow, Context, Result};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `host:port`, trying each address the name resolves to.
    pub fn connect(host: &str, port: u16) -> Result<Self> {
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    let writer = stream.try_clone()?;
                    return Ok(Self {
                        reader: BufReader::new(stream),
                        writer,
                        buf: Vec::new(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| anyhow!("{host} has no address"), anyhow::Error::from))
    }

    /// Sends one command line (without its line ending) and returns the
    /// reply line (without its `\n`). Bytes that are not UTF-8 are shown as
    /// U+FFFD.
    pub fn request(&mut self, line: &[u8]) -> io::Result<String> {
        let mut out = Vec::with_capacity(line.len() + 1);
        out.extend_from_slice(line);
        out.push(b'\n');
        self.writer.write_all(&out)?;
        self.buf.clear();
        self.reader.read_until(b'\n', &mut self.buf)?;
        if self.buf.pop() != Some(b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(String::from_utf8_lossy(&self.buf).into_owned())
    }
}
