//! `cargo run --release -p picotrace-bench -- [--quick] [--only W1,W2,...] [--write]`
//!
//! Runs every workload on picotrace and its peers and prints one Markdown table of
//! medians (min and max over repetitions) with picotrace's ratio against each peer, then
//! the goals and whether they are met. Progress goes to stderr, the report to stdout.
//! `--write` also puts the run into `BENCHMARKS.md`, the README's summary table and
//! `bench/chart.svg` (see [`picotrace_bench::publish`]).
//!
//! `--profile w1|w1-std|w2|w6-std|w6-core|w3|w3-std|w3b|w3b-std|w4|w4-api|w4-header-map|w4-state|w5pb|w5json|w8|w9|w9-extra|w9-registry|w9-otel|w9-otel-lean [N]` runs one picotrace workload alone, for
//! `valgrind --tool=callgrind --toggle-collect='picotrace_bench::pico::w1*'` (see
//! `BENCHMARKS.md`).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

use picotrace_bench::harness::{
    burst_ns_per_op, count_allocations, ns_per_op, rate, sustained, CountingAlloc, Plan, Summary,
    BURST_SPANS,
};
use picotrace_bench::report::{fmt_num, Better, Report, Row};
use picotrace_bench::shape::*;
use picotrace_bench::{fast, otel, pico, publish, w5, w7, w9};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Opts {
    plan: Plan,
    quick: bool,
    only: Option<Vec<String>>,
    write: bool,
    /// `--strict` (CI): exit 1 when W7 could not run or a picotrace W7 run failed,
    /// which otherwise only leaves a note (a machine without the collector).
    strict: bool,
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
        println!("usage: picotrace-bench [--quick] [--only W1,W2,W3,W4,W5,W6,W7,W8,W9] [--write] [--strict]");
        println!("       picotrace-bench --profile w1|w1-std|w2|w6-std|w6-core|w3|w3-std|w3b|w3b-std|w4|w4-api|w4-header-map|w4-state|w5pb|w5json|w8|w9|w9-extra|w9-registry|w9-otel|w9-otel-lean [N]   (picotrace only, for callgrind)");
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
        write: args.iter().any(|a| a == "--write"),
        strict: args.iter().any(|a| a == "--strict"),
    };
    let started = Instant::now();
    let mut report = Report::default();
    let mut notes = Vec::new();

    let head = header(&opts);
    println!("{head}");
    let workloads: [(&str, Workload); 8] = [
        ("W1", w1),
        ("W2", w2),
        ("W3", w3),
        ("W4", w4),
        ("W5", |opts, report| w5::run(&opts.plan, report)),
        ("W6", w6),
        ("W8", w8),
        ("W9", w9),
    ];
    for (name, workload) in workloads {
        if opts.runs(name) {
            on_own_thread(|| workload(&opts, &mut report));
        }
    }
    let mut failures = Vec::new();
    if opts.runs("W7") {
        match w7::run(&opts.plan, opts.quick, &mut report, &mut notes) {
            Ok(failed) => {
                notes.extend(failed.iter().map(|f| format!("W7 row missing: {f}")));
                failures.extend(failed);
            }
            Err(why) => {
                notes.push(format!("W7 skipped: {why}"));
                eprintln!("W7 skipped: {why}");
                failures.push(format!("W7 skipped: {why}"));
            }
        }
    }

    let table = report.markdown();
    let goals = goals(&report);
    let footer = format!(
        "(whole run: {:.1} s, {} repetitions per figure)",
        started.elapsed().as_secs_f64(),
        opts.plan.reps
    );
    println!("{table}");
    for n in &notes {
        println!("{n}\n");
    }
    println!("{goals}");
    println!("{footer}");
    if opts.write {
        if let Err(e) = write(&opts, &head, &table, &notes, &goals, &footer, &report) {
            eprintln!("--write: {e}");
            std::process::exit(1);
        }
    }
    if opts.strict && !failures.is_empty() {
        for f in &failures {
            eprintln!("--strict: {f}");
        }
        std::process::exit(1);
    }
}

