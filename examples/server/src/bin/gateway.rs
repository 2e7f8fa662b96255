//! The gateway of the two-service example: `GET /search` starts (or continues) a trace,
//! calls the downstream service over HTTP with the context in `traceparent`,
//! `tracestate` and `baggage`, and answers.
//!
//! Input never stops it: an incoming `baggage` with no room left for `tenant.name`
//! (64 members or 8192 bytes) is forwarded without it, and the skip is logged and
//! counted; a client that hangs up before the answer is logged.
//!
//! ```sh
//! OTEL_SERVICE_NAME=gateway cargo run -p picotrace-examples --bin gateway -- \
//!     --port 8080 --downstream http://127.0.0.1:8081 --requests 1
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;

use picotrace::{semconv, Baggage};
use picotrace_examples::{arg, TinyHttpHeaders};
use picotrace_std::HashMapInjector;

fn main() -> std::process::ExitCode {
    picotrace_examples::exit_code("gateway", run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    picotrace_examples::check_args(&["port", "requests", "downstream"])?;
    let provider = picotrace_std::init_from_env()?;
    let port = arg("port", "8080");
    let downstream = arg("downstream", "http://127.0.0.1:8081");
    let requests = picotrace_examples::requests_arg()?; // 0: serve forever
                                                        // Ctrl-C or SIGTERM ends the loop below: the provider is shut down, its spans sent.
    let server = picotrace_examples::tiny_http_server(&port, "gateway")?;
    // The address bound: `--port 0` picks a free port (found by review: it printed 0).
    // Without the credentials the URL may hold (found by review: printed as given,
    // where `url.full` below redacts them).
    picotrace_examples::say!(
        "gateway listening on {}, calling {}",
        server.server_addr(),
        picotrace_examples::url_without_credentials(&downstream).unwrap_or("(a URL)".into())
    );
    // A 4xx or 5xx answer is a response to record, not an `Err`; and a bound on the
    // wait (ureq sets none: found by review, a downstream that never answered held
    // this one-request-at-a-time gateway for ever).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    // Requests whose baggage had no room for `tenant.name`.
    let mut baggage_skipped = 0u64;
    for (n, request) in server.incoming_requests().enumerate() {
        // `/rank` too: a gateway can stand where a downstream does (a chain of them).
        let routes = ["/search", "/rank"];
        let Some((request, route, method, name)) =
            picotrace_examples::only_get(provider, request, &routes)
        else {
            if requests != 0 && n + 1 >= requests {
                break;
            }
            continue;
        };
        let tracer = provider.tracer();
        let headers = TinyHttpHeaders(request.headers());
        // Only what OTEL_PROPAGATORS names is read here and sent below.
        let incoming = provider.extract_context(&headers);
        let mut baggage: Baggage = provider.extract_baggage(&headers);
        let mut span = tracer.start_server_span(&format!("{name} {route}"), &incoming);
        picotrace_examples::record_request(&mut span, &request, route, method);
        if baggage.get("tenant.name").is_none() {
            if let Err(e) = baggage.insert("tenant.name", "acme") {
                // The caller's baggage is full: forward it as it came.
                baggage_skipped += 1;
                span.set_attribute("baggage.tenant_skipped", true);
                picotrace_examples::say!(
                    "gateway: tenant.name not added to baggage ({baggage_skipped} so far): {e}"
                );
            }
        }

        let mut call = tracer.start_client_span("GET /rank", &span);
        let url = format!("{downstream}/rank");
        // The HTTP client span's attributes (semantic conventions, HTTP client spans).
        call.set_attribute(semconv::HTTP_REQUEST_METHOD, "GET");
        // Credentials the `--downstream` URL may hold are not recorded.
        if let Some(full) = picotrace_examples::url_without_credentials(&url) {
            call.set_attribute_dyn(semconv::URL_FULL, full);
        }
        if let Ok(uri) = url.parse::<ureq::http::Uri>() {
            if let Some(host) = uri.host() {
                call.set_attribute_dyn(semconv::SERVER_ADDRESS, host);
            }
            let default_port = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            call.set_attribute(
                semconv::SERVER_PORT,
                i64::from(uri.port_u16().unwrap_or(default_port)),
            );
        }
        let mut outgoing = HashMap::new();
        provider.inject_context(&call, &mut HashMapInjector(&mut outgoing));
        provider.inject_baggage(&baggage, &mut HashMapInjector(&mut outgoing));
        let mut req = agent.get(&url);
        for (name, value) in &outgoing {
            req = req.header(name, value);
        }
        let ranked = match req.call() {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                call.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, code);
                if code >= 400 {
                    // A client span is an error for any 4xx or 5xx, its status code
                    // the `error.type` (and no description: the code says it).
                    call.set_attribute_dyn(semconv::ERROR_TYPE, code.to_string().as_str());
                    call.set_error("");
                    false
                } else {
                    // A body that cannot be read fails the call as a lost connection
                    // does (found by review: it was read as an empty success, 200).
                    match resp.body_mut().read_to_string() {
                        Ok(body) => {
                            span.add_event_with_attributes(
                                "ranked",
                                &[picotrace::KeyValue::new("body.len", body.len() as u32)],
                            );
                            true
                        }
                        Err(e) => {
                            call.set_attribute(semconv::ERROR_TYPE, error_type(&e));
                            call.record_error(&e);
                            call.set_error("downstream body unreadable");
                            false
                        }
                    }
                }
            }
            Err(e) => {
                call.set_attribute(semconv::ERROR_TYPE, error_type(&e));
                call.record_error(&e);
                call.set_error("downstream call failed");
                false
            }
        };
        call.end();
        let status: u16 = if ranked { 200 } else { 502 };
        span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status);
        if !ranked {
            // A 5xx this server answers makes its server span an error (semantic
            // conventions, HTTP server spans), its status code the `error.type`.
            span.set_attribute(semconv::ERROR_TYPE, "502");
            span.set_error("downstream call failed");
        }
        let trace_id = span.context().trace_id;
        span.end();
        let response = tiny_http::Response::from_string(format!("trace {trace_id}\n"))
            .with_status_code(status);
        if let Err(e) = request.respond(response) {
            picotrace_examples::say!("gateway: could not answer (client gone?): {e}");
        }
        if requests != 0 && n + 1 >= requests {
            break;
        }
    }
    // Its message, not its `Debug` form, if spans were lost or still running.
    provider.shutdown().map_err(|e| e.to_string())?;
    Ok(())
}

/// A low-cardinality `error.type` for a call that got no answer.
fn error_type(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::HostNotFound => "host_not_found",
        ureq::Error::ConnectionFailed => "connection_failed",
        ureq::Error::Io(_) => "io",
        _ => "_OTHER",
    }
}
