//! The axum example end to end: a request with a `traceparent` and a `baggage` reaches
//! `GET /checkout` on a multi-thread tokio runtime, whose server span is held across
//! `.await`s and an outgoing HTTP call made by code that reads the current context and
//! baggage; all spans reach a real collector with the right parents, the server span
//! covers the client span in time, and the baggage crossed both hops.

use picotrace_tests::collector::Collector;
use picotrace_tests::{checkout_trace, serve_one_request_with};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

#[test]
fn server_span_held_across_await_and_an_outgoing_call_reaches_the_collector() {
    let collector = Collector::start();
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let (response, spans) = serve_one_request_with(
        env!("CARGO_BIN_EXE_axum_server"),
        &collector,
        "/checkout",
        &[
            ("traceparent", &traceparent),
            ("baggage", "tenant=acme%20corp"),
        ],
        TRACE_ID,
        4,
    );
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");
    let trace = checkout_trace(&spans, CALLER);
    // A 2xx server span is left Unset (the HTTP conventions; it was set Ok).
    assert_eq!(trace.checkout.status_code, "", "{:#?}", trace.checkout);
    let status = (
        "http.response.status_code".to_string(),
        "Int(200)".to_string(),
    );
    assert!(
        trace.checkout.attributes.contains(&status),
        "{:?}",
        trace.checkout
    );
    // The caller's baggage was current in the handler, and went out with the call.
    // Decoded (found by review: the percent-encoded wire form was recorded).
    let tenant = ("shop.tenant".to_string(), "Str(acme corp)".to_string());
    assert!(trace.call.attributes.contains(&tenant), "{:?}", trace.call);
    assert!(
        trace.inventory.attributes.contains(&tenant),
        "{:?}",
        trace.inventory
    );
}

