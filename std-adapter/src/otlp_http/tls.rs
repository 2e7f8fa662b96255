//! TLS material for the exporter: the CA certificates that verify the collector
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`) and a client certificate with its key for mutual
//! TLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY`), as PEM
//! given in code or read from files.
//!
//! Everything is read and checked when the exporter is built: ureq loads the client
//! key only at the first connection and panics there when the key does not belong to
//! the certificate, so the pair goes through rustls's own check first
//! (`CertifiedKey::from_der`). Errors name the file, never its content.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts};

use crate::error::ExportError;

/// Where PEM comes from: bytes given in code, or a file read when the exporter is built.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PemSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Shows a file's path, or only the length of PEM given in code (it may be a key).
impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::Bytes(b) => write!(f, "<{} bytes of PEM>", b.len()),
            PemSource::File(p) => fmt::Debug::fmt(p, f),
        }
    }
}

/// The longest PEM file read: a CA bundle (Mozilla's, ~150 certificates) is ~220 KB.
const MAX_PEM_FILE: u64 = 1 << 20;

/// Reads a PEM file: only a regular file (a FIFO with no writer blocked the program's
/// start for ever; `/dev/zero` grew a buffer until the process was killed), and at most
/// [`MAX_PEM_FILE`] bytes of it.
fn read_pem_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read as _};
    // Checked before opening: opening a FIFO for reading waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("longer than {MAX_PEM_FILE} bytes"),
        ));
    }
    Ok(bytes)
}

/// What a [`PemSource`] should hold, for error messages.
#[derive(Clone, Copy)]
pub(crate) enum Item {
    Ca,
    ClientCertificate,
    ClientKey,
}

impl Item {
    fn name(self) -> &'static str {
        match self {
            Item::Ca => "CA certificate",
            Item::ClientCertificate => "client certificate",
            Item::ClientKey => "client key",
        }
    }
}

impl PemSource {
    fn error(&self, item: Item, reason: impl Into<String>) -> ExportError {
        ExportError::InvalidTls {
            what: item.name(),
            path: match self {
                PemSource::File(p) => Some(p.clone()),
                PemSource::Bytes(_) => None,
            },
            reason: reason.into(),
        }
    }

    fn read(&self, item: Item) -> Result<Cow<'_, [u8]>, ExportError> {
        match self {
            PemSource::Bytes(b) => Ok(Cow::Borrowed(b)),
            // The I/O error says why (not found, permission denied), never what was read.
            PemSource::File(p) => read_pem_file(p)
                .map(Cow::Owned)
                .map_err(|e| self.error(item, format!("cannot read the file: {e}"))),
        }
    }

    /// Returns every PEM item (certificates and private keys; other sections skipped).
    fn items(&self, item: Item) -> Result<Vec<PemItem<'static>>, ExportError> {
        let pem = self.read(item)?;
        // ureq's PEM error quotes the offending line, which could be key material.
        ureq::tls::parse_pem(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| self.error(item, "not valid PEM (a malformed or unterminated section)"))
    }

    /// Reads the certificates (`CERTIFICATE` blocks), in order; at least one.
    pub(crate) fn certificates(
        &self,
        item: Item,
    ) -> Result<Vec<Certificate<'static>>, ExportError> {
        let certs: Vec<Certificate<'static>> = self
            .items(item)?
            .into_iter()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(self.error(item, "no CERTIFICATE block in the PEM"));
        }
        for cert in &certs {
            let mut store = rustls::RootCertStore::empty();
            store
                .add(CertificateDer::from(cert.der()))
                .map_err(|e| self.error(item, format!("a certificate cannot be used: {e}")))?;
        }
        Ok(certs)
    }

    /// Reads the first private key (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub(crate) fn private_key(&self) -> Result<PrivateKey<'static>, ExportError> {
        let item = Item::ClientKey;
        self.items(item)?
            .into_iter()
            .find_map(|i| match i {
                PemItem::PrivateKey(k) => Some(k),
                _ => None,
            })
            .ok_or_else(|| {
                self.error(
                    item,
                    "no unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the PEM",
                )
            })
    }
}

