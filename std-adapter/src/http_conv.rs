//! What the HTTP server layer and the HTTP client span share of OpenTelemetry's HTTP
//! semantic conventions: method names, query redaction, protocol versions, gRPC calls.

/// The methods HTTP's semantic conventions know by default: RFC 9110's, `PATCH` (RFC
/// 5789) and `QUERY` (RFC 10008); any other is recorded as `_OTHER` (a method is
/// client input: unbounded names would make every span name different).
pub(crate) const DEFAULT_KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// The environment variable that replaces [`DEFAULT_KNOWN_METHODS`] (the HTTP
/// conventions: an instrumentation that records valid methods as `_OTHER` "MUST"
/// offer an override, named so when it is an environment variable).
pub(crate) const KNOWN_METHODS_VAR: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

/// The HTTP methods the server and client spans record by name: the comma-separated,
/// case-sensitive list in `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (which replaces the
/// default, as the conventions say), read once, else RFC 9110's methods, `PATCH` and
/// `QUERY`. Any other method is recorded as `_OTHER` (with
/// `http.request.method_original`) in a span named `HTTP`.
pub fn known_http_methods() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| known_methods_from(std::env::var(KNOWN_METHODS_VAR).ok().as_deref()))
}

/// The known methods a value of [`KNOWN_METHODS_VAR`] gives (the default when unset or
/// blank). Each listed method is kept for the life of the process (read once).
fn known_methods_from(value: Option<&str>) -> Vec<&'static str> {
    let listed: Vec<&str> = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if listed.is_empty() {
        return DEFAULT_KNOWN_METHODS.to_vec();
    }
    listed
        .into_iter()
        .map(|m| match DEFAULT_KNOWN_METHODS.iter().find(|d| **d == m) {
            Some(default) => *default,
            None => &*Box::leak(Box::<str>::from(m)),
        })
        .collect()
}

/// `http.request.method` of `method` (`_OTHER` for one not [known](known_http_methods))
/// and the span name it gives (`HTTP` for those).
pub(crate) fn method_and_name(method: &str) -> (&'static str, &'static str) {
    match known_http_methods().iter().find(|m| **m == method) {
        Some(known) => (known, known),
        None => ("_OTHER", "HTTP"),
    }
}

/// The query keys whose values are redacted: those OpenTelemetry's conventions ask to
/// redact by default (signatures and access keys of signed URLs), and the secrets of
/// AWS's Signature Version 4 presigned URLs, which current AWS SDKs make (found by
/// review: a SigV4 URL went out working in `url.full`).
pub(crate) const SECRET_QUERY_KEYS: [&str; 7] = [
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];

/// `query` with the value of each key OpenTelemetry's conventions ask to redact by
/// default (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`: signatures and
/// access keys of signed URLs), and of AWS SigV4's `X-Amz-Signature`,
/// `X-Amz-Credential` and `X-Amz-Security-Token`, replaced by `REDACTED`, its key
/// kept, as `url.query`
/// asks: for servers and clients that record it themselves (`ServerLayer`, feature
/// `tower`, and [`crate::HttpClientSpan`] do this already).
///
/// ```
/// assert_eq!(picotrace_std::redact_query("q=shoes&sig=abc"), "q=shoes&sig=REDACTED");
/// assert_eq!(
///     picotrace_std::redact_query("X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc"),
///     "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"
/// );
/// assert_eq!(picotrace_std::redact_query("x-amz-signature=abc"), "x-amz-signature=REDACTED");
/// assert_eq!(picotrace_std::redact_query("q=shoes"), "q=shoes");
/// ```
pub fn redact_query(query: &str) -> std::borrow::Cow<'_, str> {
    // Keys in any ASCII case: `x-amz-signature` signs as well (found by review).
    let secret = |pair: &str| {
        pair.split_once('=').is_some_and(|(key, _)| {
            SECRET_QUERY_KEYS
                .iter()
                .any(|secret| secret.eq_ignore_ascii_case(key))
        })
    };
    if !query.split('&').any(secret) {
        return std::borrow::Cow::Borrowed(query);
    }
    let mut redacted = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            redacted.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if secret(pair) => {
                redacted.push_str(key);
                redacted.push_str("=REDACTED");
            }
            _ => redacted.push_str(pair),
        }
    }
    std::borrow::Cow::Owned(redacted)
}

