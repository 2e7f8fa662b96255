//! The downstream service of the two-service example: `GET /rank` continues the trace
//! the gateway propagated (traceparent, tracestate, baggage) and answers.
//!
//! ```sh
//! OTEL_SERVICE_NAME=ranker cargo run -p picotrace-examples --bin downstream -- --port 8081 --requests 1
//! ```
#![forbid(unsafe_code)]

use picotrace::{semconv, Baggage};
use picotrace_examples::{arg, TinyHttpHeaders};

fn main() -> std::process::ExitCode {
    picotrace_examples::exit_code("downstream", run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    picotrace_examples::check_args(&["port", "requests"])?;
    let provider = picotrace_std::init_from_env()?;
    let port = arg("port", "8081");
    let requests = picotrace_examples::requests_arg()?; // 0: serve forever
                                                        // Ctrl-C or SIGTERM ends the loop below: the provider is shut down, its spans sent.
    let server = picotrace_examples::tiny_http_server(&port, "downstream")?;
    // The address bound: `--port 0` picks a free port (found by review: it printed 0).
    picotrace_examples::say!("downstream listening on {}", server.server_addr());
    for (n, request) in server.incoming_requests().enumerate() {
        let Some((request, route, method, name)) =
            picotrace_examples::only_get(provider, request, &["/rank"])
        else {
            if requests != 0 && n + 1 >= requests {
                break;
            }
            continue;
        };
        let tracer = provider.tracer();
        let headers = TinyHttpHeaders(request.headers());
        let incoming = provider.extract_context(&headers);
        let baggage: Baggage = provider.extract_baggage(&headers);
        let mut span = tracer.start_server_span(&format!("{name} {route}"), &incoming);
        picotrace_examples::record_request(&mut span, &request, route, method);
        // Decoded whole, however long (found by review: decoded into a 64-byte buffer,
        // a longer name was left out, silently).
        if let Some(tenant) = baggage.get("tenant.name") {
            span.set_attribute_dyn("tenant.name", tenant.decoded_value().to_string());
        }
        let mut score = span.child("score_results");
        score.set_attribute("results.count", 3);
        score.set_ok();
        score.end();
        // A 2xx leaves a server span's status unset (the HTTP conventions).
        span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 200);
        span.end();
        if let Err(e) = request.respond(tiny_http::Response::from_string("[3,1,2]")) {
            picotrace_examples::say!("downstream: could not answer (client gone?): {e}");
        }
        if requests != 0 && n + 1 >= requests {
            break;
        }
    }
    // Its message, not its `Debug` form, if spans were lost or still running.
    provider.shutdown().map_err(|e| e.to_string())?;
    Ok(())
}