/// `--write`: the run into BENCHMARKS.md, README.md and bench/chart.svg.
fn write(
    opts: &Opts,
    head: &str,
    table: &str,
    notes: &[String],
    goals: &str,
    footer: &str,
    report: &Report,
) -> Result<(), String> {
    // A quick run is a smoke test: it must not replace the published figures (found
    // by review: the README's summary would not have said it was one).
    if opts.only.is_some() || opts.quick {
        return Err("only a full run (no --only, no --quick) is published".into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut run = format!(
        "Generated by `cargo run --release -p picotrace-bench -- --write{}` (this block, the \
         README's summary table and `bench/chart.svg` come from this one run):\n\n```text\n{}\n```\n\n{table}\n",
        if opts.quick { " --quick" } else { "" },
        head.trim_end()
    );
    for n in notes {
        run.push_str(&format!("{n}\n\n"));
    }
    run.push_str(&format!("```text\n{}\n{footer}\n```\n", goals.trim_end()));
    run.push_str("\n![The span workloads, ns per span, log scale](bench/chart.svg)\n");
    publish::replace_between(&root.join("BENCHMARKS.md"), "bench-run", &run)?;
    let cpu = head
        .lines()
        .find_map(|l| l.strip_prefix("machine: "))
        .unwrap_or("unknown machine");
    let summary = format!(
        "{}\nMeasured on {cpu}; the whole table, the regimes and each library's configuration \
         are in [BENCHMARKS.md](BENCHMARKS.md).\n",
        publish::summary_markdown(report)
    );
    publish::replace_between(&root.join("README.md"), "bench-summary", &summary)?;
    let chart = publish::chart_svg(report, "ns per span (median, log scale; lower is better)");
    std::fs::write(root.join("bench/chart.svg"), chart).map_err(|e| format!("chart: {e}"))?;
    eprintln!("wrote BENCHMARKS.md, README.md, bench/chart.svg");
    Ok(())
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
         code: {}\n\
         one clock read here: {clocks}\n\
         versions: picotrace {}, opentelemetry {}, opentelemetry_sdk {}, opentelemetry-proto {}, \
         opentelemetry-otlp {}, prost {}, serde_json {}, fastrace {}, tracing {}, \
         tracing-subscriber {}, tracing-opentelemetry {}\n",
        if opts.quick { "quick" } else { "full" },
        opts.plan.reps,
        opts.plan.target.as_millis(),
        code_version(),
        env!("BENCH_VERSION_picotrace"),
        env!("BENCH_VERSION_opentelemetry"),
        env!("BENCH_VERSION_opentelemetry_sdk"),
        env!("BENCH_VERSION_opentelemetry-proto"),
        env!("BENCH_VERSION_opentelemetry-otlp"),
        env!("BENCH_VERSION_prost"),
        env!("BENCH_VERSION_serde_json"),
        env!("BENCH_VERSION_fastrace"),
        env!("BENCH_VERSION_tracing"),
        env!("BENCH_VERSION_tracing-subscriber"),
        env!("BENCH_VERSION_tracing-opentelemetry"),
    )
}

/// The commit measured (and whether the tree had uncommitted changes) and the compiler,
/// so that a published run names its code (found by review: only prose named it).
fn code_version() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit =
        run("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown commit".into());
    // Changes to the files a `--write` run writes do not count: a second run after a
    // first measures the same code.
    let dirty = run(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!BENCHMARKS.md",
            ":!README.md",
            ":!bench/chart.svg",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    let rustc = env!("BENCH_RUSTC");
    format!(
        "commit {commit}{}, built with {rustc}",
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
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
    let clock = picotrace_std::SystemClock::new();
    let system_clock = ns_per_op(
        &plan,
        |n| {
            for _ in 0..n {
                black_box(picotrace::Clock::now(&clock));
            }
        },
        || {},
    );
    format!(
        "picotrace-std SystemClock (TSC read, fixed-point to Unix time) {} ns, \
         fastant::Instant::now (fastrace; the TSC read alone) {} ns, \
         SystemTime::now (opentelemetry_sdk) {} ns, std Instant::now {} ns",
        fmt_num(system_clock.median),
        fmt_num(tsc.median),
        fmt_num(system_time.median),
        fmt_num(std_instant.median),
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
        cpu: None,
        reached: None,
        note: String::new(),
    }
}

// ---- W1, W2, W3: both regimes ----------------------------------------------------------

/// A workload: measures every library and adds the rows.
type Workload = fn(&Opts, &mut Report);

/// Runs one workload on a thread of its own, so that what a library leaves in the
/// thread's locals stays with that workload: fastrace keeps the spans its full channel
/// refused (in the sustained regime) in a thread-local queue that `flush` cannot
/// reach, and pushes them at its next sends, which were the next workload's timed
/// bursts (W2 burst after W1 sustained, W8 after W2).
fn on_own_thread(workload: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        // The main thread's stack size: the core tracers' arenas are built on it.
        let thread = std::thread::Builder::new()
            .name("workload".into())
            .stack_size(MAIN_STACK)
            .spawn_scoped(scope, workload)
            .expect("spawn a workload thread");
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Stack for a workload thread: Linux's default main-thread stack (8 MiB), twice.
const MAIN_STACK: usize = 16 << 20;

/// One library configuration under a span workload: `run(n)` performs `n` operations,
/// `drain()` empties the library's pipeline and returns the spans its sink has received
/// so far (0 where nothing is exported).
struct Subject<'a> {
    library: String,
    run: Box<dyn FnMut(u64) + 'a>,
    drain: Box<dyn FnMut() -> u64 + 'a>,
    /// `false` for a configuration with no sink (tracing's registry alone).
    exports: bool,
}

impl<'a> Subject<'a> {
    fn new(
        library: impl Into<String>,
        run: impl FnMut(u64) + 'a,
        drain: impl FnMut() -> u64 + 'a,
    ) -> Self {
        Subject {
            library: library.into(),
            run: Box::new(run),
            drain: Box::new(drain),
            exports: true,
        }
    }

    /// Marks a configuration that exports nothing (no share of spans to report).
    fn without_sink(mut self) -> Self {
        self.exports = false;
        self
    }
}

/// Measures every subject in the burst regime (rows `"{workload} burst"`), then in the
/// sustained regime (rows `"{workload} sustained"`). `spans_per_op` spans per operation
/// (0 when nothing is recorded); a burst is [`BURST_SPANS`] spans.
fn regimes(
    opts: &Opts,
    report: &mut Report,
    workload: &str,
    spans_per_op: u64,
    mut subjects: Vec<Subject<'_>>,
) {
    let plan = &opts.plan;
    let per = spans_per_op.max(1);
    let ops_per_burst = BURST_SPANS.div_ceil(per);
    let alloc_ops = (alloc_ops(opts) / per).max(1);
    for s in subjects.iter_mut() {
        let (run, drain) = (&mut s.run, &mut s.drain);
        let burst = burst_ns_per_op(plan, ops_per_burst, &mut *run, || {
            drain();
        });
        let mut r = row(
            &format!("{workload} burst"),
            s.library.clone(),
            burst.wall.map(|x| x / per as f64),
            "ns/span",
        );
        // Only where spans are exported: a workload that records nothing (W3, W3b,
        // `spans_per_op` 0) is drained by some libraries and not others, and its CPU
        // figure would compare the harness's drains (found by review).
        r.cpu = (s.exports && spans_per_op > 0).then(|| burst.cpu.median / per as f64);
        r.allocs = allocs_per_op(alloc_ops, per, |n| {
            let mut left = n;
            while left > 0 {
                let k = left.min(ops_per_burst);
                run(k);
                drain();
                left -= k;
            }
        });
        report.push(r);
    }
    for s in subjects.iter_mut() {
        let (run, drain) = (&mut s.run, &mut s.drain);
        let m = sustained(plan, spans_per_op, &mut *run, &mut *drain);
        let mut r = row(
            &format!("{workload} sustained"),
            s.library.clone(),
            m.wall.map(|x| x / per as f64),
            "ns/span",
        );
        r.cpu = Some(m.cpu.median / per as f64);
        r.reached = m.reached_share().filter(|_| s.exports);
        if let Some(share) = r.reached {
            if share < 1.0 {
                // fastrace's drain cannot reach its thread-local backlog, which carries
                // over from one repetition to the next and grows through the run (found by
                // review); opentelemetry's batch processor drops what its queue refuses.
                let why = if s.library.starts_with("fastrace") {
                    " (a backlog carried from repetition to repetition)"
                } else {
                    ""
                };
                r.note = format!(
                    "{} of {} spans had not reached the sink after the drain{why}",
                    m.produced - m.reached.min(m.produced),
                    m.produced
                );
            }
        }
        report.push(r);
    }
}

const PICO_STD: &str =
    "picotrace-std (TracerProvider: shared tracer, export thread, SystemClock, discarding exporter)";
const PICO_SYS: &str =
    "picotrace core (Tracer, SpanArena<512>, NoopExporter, SystemClock; exports on the calling thread)";
const PICO_TSC: &str = "picotrace core (same, fastant's TSC read, converted to Unix time at each read; fastrace converts in its collector)";
const PICO_MANUAL: &str = "picotrace core (same, ManualClock: no clock reads)";

/// Drains a core tracer and returns the spans it exported so far.
fn core_drain<A: picotrace::SpanStorage, C: picotrace::Clock, X: picotrace::SpanExporter>(
    t: &picotrace::Tracer<A, C, X>,
) -> u64 {
    t.flush();
    t.stats().spans_exported
}

/// A sampled span workload (W1, W2) as each library writes it.
#[derive(Clone, Copy)]
enum Sampled {
    W1,
    W2,
}

impl Sampled {
    fn pico<
        A: picotrace::SpanStorage,
        C: picotrace::Clock + Sync,
        X: picotrace::SpanExporter + Send,
    >(
        self,
        t: &picotrace::Tracer<A, C, X>,
        n: u64,
    ) {
        match self {
            Sampled::W1 => pico::run_w1(t, n),
            Sampled::W2 => pico::run_w2(t, n),
        }
    }

    fn otel(self, t: &opentelemetry_sdk::trace::SdkTracer, n: u64) {
        match self {
            Sampled::W1 => otel::run_w1(t, n),
            Sampled::W2 => otel::run_w2(t, n),
        }
    }

    /// fastrace's `n` operations, each workload called directly (found by review: through
    /// a `fn()` pointer, fastrace alone paid an indirect call per operation).
    fn fast(self, n: u64) {
        match self {
            Sampled::W1 => fast::run(n, fast::w1),
            Sampled::W2 => fast::run(n, fast::w2),
        }
    }

    fn fastrace_label(self) -> &'static str {
        match self {
            Sampled::W1 => "fastrace (Span::root, discarding reporter)",
            Sampled::W2 => "fastrace (Span::root + LocalSpan children, discarding reporter)",
        }
    }
}

/// W1 and W2: the same seven configurations in both regimes.
fn sampled_workload(opts: &Opts, report: &mut Report, w: Sampled) {
    let provider = pico::provider();
    let std_tracer = provider.tracer();
    let sys = pico::sampled();
    let tsc = pico::sampled_tsc();
    let manual = pico::sampled_manual();
    let simple = otel::sampled(otel::Processor::Simple);
    let batch = otel::sampled(otel::Processor::Batch);
    fast::init();
    let subjects = vec![
        Subject::new(
            PICO_STD,
            |n| w.pico(std_tracer, n),
            || {
                let _ = provider.flush();
                provider.stats().spans_exported
            },
        ),
        Subject::new(PICO_SYS, |n| w.pico(&sys, n), || core_drain(&sys)),
        Subject::new(PICO_TSC, |n| w.pico(&tsc, n), || core_drain(&tsc)),
        Subject::new(PICO_MANUAL, |n| w.pico(&manual, n), || core_drain(&manual)),
        Subject::new(
            "opentelemetry_sdk (simple processor, discarding exporter)",
            |n| w.otel(&simple.tracer, n),
            || simple.flush(),
        ),
        Subject::new(
            "opentelemetry_sdk (batch processor at its defaults, discarding exporter)",
            |n| w.otel(&batch.tracer, n),
            || batch.flush(),
        ),
        Subject::new(w.fastrace_label(), move |n| w.fast(n), fast::flush),
    ];
    match w {
        Sampled::W1 => regimes(opts, report, "W1", 1, subjects),
        Sampled::W2 => regimes(opts, report, "W2", W2_SPANS as u64, subjects),
    }
}

fn w1(opts: &Opts, report: &mut Report) {
    eprintln!("W1 span lifecycle (burst and sustained)");
    sampled_workload(opts, report, Sampled::W1);
}

fn w2(opts: &Opts, report: &mut Report) {
    eprintln!(
        "W2 nested trace (root + 10 children, 2 attributes + 1 event each; burst and sustained)"
    );
    sampled_workload(opts, report, Sampled::W2);
}

fn w3(opts: &Opts, report: &mut Report) {
    eprintln!("W3 unsampled (always-off) and W3b tracing disabled (burst and sustained)");
    let provider = pico::provider_with(pico::config().with_sampler(picotrace::Sampler::ALWAYS_OFF));
    let std_tracer = provider.tracer();
    let core = pico::unsampled();
    let o = otel::provider(
        otel::Processor::Simple,
        opentelemetry_sdk::trace::Sampler::AlwaysOff,
    );
    fast::init();
    let subjects = vec![
        Subject::new(
            "picotrace-std (TracerProvider, Sampler::ALWAYS_OFF)",
            |n| pico::run_w1(std_tracer, n),
            || {
                let _ = provider.flush();
                0
            },
        ),
        Subject::new(
            "picotrace core (Tracer, Sampler::ALWAYS_OFF)",
            |n| pico::run_w1(&core, n),
            || 0,
        ),
        Subject::new(
            "opentelemetry_sdk (Sampler::AlwaysOff)",
            |n| otel::run_w1(&o.tracer, n),
            || 0,
        ),
        Subject::new(
            "fastrace (SpanContext::random().sampled(false))",
            |n| fast::run(n, fast::w3_unsampled),
            || {
                fast::flush();
                0
            },
        ),
    ];
    regimes(opts, report, "W3", 0, subjects);

    let provider = pico::provider_with(pico::config().with_enabled(false));
    let std_tracer = provider.tracer();
    let core = pico::disabled();
    let noop = otel::disabled();
    let subjects = vec![
        Subject::new(
            "picotrace-std (TracerProvider, TracerConfig::with_enabled(false))",
            |n| pico::run_w1(std_tracer, n),
            || 0,
        ),
        Subject::new(
            "picotrace core (Tracer, TracerConfig::with_enabled(false))",
            |n| pico::run_w1(&core, n),
            || 0,
        ),
        Subject::new(
            "opentelemetry (API NoopTracer, no SDK)",
            |n| otel::run_w1(&noop, n),
            || 0,
        ),
        Subject::new(
            "fastrace (Span::noop())",
            |n| fast::run(n, fast::w3_disabled),
            || 0,
        ),
    ];
    regimes(opts, report, "W3b", 0, subjects);
}

// ---- W9 ---------------------------------------------------------------------------------

/// W9's layers: each library at its defaults, and each with the other's attributes.
const W9_PICO: &str =
    "picotrace-std TracingLayer (export thread, discarding; defaults: fields only)";
const W9_PICO_EXTRA: &str = "picotrace-std TracingLayer + location, threads, busy/idle (tracing-opentelemetry's default span attributes but `target`)";
const W9_OTEL: &str =
    "tracing-opentelemetry 0.34 + opentelemetry_sdk (simple processor, discarding exporter; defaults)";
const W9_OTEL_LEAN: &str = "tracing-opentelemetry 0.34 + opentelemetry_sdk, location, threads, busy/idle, target off (picotrace's default attributes)";

fn w9(opts: &Opts, report: &mut Report) {
    eprintln!(
        "W9 tracing instrumentation: picotrace's layer, tracing-opentelemetry, registry alone"
    );
    report.pair(W9_OTEL, W9_PICO_EXTRA);
    report.pair(W9_OTEL_LEAN, W9_PICO);
    let subscribers = [
        (W9_PICO, w9::picotrace(false)),
        (W9_PICO_EXTRA, w9::picotrace(true)),
        (W9_OTEL, w9::opentelemetry(true)),
        (W9_OTEL_LEAN, w9::opentelemetry(false)),
        (
            "tracing-subscriber Registry alone (no export: the floor)",
            w9::registry_only(),
        ),
    ];
    for (shape, f, per) in [
        ("W9 span", w9::span as fn(), 1u64),
        ("W9 nested", w9::nested as fn(), 4),
    ] {
        let subjects = subscribers
            .iter()
            .map(|(label, subscriber)| {
                let s = Subject::new(
                    *label,
                    move |n| w9::run(subscriber, n, f),
                    || subscriber.drain(),
                );
                if label.starts_with("tracing-subscriber") {
                    s.without_sink()
                } else {
                    s
                }
            })
            .collect();
        regimes(opts, report, shape, per, subjects);
    }
}

// ---- W4 ---------------------------------------------------------------------------------

fn w4(opts: &Opts, report: &mut Report) {
    eprintln!("W4 traceparent parse + format");
    let plan = &opts.plan;
    let n = alloc_ops(opts);
    // One row: the median of `run` (n round trips) and its allocations per round trip.
    let mut measure = |workload: &str, library: &str, run: &mut dyn FnMut(u64)| {
        let mut r = row(
            workload,
            library,
            ns_per_op(plan, &mut *run, || {}),
            "ns/round trip",
        );
        r.allocs = allocs_per_op(n, 1, &mut *run);
        report.push(r);
    };
    const OTEL: &str =
        "opentelemetry_sdk (TraceContextPropagator extract + inject, HashMap carriers)";
    let otel_w4 = |mut state: otel::W4| {
        move |n: u64| {
            for _ in 0..n {
                state.round_trip();
            }
        }
    };
    measure(
        "W4",
        "picotrace (TraceContext::from_headers + to_headers, slice and FnInjector carriers; values kept in reused Strings)",
        &mut pico::run_w4_api,
    );
    measure(
        "W4 wire",
        "picotrace (TraceparentRepr::parse + emit into [u8; 55]: wire level)",
        &mut pico::run_w4,
    );
    measure("W4", OTEL, &mut otel_w4(otel::W4::new()));
    // picotrace's carriers on opentelemetry's side (its `Extractor` and `Injector` are
    // traits): a slice of pairs in, reused `String`s out.
    const SLICE: &str = "opentelemetry_sdk (TraceContextPropagator extract + inject, slice and reused-String carriers as picotrace's)";
    let slice_w4 = |headers: &'static [(&'static str, &'static str)]| {
        move |n: u64| {
            let mut state = otel::W4Slice::new();
            for _ in 0..n {
                black_box(state.round_trip(black_box(headers)));
            }
        }
    };
    measure("W4", SLICE, &mut slice_w4(&[("traceparent", TRACEPARENT)]));
    measure(
        "W4",
        "fastrace (SpanContext::decode_w3c_traceparent + encode_w3c_traceparent: its propagation API)",
        &mut fast::run_w4,
    );
    // The same carrier type on every side: opentelemetry's own, `HashMap<String,
    // String>` (the owned key and value of an insert allocate on every side).
    measure(
        "W4 HashMap",
        "picotrace (TraceContext::from_headers + to_headers, picotrace-std HashMapCarrier / HashMapInjector)",
        &mut pico::run_w4_hash_map,
    );
    measure("W4 HashMap", OTEL, &mut otel_w4(otel::W4::new()));
    measure(
        "W4 HashMap",
        "fastrace (decode_w3c_traceparent + encode_w3c_traceparent, HashMap by hand)",
        &mut fast::run_w4_hash_map,
    );
    // Through `http::HeaderMap`, as servers carry headers (inserting a header value
    // allocates on every side: `HeaderValue` holds its own bytes).
    measure(
        "W4 HeaderMap",
        "picotrace (TraceContext::from_headers + to_headers, picotrace-std HeaderMapCarrier / HeaderMapInjector)",
        &mut pico::run_w4_header_map,
    );
    measure(
        "W4 HeaderMap",
        "opentelemetry_sdk (TraceContextPropagator extract + inject, opentelemetry-http HeaderExtractor / HeaderInjector)",
        &mut |n: u64| {
            let mut state = otel::W4HeaderMap::new();
            for _ in 0..n {
                state.round_trip();
            }
        },
    );
    measure(
        "W4 HeaderMap",
        "fastrace (decode_w3c_traceparent + encode_w3c_traceparent, HeaderValue by hand)",
        &mut fast::run_w4_header_map,
    );
    // With a 3-member tracestate (fastrace reads and writes no tracestate).
    measure(
        "W4 tracestate",
        "picotrace (TraceContext::from_headers + to_headers, slice and FnInjector carriers; values kept in reused Strings)",
        &mut pico::run_w4_state,
    );
    measure(
        "W4 tracestate",
        OTEL,
        &mut otel_w4(otel::W4::with_trace_state()),
    );
    measure(
        "W4 tracestate",
        SLICE,
        &mut slice_w4(&[("traceparent", TRACEPARENT), ("tracestate", TRACESTATE)]),
    );
}

