//! The quick start: a request span, an outgoing call and a database span, traced.
//!
//! Prints the trace to the console by default. With `OTEL_EXPORTER_OTLP_ENDPOINT` set
//! (for example `http://localhost:4318`), exports it over OTLP/HTTP instead; every other
//! `OTEL_*` variable works as the OpenTelemetry specification says.
//!
//! ```sh
//! cargo run -p picotrace-examples --bin quickstart
//! ```
#![forbid(unsafe_code)]

use picotrace::{semconv, Baggage};
use picotrace_std::env::TracesExporter;
use std::collections::HashMap;

use picotrace_std::{ConsoleExporter, EnvConfig, HashMapCarrier, HashMapInjector, SharedExporter};

fn main() -> std::process::ExitCode {
    picotrace_examples::exit_code("quickstart", run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut env = EnvConfig::from_env();
    for warning in &env.warnings {
        warn(format_args!("{warning}"));
    }
    // Set and not empty: an empty variable counts as unset (the OpenTelemetry
    // specification, and `EnvConfig`).
    let set =
        |name: &str| std::env::var_os(name).is_some_and(|v| !v.to_string_lossy().trim().is_empty());
    // The example's own name only when none was given (`OTEL_SERVICE_NAME`, or
    // `service.name` in `OTEL_RESOURCE_ATTRIBUTES`).
    if env.service_name.starts_with("unknown_service") {
        env.service_name = "gateway-service".into();
    }
    let otlp = set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if !otlp && !set("OTEL_TRACES_EXPORTER") {
        // No collector configured: the console.
        env.exporter = TracesExporter::Console;
    }
    if env.exporter == TracesExporter::Otlp && !env.disabled {
        // Shown without credentials or query (found by review: a password and an API
        // key went to stdout).
        say(format_args!(
            "exporting to {} ({:?})",
            env.otlp.shown_url(),
            env.otlp.protocol
        ));
    }
    // Every `OTEL_*` setting, the `OTEL_BSP_*` schedule too (found by review: the
    // builder here left it out for the console); the console shows the trace as a tree
    // with a duration waterfall, whether it was chosen or is the default (it printed
    // one line per span when `OTEL_TRACES_EXPORTER=console` was set).
    let mut builder = env.provider_builder()?;
    if env.exporter == TracesExporter::Console && !env.disabled {
        // A tree is drawn per export: in batches of `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`
        // (512 unless set), not one span at a time as the console's default prints
        // lines (found in this session: every span was a tree of its own, not the
        // trace the README shows).
        let config = env
            .tracer_config()
            .with_export_batch_size(env.batch.max_export_batch_size);
        builder = builder
            .config(config)
            .exporter(SharedExporter::new(ConsoleExporter::tree()));
    }
    let provider = builder.install();
    let tracer = provider.tracer();

    // Start a root span: the server span of a request, named as OpenTelemetry's HTTP
    // conventions name it (`{method} {route}`).
    let mut span = tracer.start_server_span("POST /api/search", None);
    span.set_attribute(semconv::HTTP_REQUEST_METHOD, "POST");
    span.set_attribute(semconv::HTTP_ROUTE, "/api/search");
    span.set_attribute(semconv::URL_PATH, "/api/search");
    span.set_attribute("url.scheme", "http");

    // A child span.
    let mut db = span.child("query_database");
    db.set_attribute(semconv::DB_SYSTEM_NAME, "postgresql");
    db.set_attribute(semconv::DB_QUERY_TEXT, "SELECT * FROM users");
    std::thread::sleep(std::time::Duration::from_millis(3));
    db.set_ok();
    db.end();

    // Propagate to a downstream call: inject headers, then (as the downstream service
    // would) extract them and continue the trace.
    let mut call = tracer.start_client_span("POST /rank", &span);
    call.set_attribute(semconv::HTTP_REQUEST_METHOD, "POST");
    let mut headers = HashMap::new();
    provider.inject_context(&call, &mut HashMapInjector(&mut headers));
    let mut baggage: Baggage = Baggage::new();
    baggage.insert("tenant.name", "acme")?;
    provider.inject_baggage(&baggage, &mut HashMapInjector(&mut headers));
    let mut names: Vec<_> = headers.iter().collect();
    names.sort();
    for (name, value) in names {
        say(format_args!("outgoing {name}: {value}"));
    }
    let incoming = provider.extract_context(&HashMapCarrier(&headers));
    let mut downstream = tracer.start_server_span("POST /rank", &incoming);
    downstream.set_attribute(semconv::HTTP_REQUEST_METHOD, "POST");
    downstream.set_attribute(semconv::HTTP_ROUTE, "/rank");
    downstream.set_attribute(semconv::URL_PATH, "/rank");
    downstream.set_attribute("url.scheme", "http");
    downstream.add_event("cache_miss");
    std::thread::sleep(std::time::Duration::from_millis(2));
    downstream.record_exception_with_type("TimeoutError", "ranker did not answer in 2 ms");
    // It answers 504: a 5xx makes a server span an error, its code the `error.type`.
    downstream.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 504);
    downstream.set_attribute(semconv::ERROR_TYPE, "504");
    downstream.set_error("ranker timeout");
    downstream.end();
    // The caller gets the 504: a client span is an error on a 4xx or 5xx, with no
    // description (the status code says it). The request answers 200 without ranking.
    call.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 504);
    call.set_attribute(semconv::ERROR_TYPE, "504");
    call.set_error("");
    call.end();

    // A 2xx leaves a server span's status unset (the HTTP conventions: only the
    // application, not the instrumentation, may call a request Ok).
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 200);
    span.end();

    // The counts first, then the error: they matter most when spans were lost (found
    // by review: the error returned before they were printed).
    let shutdown = provider.shutdown();
    let stats = provider.stats();
    say(format_args!(
        "spans started {}, exported {}, lost {}",
        stats.spans_started,
        stats.spans_exported,
        stats.spans_lost()
    ));
    if stats.spans_lost() > 0 {
        warn(format_args!(
            "quickstart: {} spans lost",
            stats.spans_lost()
        ));
    }
    shutdown?;
    Ok(())
}

/// Prints a line on stdout. A closed stdout (`quickstart | head -n1`) is no panic
/// (found by review: `println!` panicked, and the counts were never shown): the console
/// exporter counts its spans lost, and the loss is said on stderr.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Prints a line on stderr, ignoring a closed stderr.
fn warn(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
