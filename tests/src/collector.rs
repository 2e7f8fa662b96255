//! Starts the rotel collector (an independent Rust OTLP collector, installed from PyPI by
//! `ci/install.sh`) and reads the spans it decoded from its detailed debug log.
//!
//! The binary is found through `PICOTRACE_ROTEL_AGENT`, `target/ci/rotel-agent-path`, or
//! the `.venv-collector` virtualenv in the repository root.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running collector; killed when dropped.
pub struct Collector {
    child: Child,
    /// `http://127.0.0.1:PORT`: the OTLP/HTTP base endpoint.
    pub endpoint: String,
    /// The OTLP/HTTP listening address.
    pub http_addr: SocketAddr,
    log_path: PathBuf,
}

/// One span as the collector printed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectedSpan {
    /// The `service.name` resource attribute of its resource.
    pub service_name: String,
    /// All resource attributes, as printed (`key: Str(value)`).
    pub resource: Vec<(String, String)>,
    /// Instrumentation scope line (`name version`).
    pub scope: String,
    /// Lowercase hex trace id.
    pub trace_id: String,
    /// Lowercase hex parent span id ("" for roots).
    pub parent_id: String,
    /// Lowercase hex span id.
    pub span_id: String,
    /// Span name.
    pub name: String,
    /// `SPAN_KIND_SERVER` etc.
    pub kind: String,
    /// Start, Unix nanoseconds.
    pub start: u64,
    /// End, Unix nanoseconds.
    pub end: u64,
    /// `STATUS_CODE_OK` etc. ("" when unset and not printed).
    pub status_code: String,
    /// Status message.
    pub status_message: String,
    /// Attributes as `(key, printed value)`, e.g. `("n", "Int(5)")`.
    pub attributes: Vec<(String, String)>,
    /// Event names in order.
    pub events: Vec<String>,
    /// Event attributes, per event.
    pub event_attributes: Vec<Vec<(String, String)>>,
    /// Linked span ids.
    pub links: Vec<String>,
    /// The trace ids of the links, in the same order.
    pub link_trace_ids: Vec<String>,
}

