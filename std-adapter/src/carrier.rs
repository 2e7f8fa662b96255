//! Header carriers for std types: `HashMap<String, String>` and `http::HeaderMap`, and
//! environment variables ([`EnvCarrier`], [`CommandInjector`]) for processes a traced
//! one starts.
//!
//! The [`Extractor`] and [`Injector`] traits live in `picotrace` and the map types in
//! std and `http`, so the orphan rule forbids implementing one for the other here;
//! these thin wrappers do it instead. Lookups are ASCII case-insensitive, names are
//! written in lowercase, and every value of a repeated header is reported in order
//! (several `tracestate` fields combine into one list).
//!
//! ```
//! use std::collections::HashMap;
//! use picotrace::TraceContext;
//! use picotrace_std::{HashMapCarrier, HashMapInjector};
//! let mut incoming = HashMap::new();
//! incoming.insert(
//!     "TraceParent".to_string(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
//! );
//! let cx = TraceContext::from_headers(&HashMapCarrier(&incoming))?;
//! assert!(cx.is_sampled());
//!
//! let mut outgoing = HashMap::new();
//! cx.to_headers(&mut HashMapInjector(&mut outgoing));
//! assert!(outgoing["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! # Ok::<(), picotrace::ExtractError>(())
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use http::{HeaderMap, HeaderName, HeaderValue};
use picotrace::{Extractor, Injector};

/// Reads headers from a `HashMap<String, String>`, names compared case-insensitively;
/// any hasher (a server's `ahash` or `FxHash` map as well as std's).
#[derive(Debug)]
pub struct HashMapCarrier<'a, S = RandomState>(pub &'a HashMap<String, String, S>);

// By hand: derived, they would ask `S: Clone` / `S: Copy` of the hasher.
impl<S> Clone for HashMapCarrier<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for HashMapCarrier<'_, S> {}

impl<S: BuildHasher> Extractor for HashMapCarrier<'_, S> {
    fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.0.get(name) {
            return Some(v);
        }
        // Of several spellings, the first in name order, as `get_all` reports them
        // (found by review: the first in hash order, so which of two `X-B3-SpanId`
        // spellings gave the parent changed from one process to the next).
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .min_by_key(|(k, _)| k.as_str())
            .map(|(_, v)| v.as_str())
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        let spellings = || self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        // Mostly one spelling: no list to sort (and no allocation per extraction).
        let mut found = spellings();
        if let (Some((_, only)), None) = (found.next(), found.next()) {
            return f(only);
        }
        // A map holds each spelling once; report the exact spelling first, then other
        // spellings in name order so the result does not depend on hashing.
        let mut values: Vec<(&String, &String)> = spellings().collect();
        values.sort_by_key(|(k, _)| (k.as_str() != name, k.as_str()));
        for (_, v) in values {
            f(v);
        }
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.0.keys().for_each(|k| f(k));
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        // In name order: the order decides which of two spellings of a name is the last
        // (found by review: in hash order it changed from one process to the next). No
        // allocation without such a field.
        let mut fields: Vec<(&String, &String)> = self
            .0
            .iter()
            .filter(|(k, _)| starts_with_ignore_case(k, prefix))
            .collect();
        fields.sort_unstable_by_key(|(k, _)| k.as_str());
        for (k, v) in fields {
            f(k, v);
        }
    }
}

/// Writes headers into a `HashMap<String, String>` (any hasher): the name in lowercase,
/// replacing any earlier value under any spelling of it; removes as
/// [`HeaderMapInjector`] does.
#[derive(Debug)]
pub struct HashMapInjector<'a, S = RandomState>(pub &'a mut HashMap<String, String, S>);

impl<S: BuildHasher> Injector for HashMapInjector<'_, S> {
    fn set(&mut self, name: &str, value: &str) {
        let lower = name.to_ascii_lowercase();
        self.0
            .retain(|k, _| k == &lower || !k.eq_ignore_ascii_case(&lower));
        self.0.insert(lower, value.to_owned());
    }

    fn remove(&mut self, name: &str) {
        if !self.0.is_empty() {
            self.0.retain(|k, _| !k.eq_ignore_ascii_case(name));
        }
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        self.0.retain(|k, _| !starts_with_ignore_case(k, prefix));
    }
}

/// The name of header `name` as an environment variable: upper case, each character
/// other than a letter or a digit an underscore (`traceparent` is `TRACEPARENT`,
/// `x-b3-traceid` is `X_B3_TRACEID`), as OpenTelemetry's environment variable carriers
/// name them.
pub fn env_var_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        })
        .collect()
}