/// Returns the trust roots: the CA certificates in `ca`.
pub(crate) fn root_certs(ca: &PemSource) -> Result<RootCerts, ExportError> {
    Ok(RootCerts::from(ca.certificates(Item::Ca)?))
}

/// Returns the client certificate chain (leaf first) with its key, checked to belong
/// together.
pub(crate) fn client_cert(cert: &PemSource, key: &PemSource) -> Result<ClientCert, ExportError> {
    let chain = cert.certificates(Item::ClientCertificate)?;
    let private = key.private_key()?;
    // The same first key block, as rustls types (ureq does not name its key kinds).
    let key_der = PrivateKeyDer::from_pem_slice(&key.read(Item::ClientKey)?)
        .map_err(|_| key.error(Item::ClientKey, "not valid PEM"))?;
    // The provider ureq uses: the process default, else ring. (rustls 0.23.48 deprecates
    // ring's, which has no post-quantum key exchange; ureq still builds its own with it,
    // and the key must be loaded by the provider that will sign with it.)
    #[allow(deprecated)]
    let ring = || Arc::new(rustls::crypto::ring::default_provider());
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(ring);
    let ders = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    rustls::sign::CertifiedKey::from_der(ders, key_der, &provider).map_err(|e| {
        let reason = match e {
            rustls::Error::InconsistentKeys(_) => {
                "the key does not belong to the (first) client certificate"
            }
            _ => "the key cannot be used (malformed, or a type rustls does not support)",
        };
        key.error(Item::ClientKey, reason)
    })?;
    Ok(ClientCert::new_with_certs(&chain, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_A_CERT: &str =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    const SECRET_KEY: &str = "-----BEGIN PRIVATE KEY-----\nc3VwZXJzZWNyZXQ=\n";

    fn reason(e: ExportError) -> String {
        match e {
            ExportError::InvalidTls { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    /// Regression: a path to a FIFO with no writer blocked for ever (reading the
    /// environment at start-up hung), and `/dev/zero` was read until memory ran out.
    #[cfg(unix)]
    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = std::env::temp_dir().join(format!("picotrace-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let fifo = dir.join("ca.fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let long = dir.join("long.pem");
        std::fs::write(&long, vec![b'#'; MAX_PEM_FILE as usize + 1]).expect("write");
        for (path, why) in [
            (fifo.clone(), "not a regular file"),
            ("/dev/zero".into(), "not a regular file"),
            (long.clone(), "longer than"),
        ] {
            let source = PemSource::File(path.clone());
            // On a thread: the bug blocked, and a test that hangs says less than one
            // that fails.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(root_certs(&source).map(drop));
            });
            let result = rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("{path:?}: still reading after 5 s"));
            let shown = reason(result.expect_err("refused"));
            assert!(shown.contains(why), "{path:?}: {shown}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_pem_is_an_error_that_names_the_file_not_its_content() {
        let missing = PemSource::File("/nonexistent/ca.pem".into());
        let e = root_certs(&missing).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("/nonexistent/ca.pem") && shown.contains("CA certificate"),
            "{shown}"
        );
        #[rustfmt::skip]
        let table: &[(&str, &str, &str)] = &[
            ("", "no CERTIFICATE", "empty"),
            ("hello", "no CERTIFICATE", "not PEM at all"),
            (NOT_A_CERT, "cannot be used", "base64 of something else"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n", "not valid PEM", "unterminated"),
        ];
        for (pem, want, why) in table {
            let e = root_certs(&PemSource::Bytes(pem.as_bytes().to_vec())).unwrap_err();
            assert!(reason(e).contains(want), "{why}");
        }
    }

    #[test]
    fn key_errors_never_show_key_material() {
        let cert = PemSource::Bytes(NOT_A_CERT.into());
        let key = PemSource::Bytes(SECRET_KEY.into());
        for e in [
            key.private_key().unwrap_err(),
            client_cert(&cert, &key).unwrap_err(),
        ] {
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(
                    !shown.contains("c3VwZXJzZWNyZXQ") && !shown.contains("supersecret"),
                    "{shown}"
                );
            }
        }
        assert_eq!(
            format!("{key:?}"),
            format!("<{} bytes of PEM>", SECRET_KEY.len())
        );
    }
}
