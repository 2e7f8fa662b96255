//! [`ExportError`]: everything that can go wrong between a finished span and the
//! collector, in one `#[non_exhaustive]` enum whose variant docs say when each happens.

use std::fmt;
use std::io;
use std::path::PathBuf;

use picotrace::wire::otlp::EncodeError;

use crate::retry::is_retryable_status;

/// Why an export (or building an exporter) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The endpoint is not an absolute `http://` or `https://` URL with a host (and, if
    /// it names one, a port from 1 to 65535). Happens
    /// when an exporter is built (from code or `OTEL_EXPORTER_OTLP_*ENDPOINT`).
    InvalidEndpoint {
        /// The URL as given, its credentials and query `REDACTED`.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header given to the builder is refused: not a valid HTTP header name, a value
    /// that is not visible ASCII, or a header that frames the request (see
    /// [`crate::otlp_http::RESERVED_HEADERS`]). Happens when an exporter is built. The
    /// value is never kept here: it may be a secret; nor a name that is no header name
    /// (`<redacted>`).
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A CA certificate, client certificate or client key given to the builder (or
    /// through `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`, `_CLIENT_CERTIFICATE`,
    /// `_CLIENT_KEY`) cannot be used: the file cannot be read, the PEM is malformed or
    /// holds no certificate (or key), or the key does not belong to the certificate.
    /// Happens when an exporter is built. Names the file, never its content.
    InvalidTls {
        /// `"CA certificate"`, `"client certificate"` or `"client key"`.
        what: &'static str,
        /// The file it was read from; `None` for PEM given as bytes.
        path: Option<PathBuf>,
        /// Why it was refused.
        reason: String,
    },
    /// The request did not complete within the exporter's timeout (connect, send and
    /// response together), or a deadline left no time to try again. Retried.
    Timeout,
    /// No connection could be made: refused, unreachable, or the host name does not
    /// resolve. Retried (a collector that restarts comes back).
    Connect(io::Error),
    /// The connection broke while sending or receiving (reset, unexpected end). Retried.
    Io(io::Error),
    /// The collector answered with a status other than 2xx. 429, 502, 503 and 504 are
    /// retried first (and end in [`ExportError::RetriesExhausted`]; here with retries
    /// off); any other status, a redirect (3xx: not followed) included,
    /// like 400 for a body the collector could not decode, is returned at once. `body`
    /// holds the start of the response body (at most 1 KiB, lossy UTF-8) or, for a
    /// protobuf `google.rpc.Status`, its message.
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// What the collector said, for diagnostics.
        body: String,
    },
    /// Every attempt failed with a retryable error; `last` is the final one. Happens
    /// after `1 + max_retries` attempts, or earlier when the export deadline would pass
    /// during the next wait.
    RetriesExhausted {
        /// The error of the last attempt.
        last: Box<ExportError>,
        /// How many requests were sent.
        attempts: u32,
    },
    /// Spans could not be encoded into the caller's buffer: what `?` makes of an
    /// [`EncodeError`] when encoding by hand with [`crate::Protocol::encode_request`]
    /// before [`crate::OtlpHttpExporter::send`]. (The exporters themselves skip and
    /// count a span too large for a request instead of failing its batch.) Not
    /// retried.
    Encode(EncodeError),
    /// The batch exporter's queue (or its buffer pool) was full, so spans were dropped
    /// on the application thread instead of waiting: returned by
    /// [`crate::BatchExporter::try_export`], and always counted in `BatchStats`.
    QueueFull,
    /// The exporter was shut down; later spans are dropped and counted. Returned by
    /// [`crate::BatchExporter::try_export`], and by `flush` when the worker stopped with
    /// spans left.
    Shutdown,
    /// [`crate::TracerProvider::flush`] or [`crate::TracerProvider::shutdown`] was
    /// called by the provider's own exporter, on the thread that runs it (or
    /// [`crate::BatchExporter::flush`] / [`crate::BatchExporter::shutdown`] by its
    /// transport, on its worker): waiting there for the exports to end would wait for
    /// itself. Nothing was done; call it from another thread.
    InsideExport,
    /// [`crate::TracerProvider::flush`] or [`crate::TracerProvider::shutdown`] was
    /// called in a process forked from the one that built the provider: its export
    /// thread and a batch exporter's workers are not in this process (nor are the locks
    /// they held let go here), so nothing was done. The child's spans wait in the
    /// arena, exported (if at all) only when it fills, by a thread that starts a span
    /// and finds it full; with a batch exporter whose queue lock a worker held at the
    /// fork, that thread would wait for ever. Build or install the provider after the
    /// fork.
    Forked,
    /// Not every span made it: `lost` spans were dropped or failed to export (arena or
    /// queue full, export failures, rejected by the collector, ended after shutdown).
    /// [`crate::TracerProvider::flush`] returns those lost since the previous flush
    /// (`running` 0); [`crate::TracerProvider::shutdown`] all of them, and in `running`
    /// the spans that had not ended yet and would have been exported (they are dropped
    /// and counted when they do).
    SpansLost {
        /// Spans dropped or failed, exactly.
        lost: u64,
        /// Spans still running at shutdown that would have been exported (recording
        /// and sampled); ended later, they are dropped and counted. Spans that are
        /// never exported (sampled out, recorded but not sampled) are not counted.
        running: u64,
    },
    /// The TLS handshake with the collector failed: its certificate is not trusted
    /// (unknown CA: see `OTEL_EXPORTER_OTLP_CERTIFICATE`), expired, or made out for
    /// another name, or the collector refused our client certificate. Not retried:
    /// the next attempt would meet the same certificate.
    Tls(Box<dyn std::error::Error + Send + Sync>),
    /// The HTTP client failed in a way that retrying will not fix: a protocol
    /// violation by the server. Not retried.
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// Not sent: an earlier response asked, with `Retry-After`, for no request until a
    /// time this export's deadline comes before (`wait` from now; the wait is capped
    /// at [`crate::RetryPolicy::max_retry_after`], plus the policy's jitter). The OTLP specification: the
    /// client SHOULD honour the waiting interval. Not retried.
    Throttled {
        /// How long the collector's wait has left to run.
        wait: std::time::Duration,
    },
}

