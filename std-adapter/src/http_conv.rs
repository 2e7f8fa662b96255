//! What the HTTP server layer and the HTTP client span share of OpenTelemetry's HTTP
//! semantic conventions: method names, query redaction, protocol versions.

/// The methods HTTP's semantic conventions name; any other is recorded as `_OTHER`
/// (a method is client input: unbounded names would make every span name different).
pub(crate) const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// `http.request.method` of `method` (`_OTHER` for one the conventions do not name)
/// and the span name it gives (`HTTP` for those).
pub(crate) fn method_and_name(method: &str) -> (&'static str, &'static str) {
    match KNOWN_METHODS.iter().find(|m| **m == method) {
        Some(known) => (known, known),
        None => ("_OTHER", "HTTP"),
    }
}

/// The query keys whose values OpenTelemetry's conventions ask to redact by default
/// (signatures and access keys of signed URLs).
pub(crate) const SECRET_QUERY_KEYS: [&str; 4] =
    ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// `query` with the value of each [`SECRET_QUERY_KEYS`] key replaced by `REDACTED`
/// (its key kept), as the conventions' `url.query` asks.
pub(crate) fn redact_query(query: &str) -> std::borrow::Cow<'_, str> {
    let secret = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(key, _)| SECRET_QUERY_KEYS.contains(&key))
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