/// Regression (found by review): stopped by SIGTERM (a container restart), the server
/// died without shutting the provider down, and the spans waiting for the scheduled
/// export (5 s by default) were lost uncounted. It stops gracefully now: the provider
/// is shut down and every span reaches the collector.
#[cfg(unix)]
#[test]
fn sigterm_shuts_down_and_exports_what_is_queued() {
    use std::process::Command;
    use std::time::Duration;
    let collector = Collector::start();
    let mut server = picotrace_tests::Server::start(
        picotrace_tests::server_command(env!("CARGO_BIN_EXE_axum_server"), &collector)
            .args(["--requests", "0"])
            // Longer than the test waits: only the shutdown can export the spans.
            .env("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    );
    let port = server.port;
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let response = picotrace_tests::http_get(port, "/checkout", &[("traceparent", &traceparent)]);
    assert!(response.contains("checkout ok"), "{response}");
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = server.wait_exit(Duration::from_secs(20), "axum_server after SIGTERM");
    assert!(status.success(), "{status}: {}", server.stderr());
    let spans = collector.wait_for(Duration::from_secs(5), |s| {
        s.iter().filter(|s| s.trace_id == TRACE_ID).count() >= 4
    });
    let ours = spans.iter().filter(|s| s.trace_id == TRACE_ID).count();
    assert_eq!(ours, 4, "{spans:#?}");
}

/// Many checkouts at once on the multi-thread runtime: each request's four spans stay
/// in its own trace with its own parents, whichever worker threads polled the handlers
/// (the context and baggage current in a handler's future are that request's).
#[test]
fn concurrent_requests_keep_their_own_traces() {
    use std::time::Duration;
    const REQUESTS: usize = 24;
    let collector = Collector::start();
    let mut server = picotrace_tests::Server::start(
        picotrace_tests::server_command(env!("CARGO_BIN_EXE_axum_server"), &collector)
            .args(["--requests", &REQUESTS.to_string()]),
    );
    let port = server.port;
    let callers: Vec<(String, String)> = (1..=REQUESTS)
        .map(|i| {
            (
                format!("{:032x}", 0x00c0_ffee_0000 + i),
                format!("{:016x}", 0xbeef_0000 + i),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for (trace, caller) in &callers {
            scope.spawn(move || {
                let traceparent = format!("00-{trace}-{caller}-01");
                let response =
                    picotrace_tests::http_get(port, "/checkout", &[("traceparent", &traceparent)]);
                assert!(response.contains("checkout ok"), "{response}");
            });
        }
    });
    let status = server.wait_exit(Duration::from_secs(30), "axum_server");
    assert!(status.success(), "shutdown lost spans: {status}");
    let spans = collector.wait_for(Duration::from_secs(10), |spans| {
        callers
            .iter()
            .all(|(trace, _)| spans.iter().filter(|s| s.trace_id == *trace).count() >= 4)
    });
    for (trace, caller) in &callers {
        let mine: Vec<_> = spans
            .iter()
            .filter(|s| s.trace_id == *trace)
            .cloned()
            .collect();
        // Exactly its four, parented as one request's (`checkout_trace` checks).
        checkout_trace(&mine, caller);
    }
}

/// Regression (found by review): a request whose downstream never answers held the
/// graceful shutdown for good (reqwest sets no timeout, axum waits for every request
/// in flight), so a SIGTERM never got the provider shut down. The server now cuts such
/// requests off `--grace-ms` after the signal, shuts the provider down and exits,
/// saying the spans still running were lost.
#[cfg(unix)]
#[test]
fn sigterm_cuts_off_a_request_that_does_not_finish() {
    picotrace_tests::sigterm_cuts_off_a_hung_request(env!("CARGO_BIN_EXE_axum_server"));
}

/// Regression (found by review): a signal while the provider waited for its export (a
/// collector that does not answer) did nothing until the export timed out.
#[cfg(unix)]
#[test]
fn a_second_signal_stops_a_slow_shutdown() {
    picotrace_tests::a_second_signal_stops_a_slow_shutdown(env!("CARGO_BIN_EXE_axum_server"));
}

/// Regression (found by review): axum's `get` serves `HEAD` too, and the example
/// recorded a `HEAD /checkout` as `GET /checkout` (console export, read back).
#[test]
fn a_head_request_is_recorded_as_head() {
    let checkout = picotrace_tests::head_checkout_span(env!("CARGO_BIN_EXE_axum_server"));
    assert!(
        checkout.contains("http.request.method=\"HEAD\""),
        "{checkout}"
    );
    // Its query, redacted (found by review: `url.query` was left out).
    assert!(
        checkout.contains("url.query=\"q=1&sig=REDACTED\""),
        "{checkout}"
    );
}

/// Regression (found by review): an `--inventory` that is no URL was taken, and every
/// checkout then answered 502 with no client span and nothing said. It is refused at
/// start.
#[test]
fn a_bad_inventory_url_is_refused_at_start() {
    use std::io::Read as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_axum_server"))
        .args(["--port", "0", "--inventory", "not a url"])
        .env("OTEL_TRACES_EXPORTER", "none")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run axum_server");
    // Bounded: a server that took the URL would serve for ever (killed, and failed).
    let status = picotrace_tests::wait_exit(
        &mut child,
        std::time::Duration::from_secs(20),
        "axum_server with a bad --inventory",
    );
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--inventory not a url: not a URL"),
        "{stderr}"
    );
}

/// Regression (found by review): a client that hung up while its checkout waited made
/// hyper drop the handler, and the server span ended Unset (a success) over a
/// cancelled client call; it is an Error `cancelled` now, as `ServerLayer` records it.
#[test]
fn a_checkout_the_client_hangs_up_on_is_cancelled() {
    use std::io::Write as _;
    use std::time::Duration;
    let collector = Collector::start();
    let (silent_addr, call_made, _holder) = picotrace_tests::silent_downstream();
    let mut server = picotrace_tests::Server::start(
        picotrace_tests::server_command(env!("CARGO_BIN_EXE_axum_server"), &collector)
            .args(["--requests", "0", "--grace-ms", "300"])
            .args(["--inventory", &format!("http://{silent_addr}")]),
    );
    let mut client = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    client
        .write_all(b"GET /checkout HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    call_made
        .recv_timeout(Duration::from_secs(20))
        .expect("the checkout called the silent downstream");
    // The client hangs up while the checkout waits.
    client.shutdown(std::net::Shutdown::Both).unwrap();
    drop(client);
    let spans = collector.wait_for(Duration::from_secs(15), |spans| {
        spans.iter().any(|s| s.name == "GET /checkout")
    });
    let checkout = spans
        .iter()
        .find(|s| s.name == "GET /checkout")
        .unwrap_or_else(|| panic!("no checkout span: {spans:#?}\n{}", server.stderr()));
    assert_eq!(checkout.status_code, "STATUS_CODE_ERROR", "{checkout:#?}");
    assert!(
        checkout
            .attributes
            .contains(&("error.type".into(), "Str(cancelled)".into())),
        "{checkout:#?}"
    );
    let _ = server.child.kill();
}
