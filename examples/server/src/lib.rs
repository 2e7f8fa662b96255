//! Shared pieces of the example servers: header carriers for `tiny_http` requests and
//! command-line parsing. The programs themselves are in `src/bin/`.
#![forbid(unsafe_code)]

// Every Rust snippet of the README compiles (and the plain ones run) as a doctest of
// this crate, which has the servers' dependencies (axum, tokio, tracing).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

use picotrace::propagation::Extractor;

/// Reads W3C headers from a `tiny_http` request (names compared case-insensitively).
pub struct TinyHttpHeaders<'a>(pub &'a [tiny_http::Header]);

impl Extractor for TinyHttpHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for h in self
            .0
            .iter()
            .filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        {
            f(h.value.as_str());
        }
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.0.iter().for_each(|h| f(h.field.as_str().as_str()));
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        for h in self.0 {
            let name = h.field.as_str().as_str();
            let named = name.as_bytes().get(..prefix.len());
            if named.is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes())) {
                f(name, h.value.as_str());
            }
        }
    }
}

/// Returns when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM
/// (what a container runtime sends). The async servers shut down gracefully on it, then
/// shut the provider down, so that the spans waiting for the scheduled export leave
/// before the process does (found by review: a SIGTERM killed them with up to a
/// scheduled delay of spans unsent and uncounted).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How long requests in flight may take to finish once an async server is asked to
/// stop (`--grace-ms`, 10 s by default; a container runtime usually waits 30 s before
/// it kills).
///
/// # Errors
/// When the value is not a number of milliseconds.
pub fn grace_arg() -> Result<std::time::Duration, String> {
    arg("grace-ms", "10000")
        .parse()
        .map(std::time::Duration::from_millis)
        .map_err(|e| format!("--grace-ms: {e}"))
}