/// Returns the rotel binary, or `None` when it is not installed.
pub fn rotel_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PICOTRACE_ROTEL_AGENT") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    if let Ok(p) = fs::read_to_string(root.join("target/ci/rotel-agent-path")) {
        let p = PathBuf::from(p.trim());
        if p.exists() {
            return Some(p);
        }
    }
    let venv = root.join(".venv-collector/lib");
    for entry in fs::read_dir(venv).ok()?.flatten() {
        let p = entry.path().join("site-packages/rotel/rotel-agent");
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// A loopback port that refuses connections for as long as this value lives: a socket
/// is bound to it and never listens, so no other test's server can take the port
/// meanwhile (found by a CI run: a port bound and released, as [`free_port`] does, was
/// taken by another test's server before the quick start connected, which then read
/// something that was not HTTP instead of a refusal).
#[derive(Debug)]
pub struct RefusingPort(socket2::Socket);

impl RefusingPort {
    /// Binds a socket to a free loopback port, without listening.
    pub fn new() -> Self {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind an ephemeral port");
        Self(socket)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("a bound address")
            .port()
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns a loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

impl Collector {
    /// Starts the collector on free loopback ports and waits until it accepts connections.
    ///
    /// # Panics
    /// When the collector is not installed (run `ci/install.sh collector`) or does not start.
    pub fn start() -> Collector {
        let bin =
            rotel_binary().expect("rotel collector not installed: run `ci/install.sh collector`");
        // A port free when picked may be taken by another test's server before rotel
        // binds it (seen in CI: "Address already in use"): pick again.
        (0..5)
            .find_map(|_| Self::try_start_at(&bin, free_port(), free_port()))
            .expect("the collector found free ports in 5 tries")
    }

    /// Starts the collector on the given ports; panics when it does not start.
    fn start_at(bin: &Path, http_port: u16, grpc_port: u16) -> Collector {
        Self::try_start_at(bin, http_port, grpc_port)
            .unwrap_or_else(|| panic!("collector: port {http_port} or {grpc_port} is taken"))
    }

    /// Starts the collector on the given ports; `None` when another process took one of
    /// them first.
    ///
    /// # Panics
    /// When it exits for another reason or does not listen within 20 s.
    fn try_start_at(bin: &Path, http_port: u16, grpc_port: u16) -> Option<Collector> {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log_path = std::env::temp_dir().join(format!(
            "picotrace-collector-{}-{http_port}-{n}.log",
            std::process::id()
        ));
        let log = fs::File::create(&log_path).expect("create collector log");
        let child = Command::new(bin)
            .args([
                "start",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http_port}"),
            ])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args([
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log-verbosity",
                "detailed",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start rotel");
        let http_addr: SocketAddr = format!("127.0.0.1:{http_port}").parse().expect("address");
        let mut collector = Collector {
            child,
            endpoint: format!("http://{http_addr}"),
            http_addr,
            log_path: log_path.clone(),
        };
        let log = || fs::read_to_string(&log_path).unwrap_or_default();
        match crate::accepting_or_exited(http_addr, "collector", &mut collector.child, log) {
            Ok(()) => Some(collector),
            Err(_) if log().contains("Address already in use") => None,
            Err(status) => panic!("collector exited ({status}); log:\n{}", log()),
        }
    }

    /// Stops the collector and starts it again on the same ports (a crash and restart).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let bin = rotel_binary().expect("rotel installed");
        let grpc_port = free_port();
        let fresh = Self::start_at(&bin, self.http_addr.port(), grpc_port);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }

    /// Stops the collector without restarting it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Returns the collector's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Returns every span decoded so far.
    pub fn spans(&self) -> Vec<CollectedSpan> {
        parse_log(&self.log())
    }

    /// Waits until `done(spans)` holds or `timeout` passes; returns the spans either way.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[CollectedSpan]) -> bool,
    ) -> Vec<CollectedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log_path);
    }
}

fn kv(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix("-> ")?;
    let (k, v) = rest.split_once(": ")?;
    Some((k.trim().to_string(), v.trim().to_string()))
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let t = line.trim();
    let rest = t.strip_prefix(name)?;
    let rest = rest.trim_start();
    rest.strip_prefix(':').map(str::trim)
}