/// `network.protocol.version` of an HTTP version.
pub(crate) fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// The service and method of a gRPC call (`content-type: application/grpc…`, path
/// `/{package.Service}/{Method}`, the last two segments: a call can go under a prefix,
/// as tonic's `Grpc::with_origin` with a path, or routes nested under one, send it;
/// found by review: such a call was taken for plain HTTP).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn grpc_call<B>(request: &http::Request<B>) -> Option<(&str, &str)> {
    if !has_grpc_content_type(request.headers()) {
        return None;
    }
    let (rest, method) = request.uri().path().rsplit_once('/')?;
    let (_, service) = rest.rsplit_once('/')?;
    (!service.is_empty() && !method.is_empty()).then_some((service, method))
}

/// Whether `headers` (a request's or a response's) say the body is gRPC's:
/// `application/grpc`, `application/grpc+proto`, `application/grpc;charset=..`, in any
/// case (media types are case-insensitive); not `application/grpc-web` (a different
/// protocol, HTTP/1.1 from browsers) or `application/grpcx`.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn has_grpc_content_type(headers: &http::HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    let Some(content_type) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    content_type
        .as_bytes()
        .split_at_checked(GRPC.len())
        .is_some_and(|(kind, rest)| {
            kind.eq_ignore_ascii_case(GRPC) && matches!(rest.first(), None | Some(b'+' | b';'))
        })
}

/// The `grpc-status` in `headers` (a response's head, or its trailers), if any.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<u8> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u8>().ok())
}

/// The `grpc-message` in `headers` (a response's head, or its trailers),
/// percent-decoded; one that does not decode is kept as sent, as the gRPC over HTTP/2
/// protocol asks ("MUST NOT error or throw away the message"). `None` without one.
#[cfg(feature = "tower")]
pub(crate) fn grpc_message(headers: &http::HeaderMap) -> Option<String> {
    let raw = String::from_utf8_lossy(headers.get("grpc-message")?.as_bytes());
    let message = crate::env::percent_decode(&raw).unwrap_or_else(|| raw.into_owned());
    (!message.is_empty()).then_some(message)
}

/// Describes `span`'s Error with the `grpc-message` in `headers`, if there is one,
/// filling only a bare Error: a description set on purpose (a handler's, through
/// `ServerSpan`) stays. For a code the caller counts as an error: otelgrpc records the
/// message so (found by a tonic user's tryout: `Status::internal("kaboom")` said only
/// `error.type` 13).
#[cfg(feature = "tower")]
pub(crate) fn describe_with_grpc_message(span: &mut crate::StdSpan, headers: &http::HeaderMap) {
    if let Some(message) = grpc_message(headers) {
        span.set_status_if_unset(picotrace::Status::Error {
            description: &message,
        });
    }
}

/// OK: a call that succeeded.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_OK: u8 = 0;
/// CANCELLED: a call the client gave up on.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_CANCELLED: u8 = 1;
/// UNKNOWN: what a client makes of a call whose status never came.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_UNKNOWN: u8 = 2;
/// DEADLINE_EXCEEDED: a call whose deadline (`grpc-timeout`) passed before it was done.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_DEADLINE_EXCEEDED: u8 = 4;
/// gRPC's UNAVAILABLE: what a gRPC client makes of a call that got no response (a
/// connection refused or lost before the response's head; tonic and grpc-go answer it).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_UNAVAILABLE: u8 = 14;
/// The deadline a gRPC request's `grpc-timeout` header sets, counted from `now`: 1 to
/// 8 ASCII digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`), as the gRPC over HTTP/2
/// protocol has it; `None` without one or for a malformed one.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn grpc_deadline(
    headers: &http::HeaderMap,
    now: std::time::Instant,
) -> Option<std::time::Instant> {
    let value = headers.get("grpc-timeout")?.as_bytes();
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let timeout = match unit {
        b'H' => std::time::Duration::from_secs(amount.checked_mul(3600)?),
        b'M' => std::time::Duration::from_secs(amount.checked_mul(60)?),
        b'S' => std::time::Duration::from_secs(amount),
        b'm' => std::time::Duration::from_millis(amount),
        b'u' => std::time::Duration::from_micros(amount),
        b'n' => std::time::Duration::from_nanos(amount),
        _ => return None,
    };
    now.checked_add(timeout)
}

