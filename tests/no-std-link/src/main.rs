//! Links `picotrace` into a host binary that has no `std`, no `alloc`, no C runtime.
//!
//! Build (what `ci/run.sh nostd` does):
//!
//! ```text
//! RUSTFLAGS="-C link-arg=-nostartfiles -C link-arg=-nostdlib -C link-arg=-static" \
//!     cargo build --target x86_64-unknown-linux-gnu
//! ```
//!
//! The explicit `--target` keeps those link flags off build scripts. The binary is only
//! linked, never run: `_start` has no way to exit without `unsafe`.
//!
//! To cover a new API, add a call to `exercise` below. Every result goes through
//! `black_box`, so the optimiser cannot drop the code that produced it.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

/// Calls real picotrace APIs, so that their code (and everything it needs) is linked.
fn exercise() {
    // Ids: hex in.
    let trace_id = picotrace::TraceId::from_hex(black_box("4bf92f3577b34da6a3ce929d0e0e4736"));
    black_box(&trace_id);
    let span_id = picotrace::SpanId::from_hex(black_box("00f067aa0ba902b7"));
    black_box(&span_id);

    // Id generation.
    let mut ids = picotrace::IdGenerator::from_seed(black_box([1; 32]));
    black_box(ids.trace_id());
    black_box(ids.span_id());

    // Context: a root and a child.
    let root = picotrace::TraceContext::new_root(&mut ids, black_box(true));
    let child = root.child(&mut ids);
    black_box(&root);
    black_box(&child);

    // Propagation: parse incoming headers, write outgoing ones.
    let headers = [
        (
            "traceparent",
            black_box("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ),
        ("tracestate", black_box("vendor=opaque,ot=th:8")),
        ("baggage", black_box("tenant=acme%20corp;p=1")),
    ];
    let incoming = picotrace::TraceContext::from_headers(&headers[..]);
    let baggage = picotrace::BaggageBuf::<256>::from_headers(&headers[..]);
    black_box(&baggage);

    // The tracer: spans with attributes, events, status; export through the OTLP
    // protobuf and JSON encoders and the console format into fixed buffers.
    struct Encode;
    impl picotrace::SpanExporter for Encode {
        fn export(
            &mut self,
            batch: &picotrace::SpanBatch<'_>,
        ) -> Result<(), picotrace::ExportError> {
            let mut out = [0u8; 2048];
            let r = picotrace::wire::otlp::proto::encode_request(
                batch.resource,
                batch.scope,
                batch.iter(),
                &mut out,
            );
            black_box(&r);
            let r = picotrace::wire::otlp::json::encode_request(
                batch.resource,
                batch.scope,
                batch.iter(),
                &mut out,
            );
            black_box(&r);
            let mut line: heapless::String<256> = heapless::String::new();
            for span in batch.iter() {
                let _ = picotrace::wire::console::write_span_line(&span, &mut line);
            }
            black_box(&line);
            Ok(())
        }
    }
    let tracer = picotrace::Tracer::new(
        picotrace::TracerConfig::new("no-std-link").with_sampler(picotrace::Sampler::parent_based(
            picotrace::Sampler::probability(black_box(0.5)),
        )),
        picotrace::SpanArena::<4, 4, 2, 1, 128>::new(),
        picotrace::NoClock,
        ids,
        Encode,
    );
    let mut span = tracer.start_server_span("GET /", &incoming);
    span.set_attribute("http.request.method", black_box("GET"));
    span.set_attribute("n", black_box(7i64));
    span.record_exception(black_box("boom"));
    let mut db = span.child("db");
    db.set_error("timeout");
    let mut outgoing: heapless::Vec<(heapless::String<16>, heapless::String<128>), 2> =
        heapless::Vec::new();
    tracer.inject_context(&db, &mut outgoing);
    black_box(&outgoing);
    db.end();
    span.set_ok();
    span.end();
    tracer.flush();
    black_box(tracer.stats());
}

/// Entry point (no C runtime, so no `main`).
#[no_mangle]
pub extern "C" fn _start() -> ! {
    exercise();
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The host's prebuilt `core` refers to this symbol even with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