/// Parses rotel's `--debug-log-verbosity detailed` output into spans.
pub fn parse_log(log: &str) -> Vec<CollectedSpan> {
    #[derive(PartialEq)]
    enum Section {
        None,
        Resource,
        Attributes,
        Events,
        Links,
    }
    let mut spans = Vec::new();
    let mut resource: Vec<(String, String)> = Vec::new();
    let mut scope = String::new();
    let mut current: Option<CollectedSpan> = None;
    let mut section = Section::None;
    let service = |r: &[(String, String)]| {
        r.iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| {
                v.trim_start_matches("Str(")
                    .trim_end_matches(')')
                    .to_string()
            })
            .unwrap_or_default()
    };
    for line in log.lines() {
        let t = line.trim();
        if t.starts_with("ResourceSpans #") {
            spans.extend(current.take());
            resource.clear();
            section = Section::None;
        } else if t == "Resource attributes:" {
            section = Section::Resource;
        } else if let Some(s) = t.strip_prefix("InstrumentationScope ") {
            scope = s.to_string();
            section = Section::None;
        } else if t.starts_with("ScopeSpans #") {
            spans.extend(current.take());
            section = Section::None;
        } else if t.starts_with("Span #") {
            spans.extend(current.take());
            current = Some(CollectedSpan {
                service_name: service(&resource),
                resource: resource.clone(),
                scope: scope.clone(),
                ..Default::default()
            });
            section = Section::None;
        } else if t == "Attributes:" {
            section = Section::Attributes;
        } else if t == "Events:" {
            section = Section::Events;
        } else if t == "Links:" {
            section = Section::Links;
        } else if let Some(span) = current.as_mut() {
            if let Some(v) = field(t, "Trace ID") {
                if section == Section::Links {
                    continue;
                }
                span.trace_id = v.to_string();
            } else if let Some(v) = field(t, "Parent ID") {
                span.parent_id = v.to_string();
            } else if let Some(v) = field(t, "ID") {
                span.span_id = v.to_string();
            } else if let Some(v) = field(t, "Name") {
                span.name = v.to_string();
            } else if let Some(v) = field(t, "Kind") {
                span.kind = v.to_string();
            } else if let Some(v) = field(t, "Start time") {
                span.start = v.parse().unwrap_or(0);
            } else if let Some(v) = field(t, "End time") {
                span.end = v.parse().unwrap_or(0);
            } else if let Some(v) = field(t, "Status code") {
                span.status_code = v.to_string();
            } else if let Some(v) = field(t, "Status message") {
                span.status_message = v.to_string();
            } else if t.starts_with("SpanEvent #") {
                span.event_attributes.push(Vec::new());
            } else if let Some((k, v)) = kv(line) {
                match section {
                    Section::Attributes => span.attributes.push((k, v)),
                    Section::Events => {
                        if k == "Name" {
                            span.events.push(v);
                        } else if line.trim_start().starts_with("-> ")
                            && line.starts_with("          ")
                        {
                            if let Some(last) = span.event_attributes.last_mut() {
                                last.push((k, v));
                            }
                        }
                    }
                    Section::Links if k == "ID" => span.links.push(v),
                    Section::Links if k == "Trace ID" => span.link_trace_ids.push(v),
                    _ => {}
                }
            }
        } else if section == Section::Resource {
            if let Some(pair) = kv(line) {
                resource.push(pair);
            }
        }
    }
    spans.extend(current);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ResourceSpans #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(demo)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope s 1
Span #0
    Trace ID       : 4bf92f3577b34da6a3ce929d0e0e4736
    Parent ID      : 1111111111111111
    ID             : 00f067aa0ba902b7
    Name           : op
    Kind           : SPAN_KIND_SERVER
Start time: 1700000000000000000
End time: 1700000000100000000
    Status code    : STATUS_CODE_ERROR
    Status message : bad
Attributes:
     -> a: Int(5)
     -> arr: Slice(Str(x))
Events:
SpanEvent #0
     -> Name: exception
     -> Timestamp: 1700000000050000000
     -> DroppedAttributesCount: 0
     -> Attributes::
          -> exception.message: Str(boom)
Links:
SpanLink #0
     -> Trace ID: 0af7651916cd43dd8448eb211c80319c
     -> ID: b7ad6b7169203331
     -> TraceState: 
     -> DroppedAttributesCount: 0
";

    #[test]
    fn parses_rotel_detailed_log() {
        let spans = parse_log(SAMPLE);
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.service_name, "demo");
        assert_eq!(s.scope, "s 1");
        assert_eq!(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.parent_id, "1111111111111111");
        assert_eq!(s.span_id, "00f067aa0ba902b7");
        assert_eq!(s.name, "op");
        assert_eq!(s.kind, "SPAN_KIND_SERVER");
        assert_eq!(
            (s.start, s.end),
            (1_700_000_000_000_000_000, 1_700_000_000_100_000_000)
        );
        assert_eq!(s.status_code, "STATUS_CODE_ERROR");
        assert_eq!(s.status_message, "bad");
        assert_eq!(
            s.attributes,
            [
                ("a".into(), "Int(5)".into()),
                ("arr".into(), "Slice(Str(x))".into())
            ]
        );
        assert_eq!(s.events, ["exception"]);
        assert_eq!(
            s.event_attributes,
            [vec![(
                "exception.message".to_string(),
                "Str(boom)".to_string()
            )]]
        );
        assert_eq!(s.links, ["b7ad6b7169203331"]);
        assert_eq!(s.link_trace_ids, ["0af7651916cd43dd8448eb211c80319c"]);
    }
}
