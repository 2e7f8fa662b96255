//! fastrace 0.7's side: `fastrace::set_reporter` with a reporter that discards (and
//! counts), `Span::root` for roots, `LocalSpan` under a local parent for children (its
//! documented fast path), `fastrace::flush` between repetitions.
//!
//! fastrace properties are strings (`Cow<'static, str>`): the i64 and bool attributes are
//! turned into strings with `to_string()`, as user code would; a bool is borrowed as
//! `"true"`/`"false"` (no allocation), as careful user code would.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::local::LocalSpan;
use fastrace::{Event, Span};

use crate::shape::*;

static REPORTED: AtomicU64 = AtomicU64::new(0);
static INIT: Once = Once::new();

struct DiscardReporter;

impl Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
        drop(spans);
    }
}

/// Installs the discarding reporter (once per process) with the default config (report
/// interval 1 s).
pub fn init() {
    INIT.call_once(|| fastrace::set_reporter(DiscardReporter, Config::default()));
}

/// Flushes the global collector (it runs the reporter on a helper thread and waits) and
/// returns the spans reported so far.
pub fn flush() -> u64 {
    fastrace::flush();
    REPORTED.load(Ordering::Relaxed)
}

/// W1: a sampled root span with three properties, dropped (ended).
#[inline(never)]
pub fn w1() {
    let root = Span::root(black_box(W1_NAME), SpanContext::random()).with_properties(|| {
        [
            (W1_STR.0, Cow::Borrowed(black_box(W1_STR.1))),
            (W1_I64.0, Cow::Owned(black_box(W1_I64.1).to_string())),
            (W1_BOOL.0, Cow::Borrowed(bool_str(black_box(W1_BOOL.1)))),
        ]
    });
    drop(root);
}

/// W8: the W1 span, returned to be ended (dropped) elsewhere.
#[inline(never)]
pub fn w1_span() -> Span {
    Span::root(black_box(W1_NAME), SpanContext::random()).with_properties(|| {
        [
            (W1_STR.0, Cow::Borrowed(black_box(W1_STR.1))),
            (W1_I64.0, Cow::Owned(black_box(W1_I64.1).to_string())),
            (W1_BOOL.0, Cow::Borrowed(bool_str(black_box(W1_BOOL.1)))),
        ]
    })
}

/// W3: the same span with an unsampled context. The values go through `black_box`
/// before the properties closure (which fastrace runs for an unsampled root too), as
/// picotrace's W3 pays for its `black_box`es whether its span records or not.
/// (Found by review: inside the closure they were charged to the other libraries only.)
#[inline(never)]
pub fn w3_unsampled() {
    let (text, int, flag) = (
        black_box(W1_STR.1),
        black_box(W1_I64.1),
        black_box(W1_BOOL.1),
    );
    let root = Span::root(black_box(W1_NAME), SpanContext::random().sampled(false))
        .with_properties(|| {
            [
                (W1_STR.0, Cow::Borrowed(text)),
                (W1_I64.0, Cow::Owned(int.to_string())),
                (W1_BOOL.0, Cow::Borrowed(bool_str(flag))),
            ]
        });
    drop(root);
}

/// W3b: `Span::noop()`, fastrace's documented placeholder when a request is not traced
/// (the values through `black_box` first, as in W3).
#[inline(never)]
pub fn w3_disabled() {
    let (text, int, flag) = (
        black_box(W1_STR.1),
        black_box(W1_I64.1),
        black_box(W1_BOOL.1),
    );
    let root = Span::noop().with_properties(|| {
        [
            (W1_STR.0, Cow::Borrowed(text)),
            (W1_I64.0, Cow::Owned(int.to_string())),
            (W1_BOOL.0, Cow::Borrowed(bool_str(flag))),
        ]
    });
    drop(root);
}

/// W2: a root, set as local parent, with 10 `LocalSpan` children.
#[inline(never)]
pub fn w2() {
    let root = Span::root(black_box(W2_ROOT), SpanContext::random());
    {
        let _guard = root.set_local_parent();
        for i in 0..W2_CHILDREN {
            let _child =
                LocalSpan::enter_with_local_parent(black_box(W2_CHILD)).with_properties(|| {
                    [
                        (W2_STR.0, Cow::Borrowed(black_box(W2_STR.1))),
                        (W2_I64_KEY, Cow::Owned(black_box(i as i64).to_string())),
                    ]
                });
            LocalSpan::add_event(Event::new(black_box(W2_EVENT)));
        }
    }
    drop(root);
}

/// W4: decode and re-encode the traceparent.
#[inline(never)]
pub fn w4(input: &str) -> usize {
    match SpanContext::decode_w3c_traceparent(input) {
        Some(cx) => black_box(cx.encode_w3c_traceparent()).len(),
        None => 0,
    }
}

/// W4 through `http::HeaderMap`: fastrace has no carrier for it, so the value is read
/// and written by hand, as a server using it would.
#[inline(never)]
pub fn w4_header_map(input: &http::HeaderMap, output: &mut http::HeaderMap) {
    output.clear();
    let cx = input
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(SpanContext::decode_w3c_traceparent);
    if let Some(cx) = cx {
        // The name made once and the owned `String` handed over, as picotrace's injector
        // and opentelemetry's do (found by review: `insert("traceparent", ..)` copied
        // the name into a new allocation each time, `from_str` the value).
        static NAME: http::HeaderName = http::HeaderName::from_static("traceparent");
        if let Ok(value) = http::HeaderValue::try_from(cx.encode_w3c_traceparent()) {
            output.insert(NAME.clone(), value);
        }
    }
}

/// Runs `n` W4 round trips through `http::HeaderMap`.
pub fn run_w4_header_map(n: u64) {
    crate::shape::run_w4_header_map(n, w4_header_map);
}

/// W4 through `HashMap<String, String>` carriers, by hand (fastrace has no carrier
/// API): the `traceparent` entry decoded, the encoded one inserted.
#[inline(never)]
pub fn w4_hash_map(
    input: &std::collections::HashMap<String, String>,
    output: &mut std::collections::HashMap<String, String>,
) {
    output.clear();
    let cx = input
        .get("traceparent")
        .and_then(|v| SpanContext::decode_w3c_traceparent(v));
    if let Some(cx) = cx {
        output.insert("traceparent".to_string(), cx.encode_w3c_traceparent());
    }
}

/// Runs `n` W4 round trips through `HashMap` carriers.
pub fn run_w4_hash_map(n: u64) {
    crate::shape::run_w4_hash_map(n, w4_hash_map);
}

/// Runs `f` `n` times (generic: a workload passed by name is a direct call, as the
/// other libraries' are).
pub fn run(n: u64, f: impl Fn()) {
    for _ in 0..n {
        f();
    }
}

/// Runs `n` W4 round trips.
pub fn run_w4(n: u64) {
    for _ in 0..n {
        black_box(w4(black_box(TRACEPARENT)));
    }
}

/// A bool as fastrace's string property, without allocating.
fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}