/// Reads a context from environment variables, as OpenTelemetry's "Environment
/// Variables as Context Propagation Carriers" specification has it: a process started
/// by a traced parent finds `TRACEPARENT`, `TRACESTATE` and `BAGGAGE` (each header's
/// [`env_var_name`]; names are compared as written, upper case). Read once, when made:
/// the specification treats them as set for the life of the process. Jaeger's
/// `uberctx-*` baggage is not read from the environment (its names do not survive the
/// renaming).
///
/// ```
/// use picotrace_std::carrier::EnvCarrier;
/// use picotrace_std::TracerProvider;
/// let provider = TracerProvider::builder().build();
/// // At startup, where a parent process may have left its context:
/// let incoming = provider.extract(&EnvCarrier::from_env());
/// let root = provider.tracer().start_span_with_parent("job", &incoming.context);
/// # drop(root);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EnvCarrier {
    vars: Vec<(String, String)>,
}

impl EnvCarrier {
    /// Reads the process's environment (variables whose name and value are UTF-8).
    pub fn from_env() -> Self {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Takes the variables given (another process's environment, a test's).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars.into_iter().collect(),
        }
    }
}

impl Extractor for EnvCarrier {
    fn get(&self, name: &str) -> Option<&str> {
        let name = env_var_name(name);
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes a context into the environment of a child process about to be spawned, by
/// [`env_var_name`] (`TRACEPARENT`, `TRACESTATE`, `BAGGAGE`): the child then reads it
/// with [`EnvCarrier`] (or any OpenTelemetry SDK's environment carrier). A field the
/// context has no value for this time is removed from the child's environment, so that
/// a `TRACESTATE` this process inherited does not reach it beside the new
/// `TRACEPARENT`; an inherited `BAGGAGE` goes on unless a baggage is current here (an
/// empty one current removes it).
///
/// ```
/// use picotrace_std::carrier::CommandInjector;
/// use picotrace_std::TracerProvider;
/// let provider = TracerProvider::builder().build();
/// let step = provider.tracer().start_span("build step");
/// let mut command = std::process::Command::new("true");
/// provider.inject(&step, &mut CommandInjector(&mut command));
/// assert!(command.get_envs().any(|(k, v)| k == "TRACEPARENT" && v.is_some()));
/// ```
#[derive(Debug)]
pub struct CommandInjector<'a>(pub &'a mut std::process::Command);

impl Injector for CommandInjector<'_> {
    fn set(&mut self, name: &str, value: &str) {
        self.0.env(env_var_name(name), value);
    }

    fn remove(&mut self, name: &str) {
        self.0.env_remove(env_var_name(name));
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        let prefix = env_var_name(prefix);
        // Inherited from this process, or set on the command already.
        let names: Vec<std::ffi::OsString> = std::env::vars_os()
            .map(|(k, _)| k)
            .chain(self.0.get_envs().map(|(k, _)| k.to_owned()))
            .filter(|k| k.to_str().is_some_and(|k| k.starts_with(&prefix)))
            .collect();
        for name in names {
            self.0.env_remove(name);
        }
    }
}

/// Whether `name` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Reads headers from an `http::HeaderMap` (names are case-insensitive there);
/// repeated fields are all reported. Where a format reads every field of a name
/// (`tracestate`, `baggage`), a value that is not UTF-8 is read with each bad byte
/// sequence as U+FFFD, which no header format accepts: the member that holds it is
/// invalid (one baggage member), not the whole field; a `traceparent` that is not
/// UTF-8 is an invalid one ([`picotrace::ExtractError::Traceparent`]). Where a format
/// reads one value through [`Extractor::get`] (`b3`, `X-B3-*`, `uber-trace-id`), such a
/// header reads as U+FFFD, an invalid value of its kind: it rejects an id, a sampling
/// state or a parent id (a new trace starts), and reads as "not debug" for
/// `X-B3-Flags`; a `b3` read so leaves the `X-B3-*` headers to decide, as any invalid
/// `b3` does.
#[derive(Clone, Copy, Debug)]
pub struct HeaderMapCarrier<'a>(pub &'a HeaderMap);