// ---- W6 ---------------------------------------------------------------------------------

/// Runs `threads` threads at once, each set up by `setup` (untimed) and then running
/// `per_thread` spans through the closure it returns; the threads are joined (a
/// library may hand over what a thread kept at its exit: fastrace's refused spans)
/// and `finish` runs (a flush of whatever background queue the library has, which
/// returns how many spans its sink has received so far, `None` where it cannot tell),
/// both inside the timing. Returns spans per second over repetitions, and the share of
/// the spans that reached the sink (found by review: the threads were joined after the
/// clock stopped, and what never reached the sink went unseen).
fn threads_rate<S, W>(
    plan: &Plan,
    threads: usize,
    per_thread: u64,
    setup: S,
    finish: impl Fn() -> Option<u64> + Sync,
) -> (Summary, Option<f64>)
where
    S: Fn() -> W + Sync,
    W: FnMut(u64),
{
    let (mut produced, mut reached) = (0, Some(0));
    let summary = rate(plan.reps, || {
        let barrier = Barrier::new(threads + 1);
        let before = finish();
        let elapsed = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    std::thread::Builder::new()
                        .stack_size(16 << 20)
                        .spawn_scoped(scope, || {
                            let mut work = setup();
                            work(1000); // warm-up
                            barrier.wait();
                            // Each worker's own start: the main thread, descheduled after
                            // the barrier (three threads on two vCPUs), could read the
                            // clock after short work had finished.
                            let start = Instant::now();
                            work(per_thread);
                            start
                        })
                        .expect("spawn")
                })
                .collect();
            barrier.wait();
            let first = handles
                .into_iter()
                .map(|h| h.join().expect("worker"))
                .min()
                .expect("a worker");
            let after = finish();
            let end = Instant::now();
            reached = match (reached, before, after) {
                (Some(r), Some(b), Some(a)) => Some(r + a.saturating_sub(b)),
                _ => None,
            };
            end - first
        });
        // The warm-up's spans go to the sink too.
        produced += threads as u64 * (per_thread + 1000);
        (threads as u64 * per_thread, elapsed)
    });
    let share = reached.map(|r| r as f64 / produced as f64);
    (summary, share)
}

