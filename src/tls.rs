//! TLS (rustls, ring provider): the server configuration built once at
//! start-up from `--tls-*` flags, shared by every worker's acceptor.
//!
//! The handshake itself runs in each connection's own task
//! ([`crate::worker`]), under a time limit, so a slow or hostile client
//! never holds up the worker or the other connections.

use crate::config::{AuthClients, Config};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::{self, server::WebPkiClientVerifier, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A handshake that has not finished by then is dropped (hang guard; as
/// long as common proxies allow a handshake, long enough for a client on
/// a slow, lossy link).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every worker shares about TLS.
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    /// The shared TLS port.
    pub shared_port: u16,
    /// Each worker's TLS core port; empty without `--tls-cluster`.
    pub core_ports: Vec<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS needs {0}")]
    Missing(&'static str),
    #[error("cannot read {}: {source}", path.display())]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    #[error("bad CA certificate in {}: {source}", path.display())]
    Ca {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("client certificate check with the CAs in {}: {source}", path.display())]
    Verifier {
        path: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    #[error("certificate {} and key {} do not make a TLS server: {source}", cert.display(), key.display())]
    Server {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("--tls-auth-clients {0} needs --tls-ca-cert-file")]
    AuthWithoutCa(&'static str),
}

/// The acceptor every worker shares, built from the `--tls-*` flags.
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let cert = config
        .tls_cert_file
        .as_deref()
        .ok_or(TlsError::Missing("--tls-cert-file"))?;
    let key = config
        .tls_key_file
        .as_deref()
        .ok_or(TlsError::Missing("--tls-key-file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| server_error(cert, key, source))?;
    let builder = match client_auth(config)? {
        None => builder.with_no_client_auth(),
        Some((ca, mode)) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match mode {
                AuthClients::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|source| TlsError::Verifier {
                path: ca.to_path_buf(),
                source,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|source| server_error(cert, key, source))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn server_error(cert: &Path, key: &Path, source: rustls::Error) -> TlsError {
    TlsError::Server {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    }
}

/// The CA file and the mode, when clients are to present certificates.
/// As Redis: `yes` unless told otherwise once a CA is given.
fn client_auth(config: &Config) -> Result<Option<(&Path, AuthClients)>, TlsError> {
    let ca = config.tls_ca_cert_file.as_deref();
    match (ca, config.tls_auth_clients) {
        (_, Some(AuthClients::No)) | (None, None) => Ok(None),
        (None, Some(AuthClients::Yes)) => Err(TlsError::AuthWithoutCa("yes")),
        (None, Some(AuthClients::Optional)) => Err(TlsError::AuthWithoutCa("optional")),
        (Some(ca), mode) => Ok(Some((ca, mode.unwrap_or(AuthClients::Yes)))),
    }
}

fn pem_error(path: &Path) -> impl FnOnce(rustls_pki_types::pem::Error) -> TlsError + '_ {
    move |source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(pem_error(path))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|source| TlsError::Ca {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["corekv"];
        argv.extend_from_slice(args);
        Config::parse_from(argv)
    }

    fn error(args: &[&str]) -> String {
        acceptor(&config(args))
            .err()
            .expect("must fail")
            .to_string()
    }

    #[test]
    fn errors_name_the_flag_or_the_file() {
        let err = error(&[]);
        assert!(err.contains("--tls-cert-file"), "{err}");
        let err = error(&["--tls-cert-file", "/nonexistent/c.pem"]);
        assert!(err.contains("--tls-key-file"), "{err}");
        let err = error(&[
            "--tls-cert-file",
            "/nonexistent/c.pem",
            "--tls-key-file",
            "/nonexistent/k.pem",
        ]);
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
    }

    #[test]
    fn client_auth_defaults_as_redis() {
        let c = config(&["--tls-ca-cert-file", "ca.pem"]);
        assert_eq!(
            client_auth(&c).unwrap(),
            Some((Path::new("ca.pem"), AuthClients::Yes))
        );
        let c = config(&["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
        assert_eq!(client_auth(&c).unwrap(), None);
        let c = config(&[
            "--tls-ca-cert-file",
            "ca.pem",
            "--tls-auth-clients",
            "optional",
        ]);
        assert_eq!(
            client_auth(&c).unwrap(),
            Some((Path::new("ca.pem"), AuthClients::Optional))
        );
        assert_eq!(client_auth(&config(&[])).unwrap(), None);
        let c = config(&["--tls-auth-clients", "yes"]);
        assert!(matches!(
            client_auth(&c),
            Err(TlsError::AuthWithoutCa("yes"))
        ));
    }
}
