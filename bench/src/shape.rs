//! The span shapes every library records, so that all of them do the same work.

/// W1/W3/W6/W7 span name.
pub const W1_NAME: &str = "GET /users/{id}";
/// W1 attributes: a string, an i64 and a bool.
pub const W1_STR: (&str, &str) = ("http.request.method", "GET");
/// W1 i64 attribute.
pub const W1_I64: (&str, i64) = ("http.response.status_code", 200);
/// W1 bool attribute.
pub const W1_BOOL: (&str, bool) = ("cache.hit", true);

/// W2 root name.
pub const W2_ROOT: &str = "handle_request";
/// W2 child name.
pub const W2_CHILD: &str = "query_database";
/// Children per W2 trace.
pub const W2_CHILDREN: usize = 10;
/// Spans per W2 trace (root and children).
pub const W2_SPANS: usize = W2_CHILDREN + 1;
/// W2 child attribute 1 (string).
pub const W2_STR: (&str, &str) = ("db.system.name", "postgresql");
/// W2 child attribute 2 (i64; the child's index).
pub const W2_I64_KEY: &str = "db.response.returned_rows";
/// W2 child event name.
pub const W2_EVENT: &str = "cache_miss";

/// W4 input: the W3C spec's example.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// W4 tracestate: three vendors' members (the W3C spec's examples, and one more).
pub const TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,acme=region-eu-1";

/// W5: spans per encoded batch.
pub const W5_SPANS: usize = 1000;
/// W5 span name.
pub const W5_NAME: &str = "SELECT users";
/// W5 attributes (5): three strings, an i64, a bool.
pub const W5_STR: [(&str, &str); 3] = [
    ("db.system.name", "postgresql"),
    ("db.namespace", "customers"),
    ("db.query.text", "SELECT id, name FROM users WHERE id = $1"),
];
/// W5 i64 attribute.
pub const W5_I64: (&str, i64) = ("db.response.returned_rows", 42);
/// W5 bool attribute.
pub const W5_BOOL: (&str, bool) = ("db.cached", false);
/// W5 event name (no attributes).
pub const W5_EVENT: &str = "rows_fetched";

/// Service name of every tracer.
pub const SERVICE: &str = "bench-service";

/// Runs `n` W4 round trips of `round_trip` through `http::HeaderMap`s: the spec's
/// example in, an outgoing map (cleared by the round trip) out.
pub fn run_w4_header_map(n: u64, round_trip: fn(&http::HeaderMap, &mut http::HeaderMap)) {
    let mut input = http::HeaderMap::new();
    input.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
    let mut output = http::HeaderMap::with_capacity(4);
    for _ in 0..n {
        round_trip(std::hint::black_box(&input), &mut output);
        std::hint::black_box(&output);
    }
}

/// Runs `n` W4 round trips of `round_trip` through `HashMap<String, String>`s: the spec's
/// example in, an outgoing map (cleared by the round trip) out.
pub fn run_w4_hash_map(
    n: u64,
    round_trip: fn(
        &std::collections::HashMap<String, String>,
        &mut std::collections::HashMap<String, String>,
    ),
) {
    let mut input = std::collections::HashMap::new();
    input.insert("traceparent".to_string(), TRACEPARENT.to_string());
    let mut output = std::collections::HashMap::with_capacity(4);
    for _ in 0..n {
        round_trip(std::hint::black_box(&input), &mut output);
        std::hint::black_box(&output);
    }
}

/// The outgoing headers of W4's slice-carrier rows: each value kept in a `String`
/// reused from one round trip to the next (no allocation once they have grown).
#[derive(Debug, Default)]
pub struct W4Out {
    traceparent: String,
    tracestate: String,
}

impl W4Out {
    /// Keeps `value` as the header `name` (other headers are not W4's).
    #[inline]
    pub fn keep(&mut self, name: &str, value: &str) {
        let kept = match name {
            "traceparent" => &mut self.traceparent,
            "tracestate" => &mut self.tracestate,
            _ => return,
        };
        kept.clear();
        kept.push_str(value);
    }

    /// The bytes kept (what the round trip returns, so that none of it is optimised out).
    pub fn len(&self) -> usize {
        self.traceparent.len() + self.tracestate.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the headers, keeping the buffers (a round trip's start).
    pub fn clear(&mut self) {
        self.traceparent.clear();
        self.tracestate.clear();
    }
}