fn w6(opts: &Opts, report: &mut Report) {
    eprintln!("W6 two threads creating spans at once (W1 spans)");
    let plan = &opts.plan;
    let per_thread: u64 = if opts.quick { 20_000 } else { 400_000 };

    let provider = pico::provider();
    let pico_setup = || {
        let t = provider.tracer();
        move |n: u64| pico::run_w1(t, n)
    };
    let finish = || {
        let _ = provider.flush();
        Some(provider.stats().spans_exported)
    };
    w6_pair(
        report,
        plan,
        "W6",
        "picotrace (picotrace-std TracerProvider: one shared tracer, discarding exporter)",
        per_thread,
        pico_setup,
        finish,
    );
    let pico_setup = || {
        let t = pico::sampled();
        move |n: u64| pico::run_w1(&t, n)
    };
    w6_pair(
        report,
        plan,
        "W6",
        "picotrace (one core Tracer per thread, SpanArena<512>)",
        per_thread,
        pico_setup,
        // Each thread's tracer goes with its thread: not counted.
        || None,
    );
    let shared = pico::sampled();
    let pico_setup = || {
        let t = &*shared;
        move |n: u64| pico::run_w1(t, n)
    };
    w6_pair(
        report,
        plan,
        "W6",
        "picotrace (one shared core Tracer, SpanArena<512>, drained by the span threads)",
        per_thread,
        pico_setup,
        || Some(core_drain(&*shared)),
    );

    for p in [otel::Processor::Simple, otel::Processor::Batch] {
        let o = otel::sampled(p);
        let setup = || {
            let tracer = o.tracer.clone();
            move |n: u64| otel::run_w1(&tracer, n)
        };
        let finish = || Some(o.flush());
        w6_pair(
            report,
            plan,
            "W6",
            &format!(
                "opentelemetry_sdk ({} processor, one shared provider)",
                p.label()
            ),
            per_thread,
            setup,
            finish,
        );
    }

    fast::init();
    let setup = || |n: u64| fast::run(n, fast::w1);
    let finish = || Some(fast::flush());
    w6_pair(
        report,
        plan,
        "W6",
        "fastrace (Span::root, global collector)",
        per_thread,
        setup,
        finish,
    );

    w6_unsampled(opts, report);
}

