//! `cargo run --release -p picotrace-bench -- [--quick] [--only W1,W2,...]`
//!
//! Runs every workload on picotrace and its peers and prints one Markdown table of
//! medians (min and max over repetitions) with picotrace's ratio against each peer, then
//! the goals and whether they are met. Progress goes to stderr, the report to stdout.
//!
//! `--profile w1|w2|w3|w3b|w4|w4-api|w5pb|w5json|w9|w9-registry|w9-otel [N]` runs one picotrace workload alone, for
//! `valgrind --tool=callgrind --toggle-collect='picotrace_bench::pico::w1*'` (see
//! `BENCHMARKS.md`).

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use picotrace_bench::harness::{count_allocations, ns_per_op, rate, CountingAlloc, Plan, Summary};
use picotrace_bench::report::{fmt_num, Better, Report, Row};
use picotrace_bench::shape::*;
use picotrace_bench::{fast, otel, pico, w5, w7, w9};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Opts {
    plan: Plan,
    quick: bool,
    only: Option<Vec<String>>,
}

impl Opts {
    fn runs(&self, w: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x.eq_ignore_ascii_case(w)))
    }
}

fn main() {
    // The arenas are built by value (1.6 MB for W5's 1024 spans), and an unoptimised
    // build (CI's quick pass) keeps several copies of them on the stack.
    let runner = std::thread::Builder::new()
        .name("bench".into())
        .stack_size(256 << 20)
        .spawn(run)
        .expect("spawn the benchmark thread");
    if runner.join().is_err() {
        std::process::exit(101);
    }
}

fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_string).collect());
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: picotrace-bench [--quick] [--only W1,W2,W3,W4,W5,W6,W7,W8,W9]");
        println!("       picotrace-bench --profile w1|w2|w3|w3b|w4|w4-api|w5pb|w5json|w9|w9-registry|w9-otel [N]   (picotrace only, for callgrind)");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        let what = args.get(i + 1).map_or("w1", String::as_str);
        let n = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        profile(what, n);
        return;
    }
    let opts = Opts {
        plan: if quick { Plan::QUICK } else { Plan::FULL },
        quick,
        only,
    };
    let started = Instant::now();
    let mut report = Report::default();
    let mut notes = Vec::new();

    println!("{}", header(&opts));
    if opts.runs("W1") {
        w1(&opts, &mut report);
    }
    if opts.runs("W2") {
        w2(&opts, &mut report);
    }
    if opts.runs("W3") {
        w3(&opts, &mut report);
    }
    if opts.runs("W4") {
        w4(&opts, &mut report);
    }
    if opts.runs("W5") {
        w5::run(&opts.plan, &mut report);
    }
    if opts.runs("W6") {
        w6(&opts, &mut report);
    }
    if opts.runs("W8") {
        w8(&opts, &mut report);
    }
    if opts.runs("W9") {
        w9(&opts, &mut report);
    }
    if opts.runs("W7") {
        if let Err(why) = w7::run(&opts.plan, opts.quick, &mut report) {
            notes.push(format!("W7 skipped: {why}"));
            eprintln!("W7 skipped: {why}");
        }
    }

    println!("{}", report.markdown());
    for n in &notes {
        println!("{n}\n");
    }
    println!("{}", goals(&report));
    println!(
        "(whole run: {:.1} s, {} repetitions per figure)",
        started.elapsed().as_secs_f64(),
        opts.plan.reps
    );
}

fn header(opts: &Opts) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    let clocks = clock_costs();
    format!(
        "picotrace-bench ({} mode: {} repetitions of ~{} ms)\n\
         machine: {cpu}, {cores} cores, load average (1 min) at start: {load}\n\
         one clock read here: {clocks}\n\
         versions: picotrace {}, opentelemetry {}, opentelemetry_sdk {}, opentelemetry-proto {}, \
         opentelemetry-otlp {}, prost {}, serde_json {}, fastrace {}\n",
        if opts.quick { "quick" } else { "full" },
        opts.plan.reps,
        opts.plan.target.as_millis(),
        env!("BENCH_VERSION_picotrace"),
        env!("BENCH_VERSION_opentelemetry"),
        env!("BENCH_VERSION_opentelemetry_sdk"),
        env!("BENCH_VERSION_opentelemetry-proto"),
        env!("BENCH_VERSION_opentelemetry-otlp"),
        env!("BENCH_VERSION_prost"),
        env!("BENCH_VERSION_serde_json"),
        env!("BENCH_VERSION_fastrace"),
    )
}