/// UNIMPLEMENTED: what tonic's router answers for a path it does not route.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const GRPC_UNIMPLEMENTED: u8 = 12;

/// A span's attributes gathered before it starts, for a sampler that decides by them
/// (the HTTP conventions ask for them at creation, for sampling), then recorded with
/// their `&'static` keys (stored without copying their text) once the span records:
/// at most [`StartAttributes::MAX`], more than a request ever has. On the stack.
pub(crate) struct StartAttributes<'a> {
    list: [picotrace::KeyValue<'a>; StartAttributes::MAX],
    keys: [&'static str; StartAttributes::MAX],
    len: usize,
}

impl<'a> StartAttributes<'a> {
    const MAX: usize = 16;

    pub(crate) fn new() -> Self {
        Self {
            list: [picotrace::KeyValue::new("", false); Self::MAX],
            keys: [""; Self::MAX],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, key: &'static str, value: impl picotrace::IntoValue<'a>) {
        if let (Some(slot), Some(static_key)) =
            (self.list.get_mut(self.len), self.keys.get_mut(self.len))
        {
            *slot = picotrace::KeyValue::new(key, value);
            *static_key = key;
            self.len += 1;
        }
    }

    /// For the sampler ([`picotrace::SpanBuilder::sampler_attributes`]).
    pub(crate) fn as_slice(&self) -> &[picotrace::KeyValue<'a>] {
        &self.list[..self.len]
    }

    /// Records them on `span` (nothing when it does not record).
    pub(crate) fn record_on(&self, span: &mut crate::StdSpan) {
        for (key, kv) in self.keys.iter().zip(self.as_slice()) {
            span.set_attribute(key, kv.value);
        }
    }
}

/// The gRPC code a client takes from an HTTP status when no `grpc-status` came (the
/// gRPC HTTP/2 protocol's mapping, as tonic applies it).
#[cfg(feature = "tower")]
pub(crate) fn grpc_code_of_http(status: u16) -> u8 {
    match status {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => GRPC_UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_read_as_the_protocol_writes_them() {
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let deadline = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            grpc_deadline(&headers, now).map(|d| d - now)
        };
        assert_eq!(deadline("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(deadline("3M"), Some(Duration::from_secs(180)));
        assert_eq!(deadline("10S"), Some(Duration::from_secs(10)));
        assert_eq!(deadline("20m"), Some(Duration::from_millis(20)));
        assert_eq!(deadline("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            deadline("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for malformed in ["", "S", "5", "123456789S", "5x", "-5S", " 5S", "5s"] {
            assert_eq!(deadline(malformed), None, "{malformed:?}");
        }
        assert_eq!(grpc_deadline(&http::HeaderMap::new(), now), None);
    }

    #[test]
    fn known_methods_are_the_conventions_or_the_variables_list() {
        // QUERY (RFC 10008) is one of the conventions' known methods (found missing).
        let default = known_methods_from(None);
        assert!(default.contains(&"QUERY") && default.contains(&"PATCH"));
        assert_eq!(default.len(), 10);
        for blank in ["", " ", " , ,"] {
            assert_eq!(known_methods_from(Some(blank)), default, "{blank:?}");
        }
        // A full replacement, case-sensitive, spaces around names ignored.
        assert_eq!(
            known_methods_from(Some("GET, PURGE,get")),
            ["GET", "PURGE", "get"]
        );
    }
}