impl ExportError {
    /// Returns `true` when sending the same request again may succeed (see each
    /// variant).
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Timeout | ExportError::Connect(_) | ExportError::Io(_) => true,
            ExportError::HttpStatus { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    /// Returns the HTTP status of the (last) response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ExportError::HttpStatus { status, .. } => Some(*status),
            ExportError::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Maps an I/O error: timeouts to [`ExportError::Timeout`], connection set-up
    /// failures to [`ExportError::Connect`], the rest to [`ExportError::Io`].
    pub(crate) fn from_io(e: io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::TimedOut | K::WouldBlock => ExportError::Timeout,
            K::ConnectionRefused
            | K::NotFound
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown => ExportError::Connect(e),
            _ => ExportError::Io(e),
        }
    }
}

impl From<ureq::Error> for ExportError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(_) => ExportError::Timeout,
            ureq::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
                // rustls reports handshake failures through the stream as I/O errors.
                // (An `io::Error` displays as the error it wraps.)
                ExportError::Tls(Box::new(io))
            }
            ureq::Error::Io(io) => ExportError::from_io(io),
            ureq::Error::Rustls(e) => ExportError::Tls(Box::new(e)),
            e @ (ureq::Error::Tls(_) | ureq::Error::Pem(_)) => ExportError::Tls(Box::new(e)),
            ureq::Error::HostNotFound => {
                ExportError::Connect(io::Error::new(io::ErrorKind::NotFound, "host not found"))
            }
            ureq::Error::ConnectionFailed => ExportError::Connect(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection failed",
            )),
            // The proxy could not reach the collector (it answered 503, or nothing): a
            // connection failure, retried as one (found by review: given up on at once,
            // where the same outage without a proxy was retried).
            // A proxy that refuses us (407 credentials, 403 policy) is not retried.
            ureq::Error::ConnectProxyFailed(why)
                if why.contains(" 407/") || why.contains(" 403/") =>
            {
                ExportError::Transport(Box::new(ureq::Error::ConnectProxyFailed(why)))
            }
            ureq::Error::ConnectProxyFailed(why) => ExportError::Connect(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("CONNECT proxy failed: {why}"),
            )),
            ureq::Error::StatusCode(status) => ExportError::HttpStatus {
                status,
                body: String::new(),
            },
            other => ExportError::Transport(Box::new(other)),
        }
    }
}