/// Measures one read of each clock the libraries use (a span reads two).
fn clock_costs() -> String {
    let plan = Plan::QUICK;
    let std_instant = ns_per_op(
        &plan,
        |n| {
            for _ in 0..n {
                black_box(Instant::now());
            }
        },
        || {},
    );
    let system_time = ns_per_op(
        &plan,
        |n| {
            for _ in 0..n {
                black_box(std::time::SystemTime::now());
            }
        },
        || {},
    );
    let tsc = ns_per_op(
        &plan,
        |n| {
            for _ in 0..n {
                black_box(fastant::Instant::now());
            }
        },
        || {},
    );
    format!(
        "std Instant::now (picotrace SystemClock) {} ns, SystemTime::now (opentelemetry_sdk) {} ns, \
         fastant TSC (fastrace) {} ns",
        fmt_num(std_instant.median),
        fmt_num(system_time.median),
        fmt_num(tsc.median)
    )
}

/// Heap allocations per operation over `n` operations run by `f(n)` (after warm-up).
fn allocs_per_op(n: u64, per: u64, f: impl FnOnce(u64)) -> Option<f64> {
    count_allocations(|| f(n)).map(|a| a.count as f64 / (n * per) as f64)
}

/// How many operations the allocation count runs.
fn alloc_ops(opts: &Opts) -> u64 {
    if opts.quick {
        2_000
    } else {
        20_000
    }
}

fn row(workload: &str, library: impl Into<String>, s: Summary, unit: &'static str) -> Row {
    Row {
        workload: workload.into(),
        library: library.into(),
        summary: s,
        unit,
        better: Better::Lower,
        allocs: None,
        note: String::new(),
    }
}

/// Notes spans fastrace had not reported after `flush()`: its per-thread sender keeps
/// what did not fit its channel in a thread-local queue until that thread sends again.
fn pending_note(created: u64, reported: u64) -> String {
    if reported >= created {
        String::new()
    } else {
        format!(
            "{} of {} spans not yet reported after flush() (queued in the thread)",
            created - reported,
            created
        )
    }
}

/// Checks that a peer's exporter saw every span (a batch processor may drop).
fn drop_note(created: u64, exported: u64) -> String {
    if exported >= created {
        String::new()
    } else {
        format!("dropped {} of {} spans", created - exported, created)
    }
}

// ---- W1 ---------------------------------------------------------------------------------

const PICO_SYS: &str = "picotrace (Tracer, SpanArena<512>, NoopExporter, SystemClock)";
const PICO_TSC: &str = "picotrace (same, TSC clock as fastrace: fastant)";
const PICO_MANUAL: &str = "picotrace (same, ManualClock: no clock reads)";

