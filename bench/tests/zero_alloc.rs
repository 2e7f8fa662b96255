//! picotrace's span hot path never touches the heap: after warm-up, the W1 and W2
//! workloads of the benchmark (a sampled root with 3 attributes; a root with 10 children
//! of 2 attributes and 1 event each), through the real `SystemClock` and enough spans to
//! fill the arena several times over (so exports to the `NoopExporter` are included),
//! allocate nothing, on a core `Tracer` and through picotrace-std's `TracerProvider`
//! (its export thread included); nor do `tracing` spans under picotrace-std's layer (W9).
//!
//! One test function on purpose: the counter is process-wide, and libtest would run
//! several test functions on parallel threads. (Its thread only waits while the checks
//! run on theirs.)

use picotrace_bench::harness::{count_allocations, CountingAlloc};
use picotrace_bench::pico;
use picotrace_bench::shape::W2_SPANS;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn w1_and_w2_allocate_nothing_per_span_after_warm_up() {
    // `Tracer::new` takes the ~800 KiB arena by value; unoptimised builds keep several
    // copies of it on the stack on the way into the `Box`, more than libtest's 2 MiB.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(check)
        .expect("spawn")
        .join()
        .expect("the checks passed");
}

fn check() {
    let tracer = pico::sampled();
    // Warm-up: every lazy initialisation (clock anchor, thread locals) happens here.
    pico::run_w1(&tracer, 2_000);
    pico::run_w2(&tracer, 200);
    // Every measured span must go the recording path and reach the exporter (found by
    // review: a change that dropped every span would also have allocated nothing).
    let exported = |t: &pico::BenchTracer| {
        t.flush();
        let s = t.stats();
        assert_eq!(s.spans_lost(), 0, "{s:?}");
        s.spans_exported
    };
    let before = exported(&tracer);

    // 5,000 spans: the 512-span arena fills and is exported about ten times.
    let w1 = count_allocations(|| pico::run_w1(&tracer, 5_000))
        .expect("CountingAlloc is the global allocator");
    assert_eq!(
        w1.count, 0,
        "W1 allocated {} times ({} bytes) in 5,000 spans",
        w1.count, w1.bytes
    );
    assert_eq!(
        exported(&tracer) - before,
        5_000,
        "W1's spans were exported"
    );
    let before = exported(&tracer);

    let traces = 500;
    let w2 = count_allocations(|| pico::run_w2(&tracer, traces)).expect("counting");
    assert_eq!(
        w2.count,
        0,
        "W2 allocated {} times ({} bytes) in {} spans",
        w2.count,
        w2.bytes,
        traces * W2_SPANS as u64
    );
    assert_eq!(
        exported(&tracer) - before,
        traces * W2_SPANS as u64,
        "W2's spans were exported"
    );

    // The same through picotrace-std's `TracerProvider` (the rows the bench's goals
    // read): its shared tracer and export thread, which drains to a discarding
    // exporter while the spans run (the counter is process-wide, so the export
    // thread's allocations would count too).
    let provider = pico::provider();
    pico::run_w1(provider.tracer(), 5_000);
    pico::run_w2(provider.tracer(), 200);
    let provider_exported = || {
        provider.flush().expect("nothing lost");
        provider.stats().spans_exported
    };
    let before = provider_exported();
    let std_w1 = count_allocations(|| pico::run_w1(provider.tracer(), 20_000)).expect("counting");
    assert_eq!(
        std_w1.count, 0,
        "W1 (TracerProvider) allocated {} times ({} bytes) in 20,000 spans",
        std_w1.count, std_w1.bytes
    );
    assert_eq!(
        provider_exported() - before,
        20_000,
        "W1's spans were exported"
    );
    let before = provider_exported();
    let std_w2 = count_allocations(|| pico::run_w2(provider.tracer(), 500)).expect("counting");
    assert_eq!(
        std_w2.count, 0,
        "W2 (TracerProvider) allocated {} times ({} bytes)",
        std_w2.count, std_w2.bytes
    );
    assert_eq!(
        provider_exported() - before,
        500 * W2_SPANS as u64,
        "W2's spans were exported"
    );
    provider.shutdown().expect("nothing lost");

    // The unsampled and disabled paths too.
    let off = pico::unsampled();
    let disabled = pico::disabled();
    pico::run_w1(&off, 100);
    pico::run_w1(&disabled, 100);
    let rest = count_allocations(|| {
        pico::run_w1(&off, 1_000);
        pico::run_w1(&disabled, 1_000);
    })
    .expect("counting");
    assert_eq!(rest.count, 0, "unsampled/disabled spans allocated");

    // `tracing` spans under picotrace-std's layer: nothing beyond what the registry
    // alone allocates (nothing, once warm), for a span with fields and an event and
    // for nested spans. The picotrace span lives in the layer's table, not in a box in
    // the registry's extensions.
    use picotrace_bench::w9;
    for (name, f, per) in [
        ("span", w9::span as fn(), 1),
        ("nested", w9::nested as fn(), 4),
        ("kind and status", otel_fields as fn(), 1),
    ] {
        for (label, subscriber) in [
            ("registry", w9::registry_only()),
            ("layer", w9::picotrace(false)),
            // The thread's name is copied once per thread (in the warm-up).
            (
                "layer with location, threads, busy/idle",
                w9::picotrace(true),
            ),
        ] {
            w9::run(&subscriber, 500, f);
            let before = subscriber.drain();
            let n = 300;
            // The registry grows its slab now and then (its own, one-off allocations,
            // whatever the layers): the fewest of three runs is the per-span count.
            let used = (0..3)
                .map(|_| count_allocations(|| w9::run(&subscriber, n, f)).expect("counting"))
                .min_by_key(|a| a.count)
                .expect("three runs");
            assert_eq!(
                used.count,
                0,
                "W9 {name} under the {label} allocated {} times ({} bytes) in {} spans",
                used.count,
                used.bytes,
                n * per
            );
            // The three runs' spans reached the layer's exporter (the registry alone
            // exports nothing).
            if label != "registry" {
                let spans = 3 * n * per;
                assert_eq!(subscriber.drain() - before, spans, "W9 {name}, {label}");
            }
        }
    }

    // The same with a thousand other `tracing` spans alive (a busy server): the layer's
    // table then has spans in most buckets, and a span whose bucket was full was boxed
    // into the registry's extensions (a few in a hundred at this load).
    for (label, subscriber) in [
        ("registry", w9::registry_only()),
        ("layer", w9::picotrace(false)),
    ] {
        // Kept among others that end at once, as on a server: their registry slots
        // are reused with new generations, so the ids are spread as a long-running
        // process's are (ids made one after another hash unusually evenly).
        let live: Vec<tracing::Span> =
            tracing::dispatcher::with_default(&subscriber.dispatch, || {
                let (mut live, mut x) = (Vec::new(), 0x9e37_79b9_7f4a_7c15u64);
                while live.len() < 1_000 {
                    let span = tracing::info_span!("live");
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x % 4 == 0 {
                        live.push(span);
                    }
                }
                live
            });
        w9::run(&subscriber, 500, w9::span);
        let before = subscriber.drain();
        let n = 300;
        let used = (0..3)
            .map(|_| count_allocations(|| w9::run(&subscriber, n, w9::span)).expect("counting"))
            .min_by_key(|a| a.count)
            .expect("three runs");
        assert_eq!(
            used.count, 0,
            "W9 span beside 1,000 live spans under the {label} allocated {} times in {n} spans",
            used.count
        );
        // And the spans were recorded and exported (found by review: a layer that
        // dropped the spans of a busy table would have allocated nothing too).
        if label != "registry" {
            assert_eq!(
                subscriber.drain() - before,
                3 * n,
                "W9 span beside live spans"
            );
        }
        drop(live);
        subscriber.drain();
    }

    // The counter itself works: a Box is one allocation.
    let one = count_allocations(|| drop(std::hint::black_box(Box::new(7u64)))).expect("counting");
    assert_eq!(one.count, 1, "the counting allocator sees allocations");
}

/// A span with the special fields `tracing-opentelemetry` users write: `otel.kind` and
/// `otel.status_code` were lowercased into a new `String` each time.
fn otel_fields() {
    let span = tracing::info_span!("GET", otel.kind = "Server", otel.status_code = "OK");
    let _entered = span.enter();
}