impl Extractor for HeaderMapCarrier<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        // UTF-8, not only visible ASCII: Jaeger's baggage values may carry it. A value
        // that is not is present and invalid, not absent (found by review: an
        // `x-b3-sampled` that was not text read as "not sampled", and the trace went on).
        let value = match known_name(name) {
            Some(known) => self.0.get(known),
            None => self.0.get(name),
        };
        Some(std::str::from_utf8(value?.as_bytes()).unwrap_or("\u{fffd}"))
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        let values = match known_name(name) {
            Some(known) => self.0.get_all(known),
            None => self.0.get_all(name),
        };
        for value in values {
            // A field that is not text is still a field, its bad bytes read as U+FFFD,
            // which no parser accepts: a second `traceparent` still makes a duplicate,
            // a corrupt `tracestate` member invalidates the list (W3C), and a corrupt
            // baggage member is dropped alone and counted.
            f(&lossy(value));
        }
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.0.keys().for_each(|k| f(k.as_str()));
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        // Read as `get_all` reads a value (one that is not text carries U+FFFD).
        for (name, value) in self.0 {
            if starts_with_ignore_case(name.as_str(), prefix) {
                f(name.as_str(), &lossy(value));
            }
        }
    }
}

/// Writes headers into an `http::HeaderMap`, replacing earlier values, and removes the
/// propagation fields a format does not write this time (a `tracestate` of the caller's
/// in a forwarded request, say). A name that is not valid in HTTP is skipped, and a
/// value that is not removes the name's earlier value (propagation is best effort).
#[derive(Debug)]
pub struct HeaderMapInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderMapInjector<'_> {
    fn set(&mut self, name: &str, value: &str) {
        let Some(header) = header_name(name) else {
            return;
        };
        match HeaderValue::from_str(value) {
            Ok(value) => {
                self.0.insert(header, value);
            }
            // Not a header value (a control character): the caller's must not go on
            // in its place (found by review).
            Err(_) => self.remove(name),
        }
    }

    fn remove(&mut self, name: &str) {
        // The usual outgoing request has no header yet: no lookup then.
        if self.0.is_empty() {
            return;
        }
        if let Some(name) = header_name(name) {
            self.0.remove(name);
        }
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        // Names in a `HeaderMap` are lowercase.
        let stale: Vec<http::HeaderName> = self
            .0
            .keys()
            .filter(|name| starts_with_ignore_case(name.as_str(), prefix))
            .cloned()
            .collect();
        for name in stale {
            self.0.remove(name);
        }
    }
}

/// The names propagation reads and writes, made once: `HeaderName::from_bytes` copies
/// a name that is not a standard HTTP header into a buffer of its own (an allocation
/// per header per outgoing request), and a lookup by `&str` parses the name again each
/// time (its bytes checked and lowercased: a third of a `traceparent` round trip
/// through two `HeaderMap`s).
static KNOWN_NAMES: [HeaderName; 10] = {
    use picotrace::propagation::{BAGGAGE, TRACEPARENT, TRACESTATE};
    use picotrace::wire::{b3, jaeger};
    [
        HeaderName::from_static(TRACEPARENT),
        HeaderName::from_static(TRACESTATE),
        HeaderName::from_static(BAGGAGE),
        HeaderName::from_static(b3::B3),
        HeaderName::from_static(b3::TRACE_ID),
        HeaderName::from_static(b3::SPAN_ID),
        HeaderName::from_static(b3::PARENT_SPAN_ID),
        HeaderName::from_static(b3::SAMPLED),
        HeaderName::from_static(b3::FLAGS),
        HeaderName::from_static(jaeger::UBER_TRACE_ID),
    ]
};

/// `name` as one of [`KNOWN_NAMES`] (compared as given: propagation's names are
/// lowercase).
fn known_name(name: &str) -> Option<&'static HeaderName> {
    KNOWN_NAMES.iter().find(|known| known.as_str() == name)
}

/// `name` as a header name: a known one cloned (no allocation: its bytes are static),
/// else parsed (and copied).
fn header_name(name: &str) -> Option<HeaderName> {
    match known_name(name) {
        Some(known) => Some(known.clone()),
        None => HeaderName::from_bytes(name.as_bytes()).ok(),
    }
}

