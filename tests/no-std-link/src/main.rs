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