/// Runs `setup`'s work on one thread, then on two at once ([`threads_rate`]), and
/// pushes the pair of rows (`<workload> 1 thread`, `<workload> 2 threads`, the second
/// with its scaling).
fn w6_pair<S, W>(
    report: &mut Report,
    plan: &Plan,
    workload: &str,
    lib: &str,
    per_thread: u64,
    setup: S,
    finish: impl Fn() -> Option<u64> + Sync,
) where
    S: Fn() -> W + Sync,
    W: FnMut(u64),
{
    let (one, reached_one) = threads_rate(plan, 1, per_thread, &setup, &finish);
    let (two, reached_two) = threads_rate(plan, 2, per_thread, &setup, &finish);
    let mut r1 = row(&format!("{workload} 1 thread"), lib, one, "spans/s");
    r1.better = Better::Higher;
    r1.reached = reached_one;
    report.push(r1);
    let mut r2 = row(&format!("{workload} 2 threads"), lib, two, "spans/s");
    r2.better = Better::Higher;
    r2.reached = reached_two;
    r2.note = format!("scaling {:.2}x of 1 thread", two.median / one.median);
    report.push(r2);
}

/// W6 unsampled: W3's spans (an always-off sampler) on one and two threads at once, the
/// regime of a server whose sampler drops most traces.
fn w6_unsampled(opts: &Opts, report: &mut Report) {
    eprintln!("W6 unsampled: two threads starting unsampled spans at once (W3 spans)");
    let plan = &opts.plan;
    let per_thread: u64 = if opts.quick { 80_000 } else { 1_600_000 };
    let provider = pico::provider_with(pico::config().with_sampler(picotrace::Sampler::ALWAYS_OFF));
    let setup = || {
        let t = provider.tracer();
        move |n: u64| pico::run_w1(t, n)
    };
    // Unsampled: nothing reaches a sink.
    let finish = || {
        let _ = provider.flush();
        None
    };
    w6_pair(
        report,
        plan,
        "W6 unsampled",
        "picotrace (picotrace-std TracerProvider, Sampler::ALWAYS_OFF)",
        per_thread,
        setup,
        finish,
    );
    let o = otel::provider(
        otel::Processor::Simple,
        opentelemetry_sdk::trace::Sampler::AlwaysOff,
    );
    let setup = || {
        let tracer = o.tracer.clone();
        move |n: u64| otel::run_w1(&tracer, n)
    };
    w6_pair(
        report,
        plan,
        "W6 unsampled",
        "opentelemetry_sdk (Sampler::AlwaysOff, one shared provider)",
        per_thread,
        setup,
        || None,
    );
    fast::init();
    let setup = || |n: u64| fast::run(n, fast::w3_unsampled);
    let finish = || {
        fast::flush();
        None
    };
    w6_pair(
        report,
        plan,
        "W6 unsampled",
        "fastrace (SpanContext::random().sampled(false))",
        per_thread,
        setup,
        finish,
    );
}

