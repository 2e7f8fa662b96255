//! A tracer shared by a "main loop" and an "interrupt handler" through
//! `CriticalSectionLock`. On the host the `critical-section` crate's std implementation
//! stands in for masking interrupts, and a second thread plays the interrupt.
#![cfg(feature = "critical-section")]

use std::sync::OnceLock;

use picotrace::{
    CriticalSectionLock, IdGenerator, NoClock, NoopExporter, SpanArena, SpanStorage as _, Tracer,
    TracerConfig,
};

type Shared = Tracer<SpanArena<32, 4, 2, 1, 64>, NoClock, NoopExporter, CriticalSectionLock>;

static TRACER: OnceLock<Shared> = OnceLock::new();

fn tracer() -> &'static Shared {
    TRACER.get_or_init(|| {
        Tracer::with_lock(
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
            let span = tracer().start_span("irq");
            span.set_attribute("n", i);
        }
    });
    for i in 0..5_000 {
        let span = tracer().start_span("main");
        let child = span.child("step");
        child.set_attribute("n", i);
    }
    interrupt.join().unwrap();
    tracer().flush();
    let stats = tracer().stats();
    assert_eq!(stats.spans_started, 15_000);
    assert_eq!(
        stats.spans_exported + stats.spans_dropped_arena_full,
        15_000
    );
    assert_eq!(
        stats.spans_dropped_arena_full, 0,
        "32 slots with exports every 8 is enough here"
    );
    let _ = SpanArena::<1>::new().capacity();
}
