//! The client's one error type.

use crate::TopologyError;

/// Everything a [`Client`](super::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting, reading or writing failed, or the server closed the
    /// connection. The connection concerned is discarded; the next call opens
    /// a new one.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered `{"status": "Error", "mesg": ...}`; this is the
    /// `mesg`. (A `GET` of an absent key is not an error: it gives `None`.)
    /// A refused `AUTH` is one too (`WRONGPASS …`), as is any command on a
    /// server with a password when the client has none (`NOAUTH …`).
    #[error("server error: {0}")]
    Server(String),
    /// The server's answer was not what the protocol says it should be.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The key cannot be sent: it is empty or contains whitespace. Nothing
    /// was sent.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The value cannot be sent as it is: it is empty, contains a line break,
    /// or starts or ends with whitespace (which the server would trim).
    /// Nothing was sent.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A user name or password cannot be sent: it is empty or contains
    /// whitespace. Nothing was sent.
    #[error("invalid credentials: {0}")]
    InvalidAuth(String),
    /// The server's `TOPOLOGY` does not describe a usable slot layout.
    #[error("invalid topology: {0}")]
    Topology(#[from] TopologyError),
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