fn w1(opts: &Opts, report: &mut Report) {
    eprintln!("W1 span lifecycle");
    let plan = &opts.plan;
    let t = pico::sampled();
    let s = ns_per_op(plan, |n| pico::run_w1(&t, n), || {});
    let mut r = row("W1", PICO_SYS, s, "ns/span");
    r.allocs = allocs_per_op(alloc_ops(opts), 1, |n| pico::run_w1(&t, n));
    report.push(r);
    let t = pico::sampled_tsc();
    let mut r = row(
        "W1",
        PICO_TSC,
        ns_per_op(plan, |n| pico::run_w1(&t, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(alloc_ops(opts), 1, |n| pico::run_w1(&t, n));
    report.push(r);
    let t = pico::sampled_manual();
    let mut r = row(
        "W1",
        PICO_MANUAL,
        ns_per_op(plan, |n| pico::run_w1(&t, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(alloc_ops(opts), 1, |n| pico::run_w1(&t, n));
    report.push(r);

    for p in [otel::Processor::Simple, otel::Processor::Batch] {
        let o = otel::sampled(p);
        let created = Cell::new(0u64);
        let s = ns_per_op(
            plan,
            |n| {
                otel::run_w1(&o.tracer, n);
                created.set(created.get() + n);
            },
            || {
                o.flush();
            },
        );
        let mut r = row(
            "W1",
            format!(
                "opentelemetry_sdk ({} processor, discarding exporter)",
                p.label()
            ),
            s,
            "ns/span",
        );
        r.allocs = allocs_per_op(alloc_ops(opts), 1, |n| {
            otel::run_w1(&o.tracer, n);
            created.set(created.get() + n);
            o.flush();
        });
        r.note = drop_note(created.get(), o.flush());
        report.push(r);
    }

    fast::init();
    let before = fast::flush();
    let created = Cell::new(0u64);
    let s = ns_per_op(
        plan,
        |n| {
            fast::run(n, fast::w1);
            created.set(created.get() + n);
        },
        || {
            fast::flush();
        },
    );
    let mut r = row(
        "W1",
        "fastrace (Span::root, discarding reporter)",
        s,
        "ns/span",
    );
    r.allocs = allocs_per_op(alloc_ops(opts), 1, |n| {
        fast::run(n, fast::w1);
        created.set(created.get() + n);
        fast::flush();
    });
    r.note = pending_note(created.get(), fast::flush() - before);
    report.push(r);
}

// ---- W2 ---------------------------------------------------------------------------------

fn w2(opts: &Opts, report: &mut Report) {
    eprintln!("W2 nested trace (root + 10 children, 2 attributes + 1 event each)");
    let plan = &opts.plan;
    let per = W2_SPANS as f64;
    let t = pico::sampled();
    let s = ns_per_op(plan, |n| pico::run_w2(&t, n), || {}).map(|x| x / per);
    let mut r = row("W2", PICO_SYS, s, "ns/span");
    r.allocs = allocs_per_op(alloc_ops(opts) / 10, W2_SPANS as u64, |n| {
        pico::run_w2(&t, n)
    });
    report.push(r);
    let t = pico::sampled_tsc();
    let s = ns_per_op(plan, |n| pico::run_w2(&t, n), || {}).map(|x| x / per);
    let mut r = row("W2", PICO_TSC, s, "ns/span");
    r.allocs = allocs_per_op(alloc_ops(opts) / 10, W2_SPANS as u64, |n| {
        pico::run_w2(&t, n)
    });
    report.push(r);
    let t = pico::sampled_manual();
    let s = ns_per_op(plan, |n| pico::run_w2(&t, n), || {}).map(|x| x / per);
    let mut r = row("W2", PICO_MANUAL, s, "ns/span");
    r.allocs = allocs_per_op(alloc_ops(opts) / 10, W2_SPANS as u64, |n| {
        pico::run_w2(&t, n)
    });
    report.push(r);

    for p in [otel::Processor::Simple, otel::Processor::Batch] {
        let o = otel::sampled(p);
        let created = Cell::new(0u64);
        let s = ns_per_op(
            plan,
            |n| {
                otel::run_w2(&o.tracer, n);
                created.set(created.get() + n * W2_SPANS as u64);
            },
            || {
                o.flush();
            },
        )
        .map(|x| x / per);
        let mut r = row(
            "W2",
            format!(
                "opentelemetry_sdk ({} processor, discarding exporter)",
                p.label()
            ),
            s,
            "ns/span",
        );
        r.allocs = allocs_per_op(alloc_ops(opts) / 10, W2_SPANS as u64, |n| {
            otel::run_w2(&o.tracer, n);
            created.set(created.get() + n * W2_SPANS as u64);
            o.flush();
        });
        r.note = drop_note(created.get(), o.flush());
        report.push(r);
    }

    fast::init();
    let before = fast::flush();
    let created = Cell::new(0u64);
    let s = ns_per_op(
        plan,
        |n| {
            fast::run(n, fast::w2);
            created.set(created.get() + n * W2_SPANS as u64);
        },
        || {
            fast::flush();
        },
    )
    .map(|x| x / per);
    let mut r = row(
        "W2",
        "fastrace (Span::root + LocalSpan children, discarding reporter)",
        s,
        "ns/span",
    );
    r.allocs = allocs_per_op(alloc_ops(opts) / 10, W2_SPANS as u64, |n| {
        fast::run(n, fast::w2);
        created.set(created.get() + n * W2_SPANS as u64);
        fast::flush();
    });
    r.note = pending_note(created.get(), fast::flush() - before);
    report.push(r);
}

// ---- W3 ---------------------------------------------------------------------------------

fn w3(opts: &Opts, report: &mut Report) {
    eprintln!("W3 unsampled (always-off) and W3b tracing disabled");
    let plan = &opts.plan;
    let n = alloc_ops(opts);

    let t = pico::unsampled();
    let mut r = row(
        "W3",
        "picotrace (Sampler::ALWAYS_OFF)",
        ns_per_op(plan, |n| pico::run_w1(&t, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| pico::run_w1(&t, n));
    report.push(r);
    let o = otel::provider(
        otel::Processor::Simple,
        opentelemetry_sdk::trace::Sampler::AlwaysOff,
    );
    let mut r = row(
        "W3",
        "opentelemetry_sdk (Sampler::AlwaysOff)",
        ns_per_op(plan, |n| otel::run_w1(&o.tracer, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| otel::run_w1(&o.tracer, n));
    report.push(r);
    fast::init();
    let mut r = row(
        "W3",
        "fastrace (SpanContext::random().sampled(false))",
        ns_per_op(
            plan,
            |n| fast::run(n, fast::w3_unsampled),
            || {
                fast::flush();
            },
        ),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| fast::run(n, fast::w3_unsampled));
    report.push(r);

    let t = pico::disabled();
    let mut r = row(
        "W3b",
        "picotrace (TracerConfig::with_enabled(false))",
        ns_per_op(plan, |n| pico::run_w1(&t, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| pico::run_w1(&t, n));
    report.push(r);
    let noop = otel::disabled();
    let mut r = row(
        "W3b",
        "opentelemetry (API NoopTracer, no SDK)",
        ns_per_op(plan, |n| otel::run_w1(&noop, n), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| otel::run_w1(&noop, n));
    report.push(r);
    let mut r = row(
        "W3b",
        "fastrace (Span::noop())",
        ns_per_op(plan, |n| fast::run(n, fast::w3_disabled), || {}),
        "ns/span",
    );
    r.allocs = allocs_per_op(n, 1, |n| fast::run(n, fast::w3_disabled));
    report.push(r);
}

// ---- W9 ---------------------------------------------------------------------------------

fn w9(opts: &Opts, report: &mut Report) {
    eprintln!(
        "W9 tracing instrumentation: picotrace's layer, tracing-opentelemetry, registry alone"
    );
    let plan = &opts.plan;
    let n = alloc_ops(opts);
    let subscribers = [
        ("picotrace-std TracingLayer (export thread, discarding)", w9::picotrace()),
        (
            "tracing-opentelemetry 0.34 + opentelemetry_sdk (simple processor, discarding exporter)",
            w9::opentelemetry(),
        ),
        ("tracing-subscriber Registry alone (no export: the floor)", w9::registry_only()),
    ];
    for (shape, f, per) in [
        ("W9 span", w9::span as fn(), 1),
        ("W9 nested", w9::nested as fn(), 4),
    ] {
        for (label, subscriber) in &subscribers {
            // Burst with a drain: the export pipeline is emptied between repetitions.
            let s = ns_per_op(plan, |n| w9::run(subscriber, n, f), || subscriber.drain());
            let mut r = row(shape, *label, s.map(|ns| ns / per as f64), "ns/span");
            r.allocs = allocs_per_op(n, per, |n| w9::run(subscriber, n, f));
            report.push(r);
        }
    }
}

// ---- W4 ---------------------------------------------------------------------------------

fn w4(opts: &Opts, report: &mut Report) {
    eprintln!("W4 traceparent parse + format");
    let plan = &opts.plan;
    let n = alloc_ops(opts);
    let mut r = row(
        "W4",
        "picotrace (TraceContext::from_headers + to_traceparent, slice carrier: user-facing)",
        ns_per_op(plan, pico::run_w4_api, || {}),
        "ns/round trip",
    );
    r.allocs = allocs_per_op(n, 1, pico::run_w4_api);
    report.push(r);
    let mut r = row(
        "W4 wire",
        "picotrace (TraceparentRepr::parse + emit into [u8; 55]: wire level)",
        ns_per_op(plan, pico::run_w4, || {}),
        "ns/round trip",
    );
    r.allocs = allocs_per_op(n, 1, pico::run_w4);
    report.push(r);
    let mut state = otel::W4::new();
    let mut r = row(
        "W4",
        "opentelemetry_sdk (TraceContextPropagator extract + inject, HashMap carriers)",
        ns_per_op(
            plan,
            |n| {
                for _ in 0..n {
                    state.round_trip();
                }
            },
            || {},
        ),
        "ns/round trip",
    );
    r.allocs = allocs_per_op(n, 1, |n| {
        for _ in 0..n {
            state.round_trip();
        }
    });
    report.push(r);
    let mut r = row(
        "W4",
        "fastrace (SpanContext::decode_w3c_traceparent + encode_w3c_traceparent: its propagation API)",
        ns_per_op(plan, fast::run_w4, || {}),
        "ns/round trip",
    );
    r.allocs = allocs_per_op(n, 1, fast::run_w4);
    report.push(r);
}

// ---- W6 ---------------------------------------------------------------------------------

/// Runs `threads` threads at once, each set up by `setup` (untimed) and then running
/// `per_thread` W1 spans through the closure it returns; then `finish` (timed: a flush
/// of whatever background queue the library has, so that every span was processed).
/// Returns spans per second over repetitions.
fn threads_rate<S, W>(
    plan: &Plan,
    threads: usize,
    per_thread: u64,
    setup: S,
    finish: impl Fn() + Sync,
) -> Summary
where
    S: Fn() -> W + Sync,
    W: FnMut(u64),
{
    rate(plan.reps, || {
        let barrier = Barrier::new(threads + 1);
        let elapsed = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    std::thread::Builder::new()
                        .stack_size(16 << 20)
                        .spawn_scoped(scope, || {
                            let mut work = setup();
                            work(1000); // warm-up
                            barrier.wait();
                            work(per_thread);
                            barrier.wait();
                        })
                        .expect("spawn")
                })
                .collect();
            barrier.wait();
            let t = Instant::now();
            barrier.wait();
            finish();
            let dt = t.elapsed();
            for h in handles {
                h.join().expect("worker");
            }
            dt
        });
        (threads as u64 * per_thread, elapsed)
    })
}

fn w6(opts: &Opts, report: &mut Report) {
    eprintln!("W6 two threads creating spans at once (W1 spans)");
    let plan = &opts.plan;
    let per_thread: u64 = if opts.quick { 20_000 } else { 400_000 };
    let push_pair = |report: &mut Report, lib: &str, one: Summary, two: Summary| {
        let mut r1 = row("W6 1 thread", lib, one, "spans/s");
        r1.better = Better::Higher;
        report.push(r1);
        let mut r2 = row("W6 2 threads", lib, two, "spans/s");
        r2.better = Better::Higher;
        r2.note = format!("scaling {:.2}x of 1 thread", two.median / one.median);
        report.push(r2);
    };

    let provider = pico::provider();
    let pico_setup = || {
        let t = provider.tracer();
        move |n: u64| pico::run_w1(t, n)
    };
    let finish = || {
        let _ = provider.flush();
    };
    let one = threads_rate(plan, 1, per_thread, pico_setup, finish);
    let two = threads_rate(plan, 2, per_thread, pico_setup, finish);
    push_pair(
        report,
        "picotrace (picotrace-std TracerProvider: one shared tracer, discarding exporter)",
        one,
        two,
    );
    let pico_setup = || {
        let t = pico::sampled();
        move |n: u64| pico::run_w1(&t, n)
    };
    let one = threads_rate(plan, 1, per_thread, pico_setup, || {});
    let two = threads_rate(plan, 2, per_thread, pico_setup, || {});
    push_pair(
        report,
        "picotrace (one core Tracer per thread, SpanArena<512>)",
        one,
        two,
    );

    for p in [otel::Processor::Simple, otel::Processor::Batch] {
        let o = otel::sampled(p);
        let setup = || {
            let tracer = o.tracer.clone();
            move |n: u64| otel::run_w1(&tracer, n)
        };
        let finish = || {
            o.flush();
        };
        let one = threads_rate(plan, 1, per_thread, setup, finish);
        let two = threads_rate(plan, 2, per_thread, setup, finish);
        push_pair(
            report,
            &format!(
                "opentelemetry_sdk ({} processor, one shared provider)",
                p.label()
            ),
            one,
            two,
        );
    }

    fast::init();
    let setup = || |n: u64| fast::run(n, fast::w1);
    let finish = || {
        fast::flush();
    };
    let one = threads_rate(plan, 1, per_thread, setup, finish);
    let two = threads_rate(plan, 2, per_thread, setup, finish);
    push_pair(report, "fastrace (Span::root, global collector)", one, two);
}

// ---- W8 ---------------------------------------------------------------------------------

/// Spans handed from the starting thread to the ending thread at a time.
const W8_BATCH: usize = 256;

/// W8: one thread starts W1 spans (name, 3 attributes), another thread ends them; the
/// spans cross in batches of [`W8_BATCH`] over a bounded channel (so the channel costs
/// little per span). Returns nanoseconds per span from the first start to the last end
/// (plus `finish`, the library's flush).
fn cross_thread_rate<S: Send>(
    plan: &Plan,
    spans: u64,
    start: impl Fn() -> S + Sync,
    end: impl Fn(S) + Sync,
    finish: impl Fn(),
) -> Summary {
    rate(plan.reps, || {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<S>>(4);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<S>>(8);
        for _ in 0..6 {
            back_tx.send(Vec::with_capacity(W8_BATCH)).expect("pool");
        }
        let t = Instant::now();
        std::thread::scope(|scope| {
            let end = &end;
            scope.spawn(move || {
                for mut batch in rx {
                    for span in batch.drain(..) {
                        end(span);
                    }
                    let _ = back_tx.send(batch);
                }
            });
            let mut left = spans;
            while left > 0 {
                let mut batch = back_rx.recv().expect("a free batch");
                let n = left.min(W8_BATCH as u64);
                for _ in 0..n {
                    batch.push(start());
                }
                left -= n;
                tx.send(batch).expect("ender alive");
            }
            drop(tx);
        });
        finish();
        (spans, t.elapsed())
    })
    .map(|per_second| 1e9 / per_second)
}

fn w8(opts: &Opts, report: &mut Report) {
    eprintln!("W8 spans started on one thread and ended on another (W1 spans)");
    let plan = &opts.plan;
    let spans: u64 = if opts.quick { 20_000 } else { 400_000 };
    let mut push = |lib: &str, s: Summary| {
        let mut r = row("W8", lib, s, "ns/span");
        r.note = format!("{W8_BATCH} spans per hand-over, wall time of both threads");
        report.push(r);
    };

    let provider = pico::provider();
    let tracer = provider.tracer();
    let s = cross_thread_rate(
        plan,
        spans,
        || {
            let mut span = tracer.start_span(black_box(W1_NAME));
            span.set_attribute(W1_STR.0, black_box(W1_STR.1));
            span.set_attribute(W1_I64.0, black_box(W1_I64.1));
            span.set_attribute(W1_BOOL.0, black_box(W1_BOOL.1));
            span
        },
        |span| span.end(),
        || {
            let _ = provider.flush();
        },
    );
    push(
        "picotrace (picotrace-std TracerProvider: one shared tracer, discarding exporter)",
        s,
    );

    {
        use opentelemetry::trace::{Span as _, Tracer as _};
        use opentelemetry::KeyValue;
        let o = otel::sampled(otel::Processor::Simple);
        let tracer = o.tracer.clone();
        let s = cross_thread_rate(
            plan,
            spans,
            || {
                let mut span = tracer.start(black_box(W1_NAME));
                span.set_attribute(KeyValue::new(W1_STR.0, black_box(W1_STR.1)));
                span.set_attribute(KeyValue::new(W1_I64.0, black_box(W1_I64.1)));
                span.set_attribute(KeyValue::new(W1_BOOL.0, black_box(W1_BOOL.1)));
                span
            },
            |mut span| span.end(),
            || {
                o.flush();
            },
        );
        push(
            "opentelemetry_sdk (simple processor, discarding exporter)",
            s,
        );
    }

    fast::init();
    let s = cross_thread_rate(plan, spans, fast::w1_span, drop, || {
        fast::flush();
    });
    push("fastrace (Span::root, global collector)", s);
}

// ---- goals ------------------------------------------------------------------------------

fn goals(report: &Report) -> String {
    let rows = report.rows();
    let find = |w: &str, lib: &str| {
        rows.iter()
            .find(|r| r.workload == w && r.library.starts_with(lib))
    };
    let best_peer = |w: &str| {
        rows.iter()
            .filter(|r| r.workload == w && !r.library.starts_with("picotrace"))
            .min_by(|a, b| a.summary.median.total_cmp(&b.summary.median))
    };
    let mut out = String::from("Goals:\n");
    let mut line = |ok: Option<bool>, text: String| {
        let mark = match ok {
            Some(true) => "MET    ",
            Some(false) => "NOT MET",
            None => "n/a    ",
        };
        out.push_str(&format!("- [{mark}] {text}\n"));
    };
    if let Some(p) = find("W8", "picotrace") {
        line(
            Some(p.summary.median <= 80.0),
            format!(
                "W8 (started on one thread, ended on another) <= 80 ns/span: {} ns/span",
                fmt_num(p.summary.median)
            ),
        );
    }
    for w in ["W1", "W2"] {
        if let (Some(p), Some(peer)) = (find(w, "picotrace"), best_peer(w)) {
            let ratio = peer.summary.median / p.summary.median;
            line(
                Some(p.summary.median <= 40.0),
                format!("{w} <= 40 ns/span: {} ns/span", fmt_num(p.summary.median)),
            );
            line(
                Some(ratio >= 4.0),
                format!(
                    "{w} >= 4x faster than the fastest peer ({}, {} ns/span): {:.1}x",
                    peer.library,
                    fmt_num(peer.summary.median),
                    ratio
                ),
            );
            line(
                p.allocs.map(|a| a == 0.0),
                format!(
                    "{w} zero heap allocations per span: {} (asserted by bench/tests/zero_alloc.rs)",
                    p.allocs.map_or("not counted".into(), |a| format!("{a}"))
                ),
            );
        }
    }
    for (w, goal) in [("W3", 10.0), ("W3b", 3.0)] {
        if let Some(p) = find(w, "picotrace") {
            line(
                Some(p.summary.median <= goal),
                format!(
                    "{w} <= {goal} ns/span: {} ns/span",
                    fmt_num(p.summary.median)
                ),
            );
        }
    }
    if let (Some(p), Some(o)) = (
        find("W9 span", "picotrace"),
        find("W9 span", "tracing-opentelemetry"),
    ) {
        let ratio = o.summary.median / p.summary.median;
        line(
            Some(ratio >= 5.0),
            format!("W9 tracing layer >= 5x faster than tracing-opentelemetry: {ratio:.1}x"),
        );
    }
    if let Some(p) = find("W4", "picotrace") {
        line(
            Some(p.summary.median <= 40.0),
            format!(
                "W4 (user-facing) <= 40 ns: {} ns",
                fmt_num(p.summary.median)
            ),
        );
    }
    if let (Some(p), Some(o)) = (
        find("W5 protobuf", "picotrace"),
        find("W5 protobuf", "opentelemetry"),
    ) {
        let ratio = o.summary.median / p.summary.median;
        line(
            Some(ratio >= 10.0),
            format!("W5 protobuf >= 10x faster than opentelemetry-proto's path: {ratio:.1}x"),
        );
    }
    if let (Some(one), Some(two)) = (
        find("W6 1 thread", "picotrace"),
        find("W6 2 threads", "picotrace"),
    ) {
        let s = two.summary.median / one.summary.median;
        line(
            Some(s >= 1.8),
            format!("W6 scaling close to linear (>= 1.8x with 2 threads on 2 cores): {s:.2}x"),
        );
    }
    out
}

/// Runs one picotrace workload `n` times after a warm-up of `n / 10`, for profilers
/// (`valgrind --tool=callgrind`): nothing else runs, so the counts are the workload's.
fn profile(what: &str, n: u64) {
    let warm = n / 10;
    match what {
        "w1" => {
            let t = pico::sampled();
            pico::run_w1(&t, warm);
            pico::run_w1(&t, n);
        }
        "w2" => {
            let t = pico::sampled();
            pico::run_w2(&t, warm);
            pico::run_w2(&t, n);
        }
        "w3" => {
            let t = pico::unsampled();
            pico::run_w1(&t, warm);
            pico::run_w1(&t, n);
        }
        "w3b" => {
            let t = pico::disabled();
            pico::run_w1(&t, warm);
            pico::run_w1(&t, n);
        }
        "w4" => {
            pico::run_w4(warm);
            pico::run_w4(n);
        }
        "w4-api" => {
            pico::run_w4_api(warm);
            pico::run_w4_api(n);
        }
        "w9" | "w9-registry" | "w9-otel" => {
            let s = match what {
                "w9" => w9::picotrace(),
                "w9-otel" => w9::opentelemetry(),
                _ => w9::registry_only(),
            };
            w9::run(&s, warm, w9::span);
            w9::run(&s, n, w9::span);
        }
        "w5pb" => w5::profile(w5::Encoding::Protobuf, n),
        "w5json" => w5::profile(w5::Encoding::Json, n),
        other => eprintln!("unknown workload {other}"),
    }
}
