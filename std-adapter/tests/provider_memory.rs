//! What a `TracerProvider` keeps resident: its arena (`StdArena`, 3.5 MB at the default
//! 2,048 spans) is never freed (the provider leaks its tracer, which spans borrow for
//! `'static`), so what counts is how much of it becomes resident memory. Built in place
//! (`SpanArena::new_in`), a slot's memory is written when a span first uses it: a
//! provider whose spans use few slots at once keeps little. (Built by value, every byte was written: each provider a
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
    let arena = std::mem::size_of::<StdArena>() as u64;
    // Where the figure cannot show (found by review): glibc's `MALLOC_PERTURB_` writes
    // every allocation whole; an arena built small (`PICOTRACE_ARENA_SPANS`) is not
    // much more than what a provider always writes (its lists, about 83 KB at 2,048).
    if std::env::var_os("MALLOC_PERTURB_").is_some() || arena < 1 << 20 {
        println!("skipped: MALLOC_PERTURB_ is set, or the arena ({arena} bytes) is small");
        return;
    }
    // The first one's thread-locals, allocator arenas and lazy statics are not
    // what a provider costs.
    one_provider();
    const PROVIDERS: u64 = 16;
    let before = support::rss_bytes();
    for _ in 0..PROVIDERS {
        one_provider();
    }
    let grown = support::rss_bytes().saturating_sub(before);
    let each = grown / PROVIDERS;
    println!("{PROVIDERS} providers: resident memory grew {grown} bytes, {each} a provider (arena {arena} bytes)");
    // A quarter: 117 KB here; with transparent huge pages always on (RHEL's, Arch's
    // default), pages come 2 MB at a time and a review measured 750 KB.
    assert!(
        each < arena / 4,
        "a provider of 10 spans kept {each} bytes resident, its arena is {arena}"
    );
}