// ---- W8 ---------------------------------------------------------------------------------

/// Spans handed from the starting thread to the ending thread at a time.
const W8_BATCH: usize = 256;

/// W8: one thread starts W1 spans (name, 3 attributes), another thread ends them; the
/// spans cross in batches of [`W8_BATCH`] over a bounded channel (so the channel costs
/// little per span). Returns nanoseconds per span from the first start to the last end
/// (plus `finish`, the library's flush, which returns how many spans its sink has
/// received so far), and the share of the spans that reached the sink.
fn cross_thread_rate<S: Send>(
    plan: &Plan,
    spans: u64,
    start: impl Fn() -> S + Sync,
    end: impl Fn(S) + Sync,
    finish: impl Fn() -> u64,
) -> (Summary, f64) {
    let (mut produced, mut reached) = (0, 0);
    let summary = rate(plan.reps, || {
        let before = finish();
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
        let after = finish();
        let elapsed = t.elapsed();
        produced += spans;
        reached += after.saturating_sub(before);
        (spans, elapsed)
    })
    .map(|per_second| 1e9 / per_second);
    (summary, reached as f64 / produced as f64)
}

/// W8 on picotrace: W1 spans started on one thread, ended on another, one provider.
fn pico_w8(plan: &Plan, spans: u64) -> (Summary, f64) {
    let provider = pico::provider();
    let tracer = provider.tracer();
    cross_thread_rate(
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
            provider.stats().spans_exported
        },
    )
}