impl From<EncodeError> for ExportError {
    fn from(e: EncodeError) -> Self {
        ExportError::Encode(e)
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::InvalidEndpoint { url, reason } => {
                let url = crate::otlp_http::redacted_url(url);
                write!(f, "invalid OTLP endpoint {url:?}: {reason}")
            }
            ExportError::InvalidHeader { name, reason } => {
                write!(f, "invalid HTTP header {name:?}: {reason}")
            }
            ExportError::InvalidTls {
                what,
                path: Some(path),
                reason,
            } => write!(f, "invalid {what} {}: {reason}", path.display()),
            ExportError::InvalidTls {
                what,
                path: None,
                reason,
            } => write!(f, "invalid {what} (PEM given in code): {reason}"),
            ExportError::Timeout => f.write_str("export timed out"),
            ExportError::Connect(e) => write!(f, "could not connect to the collector: {e}"),
            ExportError::Io(e) => write!(f, "connection to the collector failed: {e}"),
            ExportError::HttpStatus { status, body } if body.is_empty() => {
                write!(f, "collector answered HTTP {status}")
            }
            ExportError::HttpStatus { status, body } => {
                write!(f, "collector answered HTTP {status}: {body}")
            }
            ExportError::RetriesExhausted { last, attempts } => {
                write!(f, "export failed after {attempts} attempts: {last}")
            }
            // Its own message, not its `Debug` (found by review).
            ExportError::Encode(e) => write!(f, "could not encode spans: {e}"),
            ExportError::QueueFull => f.write_str("export queue full; spans dropped"),
            ExportError::Shutdown => f.write_str("exporter is shut down"),
            ExportError::Forked => f.write_str(
                "flush or shutdown in a process forked from the one that built the tracer \
                 provider: its export threads are not here (build or install the provider \
                 after the fork)",
            ),
            ExportError::InsideExport => f.write_str(
                "flush or shutdown called by the exporter itself: it cannot wait for its own \
                 export (call it from another thread)",
            ),
            ExportError::SpansLost { lost, running: 0 } => write!(f, "{lost} spans were lost"),
            ExportError::SpansLost { lost, running } => write!(
                f,
                "{lost} spans were lost and {running} were still running at shutdown"
            ),
            ExportError::Tls(e) => write!(f, "TLS with the collector failed: {e}"),
            ExportError::Transport(e) => write!(f, "HTTP transport error: {e}"),
            ExportError::Throttled { wait } => write!(
                f,
                "not sent: the collector asked for no requests for another {:.1} s (Retry-After)",
                wait.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Connect(e) | ExportError::Io(e) => Some(e),
            ExportError::RetriesExhausted { last, .. } => Some(&**last),
            ExportError::Tls(e) | ExportError::Transport(e) => Some(&**e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_variants_are_transient_ones() {
        assert!(ExportError::Timeout.is_retryable());
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            ExportError::from_io(refused),
            ExportError::Connect(_)
        ));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let reset = ExportError::from_io(reset);
        assert!(matches!(reset, ExportError::Io(_)) && reset.is_retryable());
        let status = |status| ExportError::HttpStatus {
            status,
            body: String::new(),
        };
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!ExportError::QueueFull.is_retryable());
        assert!(!ExportError::Shutdown.is_retryable());
        // Regression (found by review): a proxy that could not reach the collector was
        // a transport error, not retried.
        let failed = |why: &str| ExportError::from(ureq::Error::ConnectProxyFailed(why.into()));
        let proxy = failed("proxy server responded 503/Service Unavailable");
        assert!(proxy.is_retryable(), "{proxy:?}");
        assert!(
            proxy
                .to_string()
                .contains("CONNECT proxy failed: proxy server"),
            "{proxy}"
        );
        assert!(failed("proxy server did not respond").is_retryable());
        // Refused by the proxy itself: retrying does not help.
        let refused = failed("proxy server responded 407/Proxy Authentication Required");
        assert!(!refused.is_retryable(), "{refused:?}");
    }

    #[test]
    fn display_names_the_cause() {
        // Regression (found by review): an encoding error showed its `Debug` form.
        let e = ExportError::Encode(EncodeError::SpanTooLarge { index: 3 });
        let shown = e.to_string();
        assert!(shown.starts_with("could not encode spans: "), "{shown}");
        assert!(!shown.contains("SpanTooLarge"), "{shown}");
        let e = ExportError::RetriesExhausted {
            last: Box::new(ExportError::HttpStatus {
                status: 503,
                body: "busy".into(),
            }),
            attempts: 4,
        };
        assert_eq!(
            e.to_string(),
            "export failed after 4 attempts: collector answered HTTP 503: busy"
        );
        assert_eq!(e.status(), Some(503));
        assert!(std::error::Error::source(&e).is_some());
    }
}
