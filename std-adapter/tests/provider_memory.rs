//! What a `TracerProvider` keeps resident: its arena (`StdArena`, 3.2 MB at the default
//! 2,048 spans) is never freed, since its spans borrow it for `'static`, so what counts
//! is how much of it becomes resident memory. Built in place (`SpanArena::new_in`), a
//! slot's memory is written when a span first uses it: a provider whose spans use few
//! slots at once keeps little. (Built by value, every byte was written: each provider a
//! test suite made, one per test, kept 3.4 MB resident; 100 of them, 340 MB.)
//!
//! Alone in its test binary, so that no other test's memory moves the figures.

#![cfg(target_os = "linux")]

mod support;

use picotrace::TracerConfig;
use picotrace_std::{SharedExporter, StdArena, TracerProvider};

/// One test's worth: a provider, ten spans (one at a time), a shutdown.
fn one_provider() {
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("memory-test"))
        .exporter(SharedExporter::discard())
        .build();
    let tracer = provider.tracer();
    for i in 0..10 {
        let mut span = tracer.start_span("GET /users/{id}");
        span.set_attribute("user.id", i);
        span.end();
    }
    provider.shutdown().expect("every span exported");
    assert_eq!(provider.stats().spans_exported, 10);
}

#[test]
fn a_provider_keeps_resident_only_the_arena_slots_its_spans_used() {
    // The first one's thread-locals, allocator arenas and lazy statics are not
    // what a provider costs.
    one_provider();
    const PROVIDERS: u64 = 16;
    let before = support::rss_bytes();
    for _ in 0..PROVIDERS {
        one_provider();
    }
    let grown = support::rss_bytes().saturating_sub(before);
    let arena = std::mem::size_of::<StdArena>() as u64;
    let each = grown / PROVIDERS;
    println!("{PROVIDERS} providers: resident memory grew {grown} bytes, {each} a provider (arena {arena} bytes)");
    assert!(
        each < arena / 8,
        "a provider of 10 spans kept {each} bytes resident, its arena is {arena}"
    );
}