fn w8(opts: &Opts, report: &mut Report) {
    eprintln!("W8 spans started on one thread and ended on another (W1 spans)");
    let plan = &opts.plan;
    let spans: u64 = if opts.quick { 20_000 } else { 400_000 };
    let mut push = |lib: &str, (s, reached): (Summary, f64)| {
        let mut r = row("W8", lib, s, "ns/span");
        r.note = format!("{W8_BATCH} spans per hand-over, wall time of both threads");
        r.reached = Some(reached);
        report.push(r);
    };

    let s = pico_w8(plan, spans);
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
            || o.flush(),
        );
        push(
            "opentelemetry_sdk (simple processor, discarding exporter)",
            s,
        );
    }

    fast::init();
    let s = cross_thread_rate(plan, spans, fast::w1_span, drop, fast::flush);
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
    for w in ["W1 burst", "W1 sustained", "W2 burst", "W2 sustained"] {
        if let (Some(p), Some(peer)) = (find(w, "picotrace"), best_peer(w)) {
            let ratio = peer.summary.median / p.summary.median;
            line(
                Some(p.summary.median <= 40.0),
                format!(
                    "{w} <= 40 ns/span ({}): {} ns/span",
                    p.library,
                    fmt_num(p.summary.median)
                ),
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
            if p.allocs.is_some() {
                line(
                    p.allocs.map(|a| a == 0.0),
                    format!(
                        "{w} zero heap allocations per span: {} (asserted by bench/tests/zero_alloc.rs)",
                        p.allocs.map_or("not counted".into(), |a| format!("{a}"))
                    ),
                );
            }
        }
    }
    for (w, goal) in [
        ("W3 burst", 10.0),
        ("W3 sustained", 10.0),
        ("W3b burst", 3.0),
        ("W3b sustained", 3.0),
    ] {
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
    // Both workloads (a span with fields and an event, nested spans) in both regimes.
    for w in [
        "W9 span burst",
        "W9 span sustained",
        "W9 nested burst",
        "W9 nested sustained",
    ] {
        // Like with like: the same attributes on both sides.
        for (pico, otel, attributes) in [
            (W9_PICO, W9_OTEL_LEAN, "fields only on both"),
            (
                W9_PICO_EXTRA,
                W9_OTEL,
                "tracing-opentelemetry's defaults against picotrace with the same but `target`",
            ),
        ] {
            if let (Some(p), Some(o)) = (find(w, pico), find(w, otel)) {
                let ratio = o.summary.median / p.summary.median;
                line(
                    Some(ratio >= 5.0),
                    format!(
                        "{w}: tracing layer >= 5x faster than tracing-opentelemetry ({attributes}): {ratio:.1}x"
                    ),
                );
            }
        }
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
    if let (Some(p), Some(fastest)) = (find("W4", "picotrace"), best_peer("W4")) {
        let ratio = fastest.summary.median / p.summary.median;
        line(
            Some(ratio >= 6.0),
            format!(
                "W4 (user-facing) >= 6x faster than the fastest peer ({}, {} ns): {ratio:.1}x",
                fastest.library,
                fmt_num(fastest.summary.median)
            ),
        );
    }
    if let Some(p) = find("W4 tracestate", "picotrace") {
        line(
            Some(p.summary.median <= 80.0),
            format!(
                "W4 with a 3-member tracestate (user-facing) <= 80 ns: {} ns",
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
    // Issue 10's encoder goals (found by review: the list left out the two it does
    // not meet, the protobuf time and W7's rate, so the published list read as if
    // only W4 and W6 were missing).
    for (w, goal) in [("W5 protobuf", 100.0), ("W5 JSON", 300.0)] {
        if let Some(p) = find(w, "picotrace") {
            line(
                Some(p.summary.median <= goal),
                format!(
                    "{w} <= {goal} ns/span (1000 spans of 5 attributes and an event, into a caller buffer): {} ns/span",
                    fmt_num(p.summary.median)
                ),
            );
        }
    }
    if let (Some(p), Some(o)) = (
        find("W5 JSON", "picotrace"),
        find("W5 JSON", "opentelemetry"),
    ) {
        let ratio = o.summary.median / p.summary.median;
        // Per span the requests differ in size: picotrace leaves out the empty and
        // default fields that OTLP/JSON lets a sender omit, opentelemetry-proto's serde
        // writes them; the per-byte ratio beside it (found by review).
        let per_byte = match (
            find("W5 JSON MB/s", "picotrace"),
            find("W5 JSON MB/s", "opentelemetry"),
        ) {
            (Some(p), Some(o)) => format!(
                " ({:.1}x per byte encoded: picotrace omits the empty and default fields, \
                 opentelemetry-proto writes them)",
                p.summary.median / o.summary.median
            ),
            _ => String::new(),
        };
        line(
            Some(ratio >= 5.0),
            format!("W5 JSON >= 5x faster than opentelemetry-proto's path: {ratio:.1}x{per_byte}"),
        );
    }
    // One exporter thread with one request in flight (the default); gzip beside it.
    let w7 = |setup: &str| {
        rows.iter().find(|r| {
            r.workload == "W7" && r.library.starts_with("picotrace") && r.library.ends_with(setup)
        })
    };
    if let Some(p) = w7(", protobuf)") {
        let gzip = w7(", protobuf, gzip)").map_or(String::new(), |g| {
            format!(" (gzip: {} spans/s)", fmt_num(g.summary.median))
        });
        line(
            Some(p.summary.median >= 1_000_000.0),
            format!(
                "W7 >= 1M spans/s protobuf from one exporter thread to the collector: {} spans/s{gzip}",
                fmt_num(p.summary.median)
            ),
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

/// Runs `work` on two threads at once (16 MiB stacks, as the workloads' threads have).
fn two_threads(work: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        for _ in 0..2 {
            std::thread::Builder::new()
                .stack_size(16 << 20)
                .spawn_scoped(scope, &work)
                .expect("spawn");
        }
    });
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
        "w1-std" => {
            let provider = pico::provider();
            pico::run_w1(provider.tracer(), warm);
            pico::run_w1(provider.tracer(), n);
        }
        "w2" => {
            let t = pico::sampled();
            pico::run_w2(&t, warm);
            pico::run_w2(&t, n);
        }
        // W6: two threads on one shared tracer, `n` spans each (for `perf` and
        // `valgrind`; callgrind runs the threads one at a time).
        "w6-std" => {
            let provider = pico::provider();
            two_threads(|| pico::run_w1(provider.tracer(), n));
            let _ = provider.flush();
        }
        "w6-core" => {
            let t = pico::sampled();
            two_threads(|| pico::run_w1(&t, n));
        }
        "w3" => {
            let t = pico::unsampled();
            pico::run_w1(&t, warm);
            pico::run_w1(&t, n);
        }
        // W3 through picotrace-std's provider (its arena gives threads counter cells).
        "w3-std" => {
            let provider =
                pico::provider_with(pico::config().with_sampler(picotrace::Sampler::ALWAYS_OFF));
            pico::run_w1(provider.tracer(), warm);
            pico::run_w1(provider.tracer(), n);
        }
        "w3b-std" => {
            let provider = pico::provider_with(pico::config().with_enabled(false));
            pico::run_w1(provider.tracer(), warm);
            pico::run_w1(provider.tracer(), n);
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
        "w4-header-map" => {
            pico::run_w4_header_map(warm);
            pico::run_w4_header_map(n);
        }
        "w4-state" => {
            pico::run_w4_state(warm);
            pico::run_w4_state(n);
        }
        "w9"
        | "w9-extra"
        | "w9-registry"
        | "w9-otel"
        | "w9-otel-lean"
        | "w9-nested"
        | "w9-nested-extra"
        | "w9-nested-registry"
        | "w9-nested-otel"
        | "w9-nested-otel-lean" => {
            let s = match what.trim_start_matches("w9").trim_start_matches("-nested") {
                "" => w9::picotrace(false),
                "-extra" => w9::picotrace(true),
                "-otel" => w9::opentelemetry(true),
                "-otel-lean" => w9::opentelemetry(false),
                _ => w9::registry_only(),
            };
            let f = if what.contains("nested") {
                w9::nested
            } else {
                w9::span
            };
            w9::run(&s, warm, f);
            w9::run(&s, n, f);
        }
        // W8: picotrace's hand-over alone (for `perf record`), one plan of 3 repetitions.
        "w8" => {
            let plan = Plan {
                reps: 3,
                ..Plan::FULL
            };
            let (s, _) = pico_w8(&plan, n);
            eprintln!(
                "w8: median {:.1} ns/span (min {:.1}, max {:.1})",
                s.median, s.min, s.max
            );
        }
        // W7's default row alone (protobuf, one request in flight), `n` spans per
        // repetition, 5 repetitions: for `perf record` of the export path.
        "w7" => {
            let bin = picotrace_bench::collector::rotel_binary().expect("rotel collector");
            let collector = picotrace_bench::collector::Collector::start(&bin).expect("rotel");
            let setup = (
                picotrace_std::Protocol::HttpProtobuf,
                picotrace_std::Compression::None,
                1,
            );
            match pico::w7(&collector.endpoint, setup, n, 5, w7::BATCH) {
                Ok((s, note)) => eprintln!(
                    "w7: median {:.0} spans/s (min {:.0}, max {:.0}); {note}",
                    s.median, s.min, s.max
                ),
                Err(e) => eprintln!("w7: {e}"),
            }
        }
        "w5pb" => w5::profile(w5::Encoding::Protobuf, n),
        "w5json" => w5::profile(w5::Encoding::Json, n),
        other => eprintln!("unknown workload {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picotrace_bench::harness::Summary;

    fn at(workload: &str, library: &str, median: f64, unit: &'static str) -> Row {
        let summary = Summary {
            median,
            min: median,
            max: median,
        };
        Row {
            better: if unit == "spans/s" {
                Better::Higher
            } else {
                Better::Lower
            },
            ..row(workload, library, summary, unit)
        }
    }

    /// Every goal of issue 10 is listed, met or not (found by review: the W5 times
    /// and W7's rate were left out, both unmet).
    #[test]
    fn goals_list_the_encoder_and_export_goals_met_or_not() {
        let mut report = Report::default();
        let pico_pb = "picotrace (wire::otlp encode_request from the arena)";
        let peer = "opentelemetry-proto (group_spans_by_resource_and_scope + prost encode)";
        report.push(at("W5 protobuf", pico_pb, 129.0, "ns/span"));
        report.push(at("W5 protobuf", peer, 1677.0, "ns/span"));
        report.push(at("W5 JSON", pico_pb, 290.0, "ns/span"));
        report.push(at(
            "W5 JSON",
            "opentelemetry-proto (serde_json)",
            2356.0,
            "ns/span",
        ));
        let exporter = "picotrace (picotrace-std BatchExporter + OtlpHttpExporter";
        report.push(at(
            "W7",
            &format!("{exporter}, protobuf)"),
            642_328.0,
            "spans/s",
        ));
        report.push(at(
            "W7",
            &format!("{exporter}, protobuf, gzip)"),
            494_962.0,
            "spans/s",
        ));
        report.push(at(
            "W7",
            &format!("{exporter}, protobuf, 2 requests in flight)"),
            1_200_000.0,
            "spans/s",
        ));
        let goals = goals(&report);
        let line = |start: &str| {
            goals
                .lines()
                .find(|l| l.contains(start))
                .unwrap_or_else(|| panic!("no goal {start:?} in:\n{goals}"))
                .to_owned()
        };
        assert!(line("W5 protobuf <= 100 ns/span").starts_with("- [NOT MET]"));
        assert!(line("W5 protobuf <= 100 ns/span").ends_with(": 129 ns/span"));
        assert!(line("W5 JSON <= 300 ns/span").starts_with("- [MET    ]"));
        assert!(line("W5 JSON >= 5x").ends_with(": 8.1x"));
        assert!(line("W5 protobuf >= 10x").ends_with(": 13.0x"));
        // The one-request row, not the faster two-request one.
        let w7 = line("W7 >= 1M spans/s");
        assert!(w7.starts_with("- [NOT MET]"), "{w7}");
        assert!(
            w7.contains(": 642,328 spans/s (gzip: 494,962 spans/s)"),
            "{w7}"
        );
    }
}