/// A field's value as text: as it is when it is UTF-8 (the usual case, checked at
/// once; `from_utf8_lossy` walks it in chunks, a sixth of a `traceparent` round trip),
/// else with each bad sequence as U+FFFD.
fn lossy(value: &HeaderValue) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picotrace::{Baggage, TraceContext};

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Found by a new user's tryout (a command-line tool that starts another): there was
    /// no environment carrier, and `HashMapInjector` wrote `traceparent` where the
    /// OpenTelemetry specification has `TRACEPARENT`. A child process started with
    /// `CommandInjector` finds `TRACEPARENT`, `TRACESTATE` and `BAGGAGE`, and
    /// `EnvCarrier` reads them back into the span's context and the baggage.
    #[test]
    fn a_child_process_gets_the_context_and_baggage_through_its_environment() {
        let provider = crate::TracerProvider::builder().build();
        let remote =
            TraceContext::from_headers(&[("traceparent", TP), ("tracestate", "vendor=opaque")])
                .unwrap();
        let step = provider.tracer().start_span_with_parent("step", &remote);
        let child_env = |command: &mut std::process::Command| {
            let out = command
                .arg("-c")
                .arg("printf '%s|%s|%s' \"$TRACEPARENT\" \"$TRACESTATE\" \"$BAGGAGE\"")
                .output()
                .expect("sh runs");
            let out = String::from_utf8(out.stdout).unwrap();
            let mut fields = out.split('|').map(str::to_owned);
            let mut next = || fields.next().unwrap_or_default();
            let vars = [
                ("TRACEPARENT".to_owned(), next()),
                ("TRACESTATE".to_owned(), next()),
                ("BAGGAGE".to_owned(), next()),
            ];
            EnvCarrier::from_vars(vars.into_iter().filter(|(_, v)| !v.is_empty()))
        };
        let mut command = std::process::Command::new("sh");
        {
            let _bag = crate::enter_baggage(Baggage::parse("tenant=acme"));
            provider.inject(&step, &mut CommandInjector(&mut command));
        }
        let incoming = provider.extract(&child_env(&mut command));
        let cx = incoming.context.expect("the child's TRACEPARENT");
        let remote_of = |span: &crate::StdSpan| picotrace::SpanContext {
            is_remote: true,
            ..span.context()
        };
        assert_eq!(cx.span_context, remote_of(&step));
        assert_eq!(cx.trace_state.as_str(), "vendor=opaque");
        assert_eq!(
            incoming
                .baggage
                .get("tenant")
                .map(|m| m.decoded_value().to_string()),
            Some(String::from("acme"))
        );
        // A tracestate the parent inherited does not reach the child beside a new
        // context; its baggage, with none current, goes on as it came.
        let root = provider.tracer().start_span("root");
        let mut command = std::process::Command::new("sh");
        command
            .env("TRACESTATE", "stale=1")
            .env("BAGGAGE", "passed=on");
        provider.inject(&root, &mut CommandInjector(&mut command));
        let carrier = child_env(&mut command);
        assert_eq!(carrier.get("tracestate"), None);
        assert_eq!(carrier.get("baggage"), Some("passed=on"));
        let incoming = provider.extract(&carrier);
        assert_eq!(incoming.context.unwrap().span_context, remote_of(&root));
        assert_eq!(env_var_name("x-b3-traceid"), "X_B3_TRACEID");
    }

    /// A map with a hasher of its own (a server's `ahash` or `FxHash` map) carries a
    /// context both ways, case-insensitively: the carriers took std's default hasher
    /// only (noted in earlier reviews).
    #[test]
    fn a_map_with_another_hasher_carries_a_context() {
        type Fixed = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;
        let mut incoming: HashMap<String, String, Fixed> = HashMap::default();
        incoming.insert("TraceParent".into(), TP.into());
        incoming.insert("tracestate".into(), "congo=t61rcWkgMzE".into());
        let cx = TraceContext::from_headers(&HashMapCarrier(&incoming)).unwrap();
        assert_eq!(cx.to_traceparent().unwrap().as_str(), TP);
        let mut outgoing: HashMap<String, String, Fixed> = HashMap::default();
        outgoing.insert("TRACEPARENT".into(), "stale".into());
        cx.to_headers(&mut HashMapInjector(&mut outgoing));
        assert_eq!(outgoing.len(), 2, "{outgoing:?}");
        assert_eq!(outgoing["traceparent"], TP);
        assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
        let carrier = HashMapCarrier(&outgoing);
        let copied = carrier;
        assert_eq!(carrier.get("TraceState"), copied.get("tracestate"));
    }

    /// Regression (found by review): a value that was not UTF-8 read through `get` was
    /// absent, so an `x-b3-sampled` or `x-b3-parentspanid` that was not text let the
    /// caller's trace go on (as not sampled); it is present and invalid now.
    #[test]
    fn a_b3_field_that_is_not_text_is_invalid_not_absent() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-b3-traceid",
            HeaderValue::from_static("4bf92f3577b34da6a3ce929d0e0e4736"),
        );
        h.insert("x-b3-spanid", HeaderValue::from_static("00f067aa0ba902b7"));
        assert!(TraceContext::from_b3_headers(&HeaderMapCarrier(&h)).is_ok());
        h.insert("x-b3-sampled", HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(TraceContext::from_b3_headers(&HeaderMapCarrier(&h)).is_err());
        h.insert("x-b3-sampled", HeaderValue::from_static("1"));
        h.insert(
            "x-b3-parentspanid",
            HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert!(TraceContext::from_b3_headers(&HeaderMapCarrier(&h)).is_err());
        // A `traceparent` or `tracestate` that is not text: as before.
        let mut w3c = HeaderMap::new();
        w3c.insert("traceparent", HeaderValue::from_static(TP));
        w3c.insert("tracestate", HeaderValue::from_bytes(b"a=\xff").unwrap());
        let cx = TraceContext::from_headers(&HeaderMapCarrier(&w3c)).unwrap();
        assert!(cx.trace_state.is_empty());
    }

    /// Regression (found by review): of two spellings of a name, `get` gave the first
    /// in the map's hash order, which changes with each map's random seed: the parent
    /// a B3 or Jaeger header named changed from process to process. It gives the first
    /// in name order now, the value `get_all` reports first.
    #[test]
    fn a_name_in_two_spellings_reads_the_same_in_every_map() {
        for _ in 0..64 {
            let mut map = HashMap::new();
            map.insert("Uber-Trace-Id".to_string(), "a".to_string());
            map.insert("UBER-TRACE-ID".to_string(), "b".to_string());
            let carrier = HashMapCarrier(&map);
            assert_eq!(carrier.get("uber-trace-id"), Some("b"));
            let mut first = None;
            carrier.get_all("uber-trace-id", &mut |v| {
                first.get_or_insert(v.to_string());
            });
            assert_eq!(first.as_deref(), Some("b"));
            // The exact spelling first, as ever.
            assert_eq!(carrier.get("Uber-Trace-Id"), Some("a"));
            // Jaeger baggage walks its fields in name order too: the last spelling wins.
            map.insert("uberctx-K".to_string(), "upper".to_string());
            map.insert("uberctx-k".to_string(), "lower".to_string());
            let jaeger = picotrace::Propagators::new(&[picotrace::Propagator::Jaeger]);
            let bag: Baggage = jaeger.extract_baggage(&HashMapCarrier(&map));
            assert_eq!(bag.as_str(), "k=lower");
        }
    }

    /// The names propagation reads and writes (W3C's, B3's, Jaeger's) go in without
    /// allocating and are looked up without parsing; others (a vendor's) are parsed.
    #[test]
    fn known_header_names_are_static_and_others_are_parsed() {
        for known in &KNOWN_NAMES {
            let name = known.as_str();
            assert_eq!(header_name(name).unwrap().as_str(), name);
            assert_eq!(
                header_name(name),
                HeaderName::from_bytes(name.as_bytes()).ok(),
                "{name}"
            );
            assert!(std::ptr::eq(known_name(name).unwrap(), known));
        }
        // Looked up as given: another spelling is parsed (and found all the same).
        assert!(known_name("TraceParent").is_none());
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static("a"));
        h.insert("x-b3-sampled", HeaderValue::from_static("1"));
        for name in ["traceparent", "TraceParent", "X-B3-Sampled", "x-b3-sampled"] {
            assert!(HeaderMapCarrier(&h).get(name).is_some(), "{name}");
            let mut n = 0;
            HeaderMapCarrier(&h).get_all(name, &mut |_| n += 1);
            assert_eq!(n, 1, "{name}");
        }
        assert_eq!(
            header_name("uber-trace-id").unwrap().as_str(),
            "uber-trace-id"
        );
        assert_eq!(
            header_name("Vendor-State").unwrap().as_str(),
            "vendor-state"
        );
        assert_eq!(header_name("bad name"), None);
        let mut out = HeaderMap::new();
        TraceContext::from_headers(&[("traceparent", TP)])
            .unwrap()
            .to_headers(&mut HeaderMapInjector(&mut out));
        assert_eq!(out.get("traceparent").unwrap(), TP);
    }

    /// A caller's B3 multiple headers, with a parent id, as a proxy forwards them.
    fn callers_b3_multi() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-b3-traceid", "4bf92f3577b34da6a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
            ("x-b3-parentspanid", "1111111111111111"),
            ("x-b3-sampled", "1"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        h
    }

    /// Regression (found by review): injecting into the headers of a forwarded
    /// request (a proxy) left the caller's fields this hop did not write: its
    /// tracestate went on with a new traceparent (W3C: a tracestate goes with the
    /// traceparent it came with), and a B3 parent id or sampling flag stayed beside
    /// this hop's ids.
    #[test]
    fn injecting_into_forwarded_headers_leaves_no_field_of_the_callers() {
        let provider = crate::TracerProvider::builder().build();
        let mut h = HeaderMap::new();
        // Invalid (uppercase hex): a new trace, and the caller's tracestate is void.
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),
        );
        h.insert("tracestate", HeaderValue::from_static("congo=x"));
        let incoming = provider.extract_context(&HeaderMapCarrier(&h));
        assert!(incoming.is_err());
        let span = provider
            .tracer()
            .start_server_span("proxy", incoming.as_ref().ok());
        provider.inject(&span, &mut HeaderMapInjector(&mut h));
        assert!(h.get("tracestate").is_none(), "{h:?}");
        assert_eq!(
            h.get("traceparent").unwrap(),
            span.trace_context().to_traceparent().unwrap().as_str()
        );

        // B3 multiple headers: a parent id and a debug flag of the caller's.
        let b3 = picotrace::Propagators::new(&[picotrace::Propagator::B3Multi]);
        let mut h = callers_b3_multi();
        let cx = b3.extract_context(&HeaderMapCarrier(&h)).unwrap();
        b3.inject_context(&cx, &mut HeaderMapInjector(&mut h));
        assert!(h.get("x-b3-parentspanid").is_none(), "{h:?}");
        assert_eq!(h.get("x-b3-sampled").unwrap(), "1");
        h.insert("x-b3-sampled", HeaderValue::from_static("0"));
        h.insert("x-b3-flags", HeaderValue::from_static("1"));
        let debug = b3.extract_context(&HeaderMapCarrier(&h)).unwrap();
        let mut out = h.clone();
        b3.inject_context(&debug, &mut HeaderMapInjector(&mut out));
        assert_eq!(out.get("x-b3-flags").unwrap(), "1");
        assert!(
            out.get("x-b3-sampled").is_none(),
            "debug goes without sampled"
        );

        // One B3 form forwarded, the other configured (found by review): the caller's
        // single `b3` header stayed beside our multi headers, and the next hop, which
        // reads the single header first, took the caller's span as its parent (and its
        // sampling flag); the caller's `x-b3-parentspanid` went on beside our `b3`.
        let caller = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1";
        let mut h = HeaderMap::new();
        h.insert("b3", HeaderValue::from_static(caller));
        let incoming = b3.extract_context(&HeaderMapCarrier(&h)).unwrap();
        let span = provider
            .tracer()
            .start_server_span("proxy", Some(&incoming));
        b3.inject_context(&span.trace_context(), &mut HeaderMapInjector(&mut h));
        assert!(h.get("b3").is_none(), "{h:?}");
        let next = picotrace::Propagators::new(&[
            picotrace::Propagator::B3,
            picotrace::Propagator::B3Multi,
        ]);
        let seen = next.extract_context(&HeaderMapCarrier(&h)).unwrap();
        assert_eq!(seen.span_id(), span.context().span_id, "{h:?}");
        let single = picotrace::Propagators::new(&[picotrace::Propagator::B3]);
        let mut h = callers_b3_multi();
        single.inject_context(&span.trace_context(), &mut HeaderMapInjector(&mut h));
        assert_eq!(h.len(), 1, "only our b3 header: {h:?}");
        // Both forms configured: both written, neither removes the other.
        let mut h = HeaderMap::new();
        h.insert("b3", HeaderValue::from_static(caller));
        next.inject_context(&span.trace_context(), &mut HeaderMapInjector(&mut h));
        assert_ne!(h.get("b3").unwrap(), caller);
        assert!(h.get("x-b3-spanid").is_some(), "{h:?}");
        assert_eq!(h.len(), 4, "{h:?}");

        // The same through a HashMap.
        let mut m = HashMap::new();
        m.insert("TraceState".to_string(), "congo=x".to_string());
        TraceContext::from_headers(&[("traceparent", TP)])
            .unwrap()
            .to_headers(&mut HashMapInjector(&mut m));
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m["traceparent"], TP);
    }

    #[test]
    fn hashmap_lookups_ignore_case() {
        let mut m = HashMap::new();
        m.insert("TRACEPARENT".to_string(), TP.to_string());
        let c = HashMapCarrier(&m);
        assert_eq!(c.get("traceparent"), Some(TP));
        assert_eq!(c.get("missing"), None);
        assert!(TraceContext::from_headers(&c).unwrap().is_sampled());
    }

    #[test]
    fn hashmap_injector_replaces_other_spellings() {
        let mut m = HashMap::new();
        m.insert("TraceParent".to_string(), "old".to_string());
        m.insert("other".to_string(), "kept".to_string());
        HashMapInjector(&mut m).set("traceparent", "new");
        assert_eq!(m.len(), 2);
        assert_eq!(m["traceparent"], "new");
        assert_eq!(m["other"], "kept");
    }

    #[test]
    fn header_map_combines_repeated_tracestate_fields_in_order() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static(TP));
        h.append("tracestate", HeaderValue::from_static("a=1"));
        h.append("TraceState", HeaderValue::from_static("b=2"));
        let cx = TraceContext::from_headers(&HeaderMapCarrier(&h)).unwrap();
        assert_eq!(cx.trace_state.as_str(), "a=1,b=2");

        let mut out = HeaderMap::new();
        cx.to_headers(&mut HeaderMapInjector(&mut out));
        assert_eq!(out.get("traceparent").unwrap(), TP);
        assert_eq!(out.get("tracestate").unwrap(), "a=1,b=2");
    }

    #[test]
    fn header_map_skips_values_it_cannot_hold_or_read() {
        let mut h = HeaderMap::new();
        HeaderMapInjector(&mut h).set("bad name", "v");
        HeaderMapInjector(&mut h).set("x-ok", "line\nbreak");
        assert!(h.is_empty());
        h.insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        // Present, as a text no format accepts (see the next test's regression).
        assert_eq!(HeaderMapCarrier(&h).get("x-bin"), Some("\u{fffd}"));
    }

    #[test]
    fn an_unreadable_second_traceparent_still_counts_as_a_duplicate() {
        // W3C: several traceparent fields mean a new trace, whatever the others hold.
        let mut h = HeaderMap::new();
        h.append("traceparent", HeaderValue::from_static(TP));
        h.append("traceparent", HeaderValue::from_bytes(b"00-\xff").unwrap());
        assert_eq!(
            TraceContext::from_headers(&HeaderMapCarrier(&h)),
            Err(picotrace::ExtractError::Duplicated)
        );
        // An unreadable tracestate field makes the whole tracestate invalid: dropped.
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static(TP));
        h.append("tracestate", HeaderValue::from_static("a=1"));
        h.append("tracestate", HeaderValue::from_bytes(b"b=\xff").unwrap());
        let cx = TraceContext::from_headers(&HeaderMapCarrier(&h)).unwrap();
        assert_eq!(cx.trace_state.as_str(), "");
    }

    /// Regression (found by review): Jaeger baggage injected into a forwarded carrier
    /// left the caller's `uberctx-` headers of members the bag no longer held; a value
    /// that is not a header value left the caller's in place.
    #[test]
    fn a_forwarded_carrier_keeps_none_of_the_caller_s_jaeger_baggage() {
        let jaeger = picotrace::Propagators::new(&[picotrace::Propagator::Jaeger]);
        let mut h = HeaderMap::new();
        h.insert("uberctx-session", HeaderValue::from_static("abc"));
        h.insert("uberctx-user", HeaderValue::from_static("alice"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        let mut bag = jaeger.extract_baggage(&HeaderMapCarrier(&h));
        assert_eq!(bag.len(), 2);
        bag.remove("session");
        jaeger.inject_baggage(&bag, &mut HeaderMapInjector(&mut h));
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "uberctx-user"]);
        // The same through a `HashMap`.
        let mut m: HashMap<String, String> = [
            ("Uberctx-Session".to_owned(), "abc".to_owned()),
            ("accept".to_owned(), "*/*".to_owned()),
        ]
        .into();
        jaeger.inject_baggage(&bag, &mut HashMapInjector(&mut m));
        let mut names: Vec<_> = m.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "uberctx-user"]);
        // A value no header can hold: the caller's goes.
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static(TP));
        HeaderMapInjector(&mut h).set("traceparent", "a\nb");
        assert!(h.is_empty());
    }

    #[test]
    fn a_baggage_member_that_is_not_text_is_dropped_alone() {
        // W3C Baggage: an entry not in the format may be removed, that entry only.
        let mut h = HeaderMap::new();
        h.insert(
            "baggage",
            HeaderValue::from_bytes(b"a=1,name=Jos\xe9,c=3").unwrap(),
        );
        let b: Baggage = Baggage::from_headers(&HeaderMapCarrier(&h));
        assert_eq!((b.as_str(), b.dropped()), ("a=1,c=3", 1));
        // Jaeger's baggage headers: a value in UTF-8 is read, one that is not text is
        // counted as dropped.
        let jaeger = picotrace::Propagators::new(&[picotrace::Propagator::Jaeger]);
        let mut h = HeaderMap::new();
        h.insert(
            "uberctx-name",
            HeaderValue::from_bytes("Jos\u{e9}".as_bytes()).unwrap(),
        );
        h.insert(
            "uberctx-latin1",
            HeaderValue::from_bytes(b"Jos\xe9").unwrap(),
        );
        let b: Baggage = jaeger.extract_baggage(&HeaderMapCarrier(&h));
        let mut buf = [0; 16];
        assert_eq!(b.get_decoded("name", &mut buf), Some("Jos\u{e9}"));
        assert_eq!((b.len(), b.dropped()), (1, 1));
    }

    /// Regression (found by review): of a Jaeger baggage header given twice, the first
    /// value was checked for being text and the last one kept: an unreadable last
    /// value went on as U+FFFD (`%EF%BF%BD`) and counted nowhere, and a readable last
    /// value was dropped when the first was not.
    #[test]
    fn a_repeated_jaeger_baggage_header_is_judged_by_the_value_kept() {
        let jaeger = picotrace::Propagators::new(&[picotrace::Propagator::Jaeger]);
        let mut buf = [0; 16];
        let mut h = HeaderMap::new();
        h.append("uberctx-k", HeaderValue::from_static("ok"));
        h.append("uberctx-k", HeaderValue::from_bytes(b"\xff").unwrap());
        let b: Baggage = jaeger.extract_baggage(&HeaderMapCarrier(&h));
        assert_eq!((b.get("k"), b.dropped()), (None, 1), "{b:?}");
        let mut h = HeaderMap::new();
        h.append("uberctx-k", HeaderValue::from_bytes(b"\xff").unwrap());
        h.append("uberctx-k", HeaderValue::from_static("ok"));
        let b: Baggage = jaeger.extract_baggage(&HeaderMapCarrier(&h));
        assert_eq!((b.get_decoded("k", &mut buf), b.dropped()), (Some("ok"), 0));
    }

    /// Regression (found by review): injecting an empty bag into a request being
    /// forwarded left the caller's `baggage` header in it (OpenTelemetry: clearing the
    /// baggage MUST keep it from the next process); a format removes what it does not
    /// write, as `traceparent`'s `tracestate` does.
    #[test]
    fn an_empty_bag_injected_removes_the_callers_baggage() {
        let mut forwarded = HeaderMap::new();
        forwarded.insert("baggage", HeaderValue::from_static("secret=1"));
        forwarded.insert("x-other", HeaderValue::from_static("kept"));
        let empty: Baggage = Baggage::new();
        empty.to_headers(&mut HeaderMapInjector(&mut forwarded));
        assert!(forwarded.get("baggage").is_none(), "{forwarded:?}");
        assert_eq!(forwarded.get("x-other").unwrap(), "kept");
        let mut forwarded = HeaderMap::new();
        forwarded.insert("baggage", HeaderValue::from_static("secret=1"));
        picotrace::Propagators::DEFAULT
            .inject_baggage(&empty, &mut HeaderMapInjector(&mut forwarded));
        assert!(forwarded.get("baggage").is_none(), "{forwarded:?}");
    }

    #[test]
    fn baggage_round_trips_through_a_header_map() {
        let mut h = HeaderMap::new();
        h.insert("baggage", HeaderValue::from_static("user=alice,tier=gold"));
        let b: Baggage = Baggage::from_headers(&HeaderMapCarrier(&h));
        let mut out = HeaderMap::new();
        b.to_headers(&mut HeaderMapInjector(&mut out));
        assert_eq!(out.get("baggage").unwrap(), "user=alice,tier=gold");
    }
}
