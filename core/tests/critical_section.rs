//! One tracer in a `static`, shared by a "main loop" and an "interrupt handler", with
//! the `critical-section` feature on, as firmware builds it. On the host (which has
//! 64-bit atomics) the list heads stay native atomics here: the critical-section path
//! of the heads runs in core's unit tests with the feature (`cargo test -p picotrace
//! --features critical-section --lib`, which CI runs), where they take it on every
//! target. The `critical-section` crate's std implementation stands in for masking
//! interrupts, and a second thread plays the interrupt.
#![cfg(feature = "critical-section")]

use std::sync::OnceLock;

use picotrace::{
    IdGenerator, NoClock, NoopExporter, SpanArena, SpanStorage as _, Tracer, TracerConfig,
};

type Shared = Tracer<SpanArena<32, 4, 2, 1, 64>, NoClock, NoopExporter>;

static TRACER: OnceLock<Shared> = OnceLock::new();

fn tracer() -> &'static Shared {
    TRACER.get_or_init(|| {
        Tracer::new(
            TracerConfig::new("firmware").with_export_batch_size(8),
            SpanArena::new(),
            NoClock,
            IdGenerator::from_seed([9; 32]),
            NoopExporter,
        )
    })
}

#[test]
fn main_loop_and_interrupt_share_one_static_tracer() {
    let interrupt = std::thread::spawn(|| {
        for i in 0..5_000 {
            let mut span = tracer().start_span("irq");
            span.set_attribute("n", i);
        }
    });
    for i in 0..5_000 {
        let span = tracer().start_span("main");
        let mut child = span.child("step");
        child.set_attribute("n", i);
    }
    interrupt.join().unwrap();
    tracer().flush();
    let stats = tracer().stats();
    assert_eq!(stats.spans_started, 15_000);
    // Every span was exported, or met a full arena while the other context was
    // exporting and was counted.
    assert_eq!(
        stats.spans_exported + stats.spans_dropped_arena_full,
        15_000
    );
    // Most were recorded and exported (the sums above hold if every span was dropped).
    assert!(stats.spans_exported >= 7_500, "{stats:?}");
    assert_eq!(tracer().arena().in_use(), 0);
}