/// Writes a line to stderr, ignoring errors: `eprintln!` panics when stderr is closed
/// (`server 2>&-`, or a reader gone: `server 2>&1 | head -1`), which would take a
/// request, or the spans waiting for export, down with it (found by review).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Ends `main` with what `run` returned: success, or the error's message on stderr
/// (its `Display`; found by review: `main` returning the `Result` printed its `Debug`
/// form, `Error: SpansLost { lost: 4, running: 0 }`) and status 1.
pub fn exit_code(
    name: &str,
    run: Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match run {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            say!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `serve` (an axum server with a graceful shutdown that calls
/// `stopping.notify_one()` when it begins) until it returns, or until `grace` after it
/// began stopping, or a second Ctrl-C / SIGTERM: requests still in flight then are cut
/// off, and the provider's shutdown counts their spans as running (found by review: a
/// request that never finished, a downstream that never answered, held the graceful
/// shutdown, and the provider's, for good).
///
/// Returns whether every request finished.
///
/// # Errors
/// What `serve` returns.
pub async fn serve_within_grace<F>(
    serve: F,
    stopping: std::sync::Arc<tokio::sync::Notify>,
    grace: std::time::Duration,
    name: &str,
) -> std::io::Result<bool>
where
    F: std::future::IntoFuture<Output = std::io::Result<()>>,
{
    let cut_off = async {
        stopping.notified().await;
        tokio::select! {
            () = tokio::time::sleep(grace) => {}
            () = stop_signal() => {}
        }
    };
    tokio::select! {
        result = serve.into_future() => result.map(|()| true),
        () = cut_off => {
            say!("{name}: requests still in flight after {grace:?}: stopping without them");
            Ok(false)
        }
    }
}

/// Shuts `provider` down once [`serve_within_grace`] has returned. When requests were
/// cut off, the process exits right after (status 1 if spans were lost or still
/// running): their tasks, a blocking call among them, would otherwise hold up the
/// runtime's drop at the end of `main` (found by review: up to a call's timeout).
///
/// # Errors
/// The shutdown's error, as its message.
pub fn shut_down(
    provider: &picotrace_std::TracerProvider,
    finished: bool,
    name: &str,
) -> Result<(), String> {
    // A signal while the provider exports what is left (up to the export timeout, for
    // a collector that does not answer) stops the process at once, as one during the
    // grace period does (found by review: tokio's handlers kept the signal, and nothing
    // listened). The runtime's other workers run this while `shutdown` blocks here.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let name = name.to_owned();
        runtime.spawn(async move {
            stop_signal().await;
            say!("{name}: stopped again: not waiting for the export");
            std::process::exit(130);
        });
    }
    let result = provider.shutdown().map_err(|e| e.to_string());
    if !finished {
        if let Err(e) = &result {
            say!("{name}: {e}");
        }
        std::process::exit(i32::from(result.is_err()));
    }
    result
}

/// Makes a `tiny_http` server's `incoming_requests` end when the process is asked to
/// stop (Ctrl-C or, on Unix, SIGTERM), so that the serving loop returns and the program
/// shuts its provider down (found by review: the gateway and downstream examples died
/// on SIGTERM with up to a scheduled delay of spans unsent and uncounted). The signal
/// handlers are in place when this returns; a thread waits for them.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn unblock_on_stop_signal(
    server: std::sync::Arc<tiny_http::Server>,
    name: &'static str,
) -> std::io::Result<()> {
    on_stop_signal(name, move || server.unblock())
}

/// Runs `stop` once on Ctrl-C or SIGTERM, on a thread that waits for them; the signal
/// handlers are in place when this returns. `name` goes in the line printed to stderr
/// then (a closed stderr is ignored).
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn on_stop_signal(
    name: &'static str,
    stop: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    let (mut term, mut interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _entered = runtime.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    std::thread::spawn(move || {
        let mut wait = || {
            #[cfg(unix)]
            runtime.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
            #[cfg(not(unix))]
            runtime.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        };
        use std::io::Write as _;
        wait();
        let _ = writeln!(
            std::io::stderr(),
            "{name}: stopping (again to stop at once)"
        );
        stop();
        // A second signal ends the process at once (found by review: the handler,
        // still installed, swallowed it while a slow stop ran).
        wait();
        let _ = writeln!(std::io::stderr(), "{name}: stopped at once");
        std::process::exit(130);
    });
    Ok(())
}

/// The `--requests` argument: how many requests to serve, 0 (the default) for ever. The
/// error names the flag (found by review: a bare `ParseIntError` did not).
///
/// # Errors
/// When the value is not a number.
pub fn requests_arg() -> Result<usize, String> {
    arg("requests", "0")
        .parse()
        .map_err(|e| format!("--requests: {e}"))
}

/// The message for a port that cannot be bound: it names the address (found by review:
/// the OS error alone did not).
pub fn cannot_listen(port: &str, e: impl std::fmt::Display) -> String {
    format!("cannot listen on 127.0.0.1:{port}: {e}")
}

/// A `tiny_http` server on `127.0.0.1:port` whose request loop ends on Ctrl-C or
/// SIGTERM ([`unblock_on_stop_signal`]), so that the program goes on to shut its
/// provider down.
///
/// # Errors
/// When the port cannot be bound, or the signal handlers installed.
pub fn tiny_http_server(
    port: &str,
    name: &'static str,
) -> Result<std::sync::Arc<tiny_http::Server>, Box<dyn std::error::Error>> {
    let server = std::sync::Arc::new(
        tiny_http::Server::http(format!("127.0.0.1:{port}")).map_err(|e| cannot_listen(port, e))?,
    );
    unblock_on_stop_signal(std::sync::Arc::clone(&server), name)?;
    Ok(server)
}

/// Checks the command line: `--name value` pairs of the `known` names only (found by
/// review: a misspelt flag, `--requests=1`, or a flag without its value fell back to
/// the default without a word, and a server meant to serve one request ran for ever).
///
/// # Errors
/// What is wrong, with the names known.
pub fn check_args(known: &[&str]) -> Result<(), String> {
    check_args_of(std::env::args().skip(1), known)
}

fn check_args_of(mut args: impl Iterator<Item = String>, known: &[&str]) -> Result<(), String> {
    let flags = || {
        known
            .iter()
            .map(|k| format!("--{k} VALUE"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    while let Some(flag) = args.next() {
        let name = flag.strip_prefix("--").unwrap_or_default();
        if !known.contains(&name) {
            return Err(format!("unknown argument {flag:?} (known: {})", flags()));
        }
        if args.next().is_none() {
            return Err(format!("{flag} needs a value"));
        }
    }
    Ok(())
}

/// Returns the value after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let flag = format!("--{name}");
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// `url` as the HTTP conventions want it in `url.full`: credentials (`user:pass@`)
/// replaced by `REDACTED:REDACTED`, signed-URL secrets (`sig=`) by `REDACTED`
/// (`picotrace_std::http_client::redact_url_full`); `None` (not recorded) for text
/// that may hold credentials it cannot find the end of. Found by review: this
/// example's own version left a password holding `?` in place, and `sig=` values.
pub fn url_without_credentials(url: &str) -> Option<std::borrow::Cow<'_, str>> {
    picotrace_std::http_client::redact_url_full(url)
}

/// The path and query of a request target: an absolute-form target
/// (`http://host/path?query`, which servers must accept, RFC 9112 § 3.2.2) without its
/// scheme and authority (found by review: it was a 404, its `url.path` the whole URL).
pub fn origin_form(target: &str) -> &str {
    let Some((scheme, rest)) = target.split_once("://") else {
        return target;
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return target;
    }
    rest.find(['/', '?']).map_or("/", |at| &rest[at..])
}

/// Records what the HTTP conventions ask of a server span for a request
/// [`only_get`] passed on: `http.request.method` (`method`, and the method sent as
/// `http.request.method_original` when that is `_OTHER`), `url.scheme`, `url.path`
/// and `http.route` (`route`), and `url.query` when the request has one, its secrets
/// redacted (found by review: neither the query nor an `_OTHER` method's original
/// was recorded).
pub fn record_request(
    span: &mut picotrace_std::StdSpan,
    request: &tiny_http::Request,
    route: &'static str,
    method: &'static str,
) {
    use picotrace::semconv;
    span.set_attribute(semconv::HTTP_REQUEST_METHOD, method);
    if method == "_OTHER" {
        span.set_attribute_dyn("http.request.method_original", request.method().as_str());
    }
    span.set_attribute(semconv::URL_PATH, route);
    span.set_attribute(semconv::HTTP_ROUTE, route);
    span.set_attribute("url.scheme", "http");
    if let Some((_, query)) = origin_form(request.url()).split_once('?') {
        span.set_attribute_dyn("url.query", picotrace_std::redact_query(query).as_ref());
    }
}

/// Passes on a `GET` or `HEAD` of one of `routes` (what the `tiny_http` examples
/// serve), with the route, the method's `http.request.method` and the name it gives
/// spans (`_OTHER` and `HTTP` when [`known_http_methods`] leaves it out: the list
/// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` sets) (a general-purpose server answers
/// `HEAD` wherever it answers `GET`, RFC 9110 § 9.1; `tiny_http` sends no body then), and
/// answers anything else itself, in a server span of its own under the caller's
/// context: 404 for another path, 405 (with `Allow: GET, HEAD`) for another method on
/// a route (found by review: every request was recorded as `GET {route}`, whatever
/// its method and path). Such a span is named `{method} {route}` on a route, else by
/// its method alone (`HTTP` for one the conventions do not name), as the HTTP
/// conventions name a span without a route.
///
/// [`known_http_methods`]: picotrace_std::known_http_methods
pub fn only_get(
    provider: &picotrace_std::TracerProvider,
    request: tiny_http::Request,
    routes: &[&'static str],
) -> Option<(tiny_http::Request, &'static str, &'static str, &'static str)> {
    use picotrace::semconv;
    let path = origin_form(request.url())
        .split('?')
        .next()
        .unwrap_or_default();
    let method = request.method().as_str();
    let route = routes.iter().copied().find(|r| *r == path);
    let known = picotrace_std::known_http_methods()
        .iter()
        .copied()
        .find(|m| *m == method);
    if let (Some(route), "GET" | "HEAD") = (route, method) {
        return Some((
            request,
            route,
            known.unwrap_or("_OTHER"),
            known.unwrap_or("HTTP"),
        ));
    }
    let incoming = provider.extract_context(&TinyHttpHeaders(request.headers()));
    // `{method} {route}` on a route, `{method}` elsewhere (the HTTP conventions).
    let name = match route {
        Some(route) => format!("{} {route}", known.unwrap_or("HTTP")),
        None => known.unwrap_or("HTTP").to_owned(),
    };
    let mut span = provider.tracer().start_server_span(&name, &incoming);
    span.set_attribute(semconv::HTTP_REQUEST_METHOD, known.unwrap_or("_OTHER"));
    if known.is_none() {
        span.set_attribute_dyn("http.request.method_original", method);
    }
    span.set_attribute_dyn(semconv::URL_PATH, path);
    span.set_attribute("url.scheme", "http");
    // Its query too, redacted, as `record_request` records it (found by review: left out).
    if let Some((_, query)) = origin_form(request.url()).split_once('?') {
        span.set_attribute_dyn("url.query", picotrace_std::redact_query(query).as_ref());
    }
    if let Some(route) = route {
        span.set_attribute(semconv::HTTP_ROUTE, route);
    }
    let status: u16 = if route.is_some() { 405 } else { 404 };
    // A 4xx is the client's error: the server span's status stays unset.
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status);
    span.end();
    let mut response = tiny_http::Response::from_string("").with_status_code(status);
    if route.is_some() {
        if let Ok(allow) = tiny_http::Header::from_bytes("Allow", "GET, HEAD") {
            response.add_header(allow);
        }
    }
    if let Err(e) = request.respond(response) {
        say!("could not answer (client gone?): {e}");
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn absolute_form_targets_lose_their_scheme_and_authority() {
        for (target, origin) in [
            ("/search?q=1", "/search?q=1"),
            ("http://127.0.0.1:8080/search?q=1", "/search?q=1"),
            ("HTTPS://h/rank", "/rank"),
            ("http://h", "/"),
            ("http://h?q=1", "?q=1"),
            ("h:443", "h:443"),
            ("/x?u=http://h/y", "/x?u=http://h/y"),
        ] {
            assert_eq!(super::origin_form(target), origin, "{target}");
        }
    }

    use super::url_without_credentials;

    #[test]
    fn only_known_flags_with_values_are_taken() {
        let check = |args: &[&str]| {
            super::check_args_of(args.iter().map(|a| (*a).to_owned()), &["port", "requests"])
        };
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&["--port", "0", "--requests", "1"]), Ok(()));
        for bad in [
            &["--reqests", "1"][..],
            &["--requests=1"],
            &["--requests"],
            &["port", "0"],
            &["--port", "0", "extra"],
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credentials_are_not_recorded_in_url_full() {
        for (url, full) in [
            ("http://ranker:8081/rank", "http://ranker:8081/rank"),
            (
                "https://svc:s3cret@ranker/rank?q=a@b",
                "https://REDACTED:REDACTED@ranker/rank?q=a@b",
            ),
            ("http://user@ranker", "http://REDACTED:REDACTED@ranker"),
            ("not a url", "not a url"),
            // Regressions (found by review): a password holding `?`, a signed URL.
            ("https://svc:p?ss@ranker/rank", ""),
            ("http://h/x?sig=s", "http://h/x?sig=REDACTED"),
        ] {
            let recorded = url_without_credentials(url);
            assert_eq!(recorded.as_deref().unwrap_or(""), full, "{url}");
        }
    }
}
