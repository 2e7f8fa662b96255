//! Configuration from `OTEL_*` environment variables, named and defaulted as the
//! OpenTelemetry specification does (`configuration/sdk-environment-variables.md`,
//! `protocol/exporter.md`).
//!
//! [`EnvConfig::from_lookup`] reads through any `Fn(&str) -> Option<String>` (tests
//! pass a map), [`EnvConfig::from_env`] reads the process environment, and
//! [`init_from_env`] builds and installs everything. An empty variable counts as unset.
//! An invalid value never panics and never stops the program: it becomes an
//! [`EnvWarning`] that names the variable and the value, and the default is used (
//! [`init_from_env`] prints the warnings to stderr).
//!
//! | variable | default | notes |
//! | --- | --- | --- |
//! | `OTEL_SDK_DISABLED` | `false` | `true`: spans do not record, nothing is exported |
//! | `OTEL_SERVICE_NAME` | `unknown_service:<exe>` | wins over `service.name` in the attributes; blank is unset |
//! | `OTEL_RESOURCE_ATTRIBUTES` | | `k=v,k2=v2`, percent-decoded; one bad entry discards all |
//! | `OTEL_TRACES_SAMPLER` (`_ARG`) | `parentbased_always_on` | `always_on`, `always_off`, `traceidratio`, `parentbased_*`; ratio in \[0, 1\]; an argument for another sampler warns |
//! | `OTEL_TRACES_EXPORTER` | `otlp` | `otlp`, `console` (a line per span, printed as it ends), `none` (wins in a list, with a warning); of a list of others the first is used, with a warning |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` | `http://localhost:4318` | base gets `/v1/traces`; `TRACES_` used as is |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | | `k=v,k2=v2`, percent-decoded; framing headers and non-ASCII values warn, values never shown |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | `10000` ms | one deadline per export, retries and waits included; `0`: none |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `none` | `gzip`, `none` |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `http/protobuf` | `http/json`; `grpc` is not supported (warning; ignored like any invalid value) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | webpki roots | PEM file of the CA(s) that verify the collector, trusted *instead of* the webpki roots |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` / `_CLIENT_KEY` | | PEM files for mutual TLS: the certificate (chain) and its unencrypted key; both or neither |
//! | `OTEL_BSP_SCHEDULE_DELAY` / `_EXPORT_TIMEOUT` | 5000 / 30000 ms | a delay of `0`: each span exported as it ends; an export timeout of `0`: none |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` / `_MAX_EXPORT_BATCH_SIZE` | 2048 / 512 | a larger queue is capped at 65536; a batch larger than the queue is ignored |
//! | `OTEL_BSP_MAX_CONCURRENT_EXPORTS` | 1 | requests in flight at once (opentelemetry_sdk's variable); more than 16 is capped at 16 |
//! | `OTEL_PROPAGATORS` | `tracecontext,baggage` | also `b3`, `b3multi`, `jaeger`, `none`; others (`xray`, ...) warn and are skipped; none usable: the default |
//! | `PICOTRACE_ARENA_SPANS` | 2048 | read when picotrace-std is compiled ([`crate::ARENA_SPANS`]); set at run time to another size it warns and changes nothing |
//! | `PICOTRACE_SPAN_ATTRIBUTES`, `PICOTRACE_SPAN_EVENTS`, `PICOTRACE_SPAN_LINKS`, `PICOTRACE_SPAN_TEXT` | 16, 8, 4, 512 | what one span holds, read when picotrace-std is compiled ([`crate::SPAN_ATTRIBUTES`] and the others), as `PICOTRACE_ARENA_SPANS` is |
//! | `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` | RFC 9110's methods, `PATCH`, `QUERY` | replaces the methods HTTP spans record by name (others are `_OTHER`); read once by [`known_http_methods`](crate::known_http_methods), not here |
//! | `OTEL_[SPAN_]ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, `OTEL_[SPAN_]ATTRIBUTE_VALUE_LENGTH_LIMIT` | 128 / unlimited | `OTEL_ATTRIBUTE_COUNT_LIMIT` is the fallback of the span's, events' and links' attribute counts. A span of picotrace-std's arena holds at most 16 attributes (its events' and links' included), 8 events, 4 links and 512 bytes of text unless `PICOTRACE_SPAN_*` said otherwise when it was compiled: a limit above that is warned about, and what does not fit is dropped and counted |
//!
//! The signal-specific `OTEL_EXPORTER_OTLP_TRACES_*` variables win over the general
//! ones; an invalid signal-specific value falls back to the general variable, except
//! for headers, which go only to the endpoint they were set for: traces headers with
//! no usable header (separators alone count as unset) leave the general ones out when
//! a traces endpoint is set, the headers of an invalid endpoint are not sent to the one
//! used instead, and entries with an empty value are skipped (a bare base64 token's
//! padding reads as `=`).
//! Certificate and key files are read and checked here: one that cannot be read or
//! used is a warning that names the file (never its content) and is not used.
//!
//! ```
//! use picotrace_std::env::{EnvConfig, TracesExporter};
//! let vars = [
//!     ("OTEL_SERVICE_NAME", "checkout"),
//!     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
//!     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
//!     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
//!     ("OTEL_BSP_MAX_QUEUE_SIZE", "lots"),
//! ];
//! let env = EnvConfig::from_lookup(|name| {
//!     vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
//! });
//! assert_eq!(env.service_name, "checkout");
//! assert_eq!(env.exporter, TracesExporter::Otlp);
//! assert_eq!(env.otlp.traces_url, "http://collector:4318/v1/traces");
//! assert_eq!(env.batch.max_queue_size, 2048);
//! assert_eq!(env.warnings[0].variable, "OTEL_BSP_MAX_QUEUE_SIZE");
//! ```
//!
//! # Leaked strings
//! Core's [`TracerConfig`] holds `&'static str`s. [`EnvConfig::tracer_config`] leaks
//! the service name and the resource attributes to get them: once per call, so call it
//! (or [`init_from_env`]) once at start-up.

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use picotrace::{KeyValue, RootSampler, Sampler, SpanLimits, TracerConfig, Value};

use crate::batch::{BatchConfig, BatchExporter};
use crate::console::ConsoleExporter;
use crate::error::ExportError;
use crate::otlp_http::tls::{self, Item, PemSource};
use crate::otlp_http::{
    check_header, signal_url, traces_url_from_base, validate_url, Compression, OtlpHttpExporter,
    OtlpHttpExporterBuilder, Protocol, RedactedHeaders, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT,
};
use crate::retry::MAX_DURATION;
use crate::tracer::{SharedExporter, TracerProvider, TracerProviderBuilder};

/// A variable whose value was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvWarning {
    /// The variable's name.
    pub variable: String,
    /// Its value as read.
    pub value: String,
    /// What is wrong and what is used instead.
    pub message: String,
}

impl fmt::Display for EnvWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "picotrace: {}={:?}: {}",
            self.variable, self.value, self.message
        )
    }
}

/// Where spans go (`OTEL_TRACES_EXPORTER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TracesExporter {
    /// OTLP/HTTP through a batch exporter (the default).
    #[default]
    Otlp,
    /// One line per span on stdout.
    Console,
    /// Nowhere (spans still record and propagate).
    None,
}

/// Which formats are read from and written to headers (`OTEL_PROPAGATORS`): the
/// propagation helpers of [`TracerProvider`] (and [`crate::propagators`] for the global
/// one) go through it.
pub use picotrace::propagation::{Propagator, Propagators};

/// The OTLP exporter settings. `Debug` shows header names only (values may be secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full traces URL, endpoint rules applied.
    pub traces_url: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Time one export may take, every attempt and retry wait included.
    pub timeout: Duration,
    /// Body compression.
    pub compression: Compression,
    /// Body encoding.
    pub protocol: Protocol,
    /// PEM file of the CA certificates that verify the collector (`None`: the webpki
    /// roots).
    pub certificate: Option<PathBuf>,
    /// PEM file of the client certificate for mutual TLS (set together with
    /// `client_key`).
    pub client_certificate: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub client_key: Option<PathBuf>,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("traces_url", &self.shown_url())
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("protocol", &self.protocol)
            .field("certificate", &self.certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            traces_url: traces_url_from_base(DEFAULT_ENDPOINT),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            compression: Compression::None,
            protocol: Protocol::HttpProtobuf,
            certificate: None,
            client_certificate: None,
            client_key: None,
        }
    }
}

impl OtlpConfig {
    /// The traces URL as it may be shown (a log line, a start-up message): credentials
    /// in it (`user:password@`) and its query, which may carry an API key, read
    /// `REDACTED`, as in this type's `Debug`.
    ///
    /// ```
    /// let mut otlp = picotrace_std::EnvConfig::from_lookup(|_| None).otlp;
    /// otlp.traces_url = "https://user:pw@collector:4318/v1/traces?api_key=k".into();
    /// assert!(!otlp.shown_url().contains("pw"));
    /// assert!(!otlp.shown_url().contains("api_key=k"));
    /// ```
    pub fn shown_url(&self) -> std::borrow::Cow<'_, str> {
        crate::otlp_http::redacted_url(&self.traces_url)
    }

    /// Returns an exporter builder with these settings.
    pub fn builder(&self) -> OtlpHttpExporterBuilder {
        let mut builder = OtlpHttpExporter::builder()
            .traces_endpoint(self.traces_url.clone())
            .headers(self.headers.iter().cloned())
            .timeout(self.timeout)
            .compression(self.compression)
            .protocol(self.protocol);
        if let Some(ca) = &self.certificate {
            builder = builder.ca_certificate_file(ca);
        }
        if let (Some(cert), Some(key)) = (&self.client_certificate, &self.client_key) {
            builder = builder.client_certificate_files(cert, key);
        }
        builder
    }
}

/// Everything the `OTEL_*` variables configure.
#[derive(Clone, Debug)]
pub struct EnvConfig {
    /// `OTEL_SDK_DISABLED`.
    pub disabled: bool,
    /// The service name (`OTEL_SERVICE_NAME`, else `service.name` of the resource
    /// attributes, else `unknown_service:<executable>`).
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES` without `service.name`, decoded.
    pub resource_attributes: Vec<(String, String)>,
    /// `OTEL_TRACES_SAMPLER` with its argument.
    pub sampler: Sampler,
    /// `OTEL_TRACES_EXPORTER`.
    pub exporter: TracesExporter,
    /// `OTEL_EXPORTER_OTLP_*`.
    pub otlp: OtlpConfig,
    /// `OTEL_BSP_*`.
    pub batch: BatchConfig,
    /// `OTEL_PROPAGATORS`.
    pub propagators: Propagators,
    /// The span limits variables.
    pub limits: SpanLimits,
    /// What was wrong, in the order read.
    pub warnings: Vec<EnvWarning>,
}

impl EnvConfig {
    /// Reads the configuration through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::read(&lookup, &|_| false)
    }

    /// [`EnvConfig::from_lookup`], where `unreadable` names the variables that are set
    /// to a value `lookup` could not give (not UTF-8): unset for every setting, but
    /// set for the rule that keeps credentials from going to an endpoint they were not
    /// set for (found by review: a non-UTF-8 endpoint sent its headers to the default).
    fn read(lookup: &dyn Fn(&str) -> Option<String>, unreadable: &dyn Fn(&str) -> bool) -> Self {
        let mut r = Reader {
            lookup,
            unreadable,
            warnings: Vec::new(),
        };
        let disabled = r.boolean("OTEL_SDK_DISABLED");
        let mut resource_attributes = r.resource_attributes();
        let attr_service = resource_attributes
            .iter()
            .rposition(|(k, _)| k == "service.name")
            .map(|i| resource_attributes[i].1.clone());
        resource_attributes.retain(|(k, _)| k != "service.name");
        // A blank name is no name: the spec's fallback is `unknown_service:<exe>`.
        let named = |name: &String| !name.trim().is_empty();
        let service_name = r
            .get("OTEL_SERVICE_NAME")
            .filter(named)
            .or(attr_service.filter(named))
            .unwrap_or_else(|| crate::tracer::unknown_service().to_owned());
        let sampler = r.sampler();
        let exporter = r.exporter();
        let otlp = r.otlp();
        let batch = r.batch();
        let propagators = r.propagators();
        let limits = r.limits();
        r.arena_spans_at_run_time();
        Self {
            disabled,
            service_name,
            resource_attributes,
            sampler,
            exporter,
            otlp,
            batch,
            propagators,
            limits,
            warnings: r.warnings,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_os_lookup(|name: &str| std::env::var_os(name))
    }

    /// Reads the configuration through `lookup`, which may return values that are not
    /// UTF-8 (the process environment): such a value is ignored, with a warning, as
    /// any invalid value is (it used to be read with U+FFFD in place of its bad bytes:
    /// a certificate path that named no file, a service name nobody set).
    pub fn from_os_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let not_utf8 = std::cell::RefCell::new(Vec::new());
        let is_not_utf8 = |name: &str| lookup(name).is_some_and(|v| v.to_str().is_none());
        let lookup_utf8 = |name: &str| match lookup(name)?.into_string() {
            Ok(value) => Some(value),
            Err(value) => {
                let mut seen = not_utf8.borrow_mut();
                if !seen.iter().any(|(n, _): &(String, String)| n == name) {
                    let lossy = value.to_string_lossy();
                    // Header values may be API keys, shown by name only here too.
                    let shown = if name.ends_with("_HEADERS") {
                        redact_pairs(&lossy)
                    } else {
                        shown_value(name, &lossy)
                    };
                    seen.push((name.to_owned(), shown));
                }
                None
            }
        };
        let mut config = Self::read(&lookup_utf8, &is_not_utf8);
        for (variable, value) in not_utf8.into_inner() {
            config.warnings.push(EnvWarning {
                variable,
                value,
                message: "not valid UTF-8; ignored".into(),
            });
        }
        config
    }

    /// Returns the core tracer configuration: service, resource attributes, sampler,
    /// limits, enabled. Leaks the strings (see the module docs).
    pub fn tracer_config(&self) -> TracerConfig {
        let service: &'static str = leak_str(&self.service_name);
        let attributes: Vec<KeyValue<'static>> = self
            .resource_attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: leak_str(k),
                value: Value::Str(leak_str(v)),
            })
            .collect();
        let attributes: &'static [KeyValue<'static>] = Box::leak(attributes.into_boxed_slice());
        TracerConfig::new(service)
            .with_resource_attributes(attributes)
            .with_sampler(self.sampler)
            .with_limits(self.limits)
            .with_enabled(!self.disabled)
    }

    /// Builds the shared exporter: a batch exporter over OTLP/HTTP, a console
    /// exporter, or none (also when the SDK is disabled).
    ///
    /// # Errors
    /// [`ExportError`] when the OTLP exporter or the batch thread cannot be created.
    pub fn shared_exporter(&self) -> Result<SharedExporter, ExportError> {
        if self.disabled {
            return Ok(SharedExporter::Discard);
        }
        Ok(match self.exporter {
            TracesExporter::Otlp => {
                let otlp = self.otlp.builder().build()?;
                BatchExporter::builder(otlp)
                    .config(self.batch)
                    .build()?
                    .into()
            }
            TracesExporter::Console => SharedExporter::new(ConsoleExporter::stdout()),
            TracesExporter::None => SharedExporter::Discard,
        })
    }

    /// Builds a provider from this configuration (leaks strings, see the module docs).
    ///
    /// # Errors
    /// As [`EnvConfig::shared_exporter`].
    #[must_use = "dropping the provider shuts it down"]
    pub fn build_provider(&self) -> Result<TracerProvider, ExportError> {
        Ok(self.provider_builder()?.build())
    }

    /// Builds the provider and installs it as the global one, unless one was installed
    /// before (see [`TracerProviderBuilder::install`](crate::TracerProviderBuilder::install)).
    ///
    /// # Errors
    /// As [`EnvConfig::shared_exporter`].
    pub fn install(&self) -> Result<&'static TracerProvider, ExportError> {
        Ok(self.provider_builder()?.install())
    }

    /// Returns a provider builder with the tracer configuration, the exporter and the
    /// propagators (`OTEL_PROPAGATORS`) of this configuration.
    ///
    /// # Errors
    /// As [`EnvConfig::shared_exporter`].
    pub fn provider_builder(&self) -> Result<TracerProviderBuilder, ExportError> {
        // The schedule and the batch size (`OTEL_BSP_*`) drive the provider's export
        // thread whatever the exporter (the console's batch is one span, below): not only a batch exporter's (a batch exporter
        // set on the builder later keeps its own).
        let batch = self.batch;
        // The console exporter prints each span as it ends: the spec pairs the standard
        // output exporter with a simple processor by default (a batch of 512 or 5 s made
        // a span wait, and spans not yet printed were lost at an exit without shutdown).
        let batch_size = match self.exporter {
            TracesExporter::Console => 1,
            _ => batch.max_export_batch_size,
        };
        Ok(TracerProvider::builder()
            .config(self.tracer_config())
            .env_schedule(batch.scheduled_delay, batch_size, batch.export_timeout)
            .exporter(self.shared_exporter()?)
            .propagators(self.propagators))
    }
}

/// Reads `OTEL_*` from the process environment, prints each warning to stderr, builds
/// the sampler and exporter, and installs the provider as the [`crate::global`] one
/// (unless one was installed before: the first stays global, and stderr says so).
///
/// The provider lives as long as the process and is never dropped: shut it down before
/// exit (or keep [`TracerProvider::shutdown_on_drop`]'s guard in `main`), else the
/// spans waiting for export are lost uncounted; call it after any `fork` (see
/// [`TracerProviderBuilder::install`](crate::TracerProviderBuilder::install)).
///
/// ```no_run
/// let provider = picotrace_std::init_from_env()?;
/// let _shutdown = provider.shutdown_on_drop(); // also on an early return or a panic
/// let span = provider.tracer().start_span("main");
/// span.end();
/// provider.shutdown()?; // or let the guard do it
/// # Ok::<(), picotrace_std::ExportError>(())
/// ```
///
/// # Errors
/// [`ExportError`] when the exporter cannot be created (the batch thread cannot be
/// spawned); invalid variables are warnings, not errors.
pub fn init_from_env() -> Result<&'static TracerProvider, ExportError> {
    let env = EnvConfig::from_env();
    for warning in &env.warnings {
        // Not `eprintln!`: a stderr that cannot be written must not panic the program.
        let _ = writeln!(std::io::stderr(), "{warning}");
    }
    env.install()
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `value` of `variable` as warnings show it: an endpoint without the credentials or
/// query it may hold (the callers show header variables by name already).
fn shown_value(variable: &str, value: &str) -> String {
    if variable.ends_with("_ENDPOINT") {
        crate::otlp_http::redacted_url(value).into_owned()
    } else {
        value.to_owned()
    }
}

/// Parses `k=v,k2=v2` (keys and values trimmed and percent-decoded; empty members
/// skipped). Returns the pairs and the members that were invalid.
fn parse_pairs(s: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut bad = Vec::new();
    for member in s.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let parsed = member.split_once('=').and_then(|(k, v)| {
            let k = percent_decode(k.trim())?;
            let v = percent_decode(v.trim())?;
            (!k.is_empty()).then_some((k, v))
        });
        match parsed {
            Some(pair) => pairs.push(pair),
            None => bad.push(member.to_owned()),
        }
    }
    (pairs, bad)
}

/// Returns the reason of an [`ExportError::InvalidTls`] (the variable's value already
/// names the file).
fn tls_reason(e: ExportError) -> String {
    match e {
        ExportError::InvalidTls { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// How a warning about an invalid value says what is used instead (`; using the
/// default`), rewritten by `first_valid` when a later variable is used.
const USING: &str = "; using ";
/// The client certificate's fallback: none is sent.
const NONE_SENT: &str = "no client certificate is sent";

/// Returns `k=v,k2=v2` as `k=<redacted>,k2=<redacted>` (a member without `=` becomes
/// `<redacted>`): what warnings about header variables may show.
fn redact_pairs(s: &str) -> String {
    let members: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| match m.split_once('=') {
            // Not `k=` with nothing after it: a bare base64 token's padding (the
            // "name" is then the secret).
            Some((k, v)) if !v.trim_matches('=').trim().is_empty() => {
                format!("{}=<redacted>", shown_header_name(k))
            }
            _ => "<redacted>".to_owned(),
        })
        .collect();
    members.join(",")
}

/// A header name as warnings may show it: only when it is a valid one. What stands
/// before the `=` of `Authorization: Basic dXNlcjpw=` (the `Name: value` form, a
/// base64 secret ending in padding) is the secret itself.
pub(crate) fn shown_header_name(name: &str) -> &str {
    let name = name.trim();
    if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
        name
    } else {
        "<redacted>"
    }
}

const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const GENERAL_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
const GENERAL_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// Which variable the traces URL came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EndpointFrom {
    Signal,
    General,
    Default,
}

struct Reader<'f> {
    lookup: &'f dyn Fn(&str) -> Option<String>,
    /// Set, but to a value `lookup` could not give (see [`EnvConfig::read`]).
    unreadable: &'f dyn Fn(&str) -> bool,
    warnings: Vec<EnvWarning>,
}

impl Reader<'_> {
    /// Returns the trimmed value, `None` when unset or empty.
    fn get(&self, name: &str) -> Option<String> {
        let v = (self.lookup)(name)?;
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// Whether the variable is set to something: a value, or one that could not be
    /// read (not UTF-8).
    fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some() || (self.unreadable)(name)
    }

    /// Records a warning, once (a variable read as the fallback of several settings
    /// is read several times).
    fn warn(&mut self, variable: &str, value: &str, message: impl Into<String>) {
        let warning = EnvWarning {
            variable: variable.to_owned(),
            value: shown_value(variable, value),
            message: message.into(),
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Reads the first of `names` that is set and valid with `parse`. The warnings
    /// about invalid ones before it name it as what is used instead (not the default).
    fn first_valid<T>(
        &mut self,
        names: &[&str],
        mut parse: impl FnMut(&mut Self, &str, &str) -> Option<T>,
    ) -> Option<T> {
        let first_warning = self.warnings.len();
        for name in names {
            let Some(v) = self.get(name) else {
                continue;
            };
            let before = self.warnings.len();
            if let Some(t) = parse(self, name, &v) {
                for w in &mut self.warnings[first_warning..before] {
                    // What the warning said happens instead: "; using the default",
                    // "; no client certificate is sent", ...
                    let fallback = [USING, &format!("; {NONE_SENT}")]
                        .iter()
                        .filter_map(|f| w.message.rfind(*f))
                        .max();
                    if let Some(at) = fallback {
                        w.message.truncate(at);
                        w.message.push_str(&format!("; using {name} instead"));
                    }
                }
                return Some(t);
            }
        }
        None
    }

    /// A boolean: `true` (any case) is true, `false` false; anything else warns and is
    /// false, as the spec asks ("MUST NOT extend this definition and define additional
    /// values that are interpreted as true": read untrimmed, so ` true ` is not).
    fn boolean(&mut self, name: &str) -> bool {
        // Blank is unset, as for every other variable (found by review: it warned).
        let Some(v) = (self.lookup)(name).filter(|v| !v.trim().is_empty()) else {
            return false;
        };
        if v.eq_ignore_ascii_case("true") {
            true
        } else {
            if !v.eq_ignore_ascii_case("false") {
                self.warn(name, &v, "expected true or false; using false");
            }
            false
        }
    }

    /// A non-negative integer (`min` or more); warns and returns `None` otherwise.
    fn integer(&mut self, name: &str, min: u64, what: &str) -> Option<u64> {
        let v = self.get(name)?;
        match v.parse::<u64>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                let msg = if min == 0 {
                    format!("expected a non-negative integer ({what}); using the default")
                } else {
                    format!("expected an integer of at least {min} ({what}); using the default")
                };
                self.warn(name, &v, msg);
                None
            }
        }
    }

    fn millis(&mut self, name: &str, min: u64) -> Option<Duration> {
        self.integer(name, min, "milliseconds")
            .map(Duration::from_millis)
    }

    /// A timeout in milliseconds; `0` means none (the SDK environment spec: "timeout
    /// zero values [...] as indefinite"), which is [`MAX_DURATION`].
    fn timeout(&mut self, name: &str) -> Option<Duration> {
        self.millis(name, 0)
            .map(|d| if d.is_zero() { MAX_DURATION } else { d })
    }

    fn resource_attributes(&mut self) -> Vec<(String, String)> {
        const NAME: &str = "OTEL_RESOURCE_ATTRIBUTES";
        let Some(v) = self.get(NAME) else {
            return Vec::new();
        };
        let (pairs, bad) = parse_pairs(&v);
        if bad.is_empty() {
            return pairs;
        }
        // Resource SDK spec: "In case of any error [...] the entire environment variable
        // value SHOULD be discarded".
        self.warn(
            NAME,
            &v,
            format!(
                "invalid entry {:?} (expected key=value, percent-encoded); ignoring the variable",
                bad[0]
            ),
        );
        Vec::new()
    }

    fn sampler(&mut self) -> Sampler {
        const NAME: &str = "OTEL_TRACES_SAMPLER";
        let default = Sampler::parent_based(RootSampler::AlwaysOn);
        let Some(v) = self.get(NAME) else {
            return default;
        };
        let name = v.to_ascii_lowercase();
        // The spec: "Invalid or unrecognized input MUST be logged"; an argument for a
        // sampler that takes none is ignored with a word (found by review: silently).
        // An unsupported or unknown sampler's own warning covers its argument (found
        // by review: jaeger_remote, which takes one, was said to take none).
        let takes_none = matches!(
            name.as_str(),
            "always_on" | "always_off" | "parentbased_always_on" | "parentbased_always_off"
        );
        if takes_none {
            if let Some(arg) = self.get("OTEL_TRACES_SAMPLER_ARG") {
                self.warn(
                    "OTEL_TRACES_SAMPLER_ARG",
                    &arg,
                    format!("{v} takes no argument; ignored"),
                );
            }
        }
        match name.as_str() {
            "always_on" => Sampler::ALWAYS_ON,
            "always_off" => Sampler::ALWAYS_OFF,
            "traceidratio" => Sampler::Root(Sampler::trace_id_ratio(self.ratio())),
            "parentbased_always_on" => default,
            "parentbased_always_off" => Sampler::parent_based(RootSampler::AlwaysOff),
            "parentbased_traceidratio" => {
                Sampler::parent_based(Sampler::trace_id_ratio(self.ratio()))
            }
            "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
                self.warn(
                    NAME,
                    &v,
                    "sampler not supported; using parentbased_always_on",
                );
                default
            }
            _ => {
                self.warn(NAME, &v, "unknown sampler; using parentbased_always_on");
                default
            }
        }
    }

    fn ratio(&mut self) -> f64 {
        const NAME: &str = "OTEL_TRACES_SAMPLER_ARG";
        let Some(v) = self.get(NAME) else {
            return 1.0;
        };
        match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                self.warn(NAME, &v, "expected a ratio between 0 and 1; using 1.0");
                1.0
            }
        }
    }

    fn exporter(&mut self) -> TracesExporter {
        const NAME: &str = "OTEL_TRACES_EXPORTER";
        let Some(v) = self.get(NAME) else {
            return TracesExporter::Otlp;
        };
        let mut chosen = Vec::new();
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "otlp" => chosen.push(TracesExporter::Otlp),
                "console" => chosen.push(TracesExporter::Console),
                "logging" => {
                    // The spec: "a deprecated value left for backwards compatibility.
                    // It SHOULD NOT be supported by new implementations." Still read
                    // as the console, as it was meant, but not in silence.
                    self.warn(NAME, &v, "\"logging\" is deprecated; using console");
                    chosen.push(TracesExporter::Console);
                }
                "none" => chosen.push(TracesExporter::None),
                "zipkin" | "jaeger" => {
                    self.warn(
                        NAME,
                        &v,
                        format!("exporter {item:?} is not supported; skipped"),
                    );
                }
                _ => self.warn(NAME, &v, format!("unknown exporter {item:?}; skipped")),
            }
        }
        chosen.dedup();
        if chosen.contains(&TracesExporter::None) {
            // `none` wins (the spec: "no automatically configured exporter"), but a list
            // that also names exporters was likely not meant to export nothing.
            if chosen.iter().any(|e| *e != TracesExporter::None) {
                self.warn(NAME, &v, "\"none\" with other exporters; exporting nothing");
            }
            return TracesExporter::None;
        }
        match chosen.as_slice() {
            [] => {
                self.warn(NAME, &v, "no supported exporter; using otlp");
                TracesExporter::Otlp
            }
            [one] => *one,
            [first, ..] => {
                self.warn(
                    NAME,
                    &v,
                    format!("only one exporter is supported; using {first:?}"),
                );
                *first
            }
        }
    }

    /// Reads the signal-specific variable, then the general one, with `parse`;
    /// invalid values warn and fall through.
    fn signal_first<T>(
        &mut self,
        suffix: &str,
        parse: impl FnMut(&mut Self, &str, &str) -> Option<T>,
    ) -> Option<T> {
        let signal = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
        let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
        self.first_valid(&[&signal, &general], parse)
    }

    /// The traces URL from `OTEL_EXPORTER_OTLP_ENDPOINT` (a base: `/v1/traces` added),
    /// `None` when it is unset or invalid (warned).
    fn general_traces_url(&mut self) -> Option<String> {
        let v = self.get(GENERAL_ENDPOINT)?;
        let url = traces_url_from_base(&v);
        let url = self.checked_url(GENERAL_ENDPOINT, &v, url)?;
        // The spec appends the path to a base URL whatever it holds; a base that names
        // it already sends to `/v1/traces/v1/traces`, which a collector answers with
        // 404s: said once, at start (found by review).
        if url.contains("/v1/traces/v1/traces") {
            self.warn(
                GENERAL_ENDPOINT,
                &v,
                format!(
                    "a base URL, to which /v1/traces is added: spans go to {}; \
                     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT takes the full URL",
                    crate::otlp_http::redacted_url(&url)
                ),
            );
        }
        Some(url)
    }

    /// Reads one headers variable: `None` when unset or as good as empty (separators
    /// alone), else its usable headers (possibly none: each bad entry is warned).
    fn headers_var(&mut self, name: &str) -> Option<Vec<(String, String)>> {
        let Some(v) = self.get(name) else {
            // Not UTF-8 (warned by `from_os_lookup`): set, with no usable header.
            return (self.unreadable)(name).then(Vec::new);
        };
        // Header values may be API keys: warnings show the names only.
        let shown = redact_pairs(&v);
        let (pairs, bad) = parse_pairs(&v);
        for _ in &bad {
            self.warn(
                name,
                &shown,
                "a header that is not name=value, or has a % escape that is not \
                 UTF-8 (not shown); skipped",
            );
        }
        let mut valid = Vec::new();
        let mut invalid = !bad.is_empty();
        for (k, val) in pairs {
            // `key=` from an unset `${KEY}`, or a bare base64 token whose padding reads
            // as `=`: the "name" may then be the secret, so it is not shown.
            const EMPTY: &str =
                "an empty value (the name not shown: a bare token ending in = reads as one); skipped";
            // A value of `=`s alone is base64 padding (`token==`), not a value.
            let empty = val.trim_matches('=').trim().is_empty();
            let checked = check_header(&k, &val).and(if empty { Err(EMPTY) } else { Ok(()) });
            match checked {
                Ok(()) => {
                    // A name given again: its last value is sent, as a map keeps it
                    // (found by review: both went out).
                    if valid
                        .iter()
                        .any(|(n, _): &(String, String)| n.trim().eq_ignore_ascii_case(k.trim()))
                    {
                        let shown_k = shown_header_name(&k);
                        self.warn(
                            name,
                            &shown,
                            format!("header {shown_k:?} given more than once; the last is sent"),
                        );
                        valid.retain(|(n, _)| !n.trim().eq_ignore_ascii_case(k.trim()));
                    }
                    valid.push((k, val));
                }
                Err(reason) => {
                    invalid = true;
                    // A bad last value of a name does not leave an earlier one to be
                    // sent (an old credential: found by review): the name goes unsent.
                    valid.retain(|(n, _)| !n.trim().eq_ignore_ascii_case(k.trim()));
                    let k = if empty {
                        "<redacted>"
                    } else {
                        shown_header_name(&k)
                    };
                    self.warn(name, &shown, format!("header {k:?}: {reason}"));
                }
            }
        }
        // A value of separators alone is as good as empty (the spec: empty is unset).
        if valid.is_empty() && !invalid {
            self.warn(name, &shown, "no header in the value; ignored");
            return None;
        }
        Some(valid)
    }

    /// Warns that the headers of `variable` are not sent, and why, if it gave any
    /// (`parsed`: what [`Reader::headers_var`] read; a blank value was warned already).
    fn headers_withheld(
        &mut self,
        variable: &str,
        parsed: &Option<Vec<(String, String)>>,
        why: &str,
    ) {
        if parsed.is_some() {
            let shown = self
                .get(variable)
                .map_or_else(String::new, |v| redact_pairs(&v));
            self.warn(variable, &shown, format!("not sent: {why}"));
        }
    }

    /// The headers sent with each export. Credentials go only to the endpoint they were
    /// set beside (found by review: a typo in one variable sent another's API key to
    /// another host):
    /// - `OTEL_EXPORTER_OTLP_TRACES_HEADERS` wins when set; when it has no usable
    ///   header, the general variable stands in only if the spans go to the general
    ///   endpoint (no `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), else nothing is sent;
    /// - `OTEL_EXPORTER_OTLP_HEADERS` applies when the traces one is unset (the spec's
    ///   fallback), and when it holds separators alone (as good as empty, which the
    ///   spec reads as unset);
    /// - the headers of a traces endpoint that was set but is invalid are not sent (the
    ///   general headers go to the general endpoint then), and a default endpoint that
    ///   the spans reach only because the endpoints set were invalid gets no headers.
    ///
    /// A variable that is set but not UTF-8 counts as set with no usable header here.
    fn otlp_headers(
        &mut self,
        from: EndpointFrom,
        signal_endpoint_set: bool,
        skipped_endpoints: &[&str],
    ) -> Vec<(String, String)> {
        let signal = self.headers_var(TRACES_HEADERS);
        let general = self.headers_var(GENERAL_HEADERS);
        if from == EndpointFrom::Default && !skipped_endpoints.is_empty() {
            let why = format!(
                "the endpoint set ({}) is invalid, and the default endpoint the spans \
                 go to instead gets no credentials",
                skipped_endpoints.join(", ")
            );
            self.headers_withheld(TRACES_HEADERS, &signal, &why);
            self.headers_withheld(GENERAL_HEADERS, &general, &why);
            return Vec::new();
        }
        if from == EndpointFrom::General && signal_endpoint_set {
            self.headers_withheld(
                TRACES_HEADERS,
                &signal,
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the endpoint they were set for, \
                 is invalid",
            );
            return general.unwrap_or_default();
        }
        match (signal, general) {
            (Some(none), general) if none.is_empty() => {
                let usable = general.as_ref().is_some_and(|g| !g.is_empty());
                if from == EndpointFrom::Signal {
                    self.headers_withheld(
                        GENERAL_HEADERS,
                        &general.filter(|_| usable),
                        "OTEL_EXPORTER_OTLP_TRACES_HEADERS is set (with no usable header) \
                         and the spans go to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which the \
                         general headers may not be meant for",
                    );
                    return Vec::new();
                }
                if usable {
                    for w in &mut self.warnings {
                        let dropped =
                            w.message.ends_with("; skipped") || w.message.ends_with("; refused");
                        if w.variable == TRACES_HEADERS && dropped {
                            w.message
                                .push_str("; using OTEL_EXPORTER_OTLP_HEADERS instead");
                        }
                    }
                }
                general.unwrap_or_default()
            }
            (Some(signal), _) => signal,
            (None, general) => general.unwrap_or_default(),
        }
    }

    /// `PICOTRACE_ARENA_SPANS` and `PICOTRACE_SPAN_*` size the arena when picotrace-std
    /// is compiled; set at run time (beside the `OTEL_*` variables of a deployment) they
    /// change nothing, and say so when they ask for another size (found by review:
    /// silently ignored).
    fn arena_spans_at_run_time(&mut self) {
        for (name, built) in [
            ("PICOTRACE_ARENA_SPANS", crate::ARENA_SPANS),
            ("PICOTRACE_SPAN_ATTRIBUTES", crate::SPAN_ATTRIBUTES),
            ("PICOTRACE_SPAN_EVENTS", crate::SPAN_EVENTS),
            ("PICOTRACE_SPAN_LINKS", crate::SPAN_LINKS),
            ("PICOTRACE_SPAN_TEXT", crate::SPAN_TEXT),
        ] {
            let Some(v) = self.get(name) else { continue };
            if v.parse::<usize>() != Ok(built) {
                self.warn(
                    name,
                    &v,
                    format!(
                        "read when picotrace-std is compiled, not at run time: this build \
                         has {built} (set it for `cargo build`)"
                    ),
                );
            }
        }
    }

    fn otlp(&mut self) -> OtlpConfig {
        let defaults = OtlpConfig::default();
        let signal_set = self.is_set(TRACES_ENDPOINT);
        let general_set = self.is_set(GENERAL_ENDPOINT);
        let from_signal = self.get(TRACES_ENDPOINT).and_then(|v| {
            let url = signal_url(&v);
            self.checked_url(TRACES_ENDPOINT, &v, url)
        });
        let (traces_url, from) = match from_signal {
            Some(url) => (url, EndpointFrom::Signal),
            None => match self.general_traces_url() {
                Some(url) => (url, EndpointFrom::General),
                None => (defaults.traces_url, EndpointFrom::Default),
            },
        };
        // An endpoint that was set but is invalid falls back to the next (spec: invalid
        // is unset); its warning says where the spans go instead.
        let mut skipped = Vec::new();
        if signal_set && from != EndpointFrom::Signal {
            skipped.push(TRACES_ENDPOINT);
        }
        if general_set && from == EndpointFrom::Default {
            skipped.push(GENERAL_ENDPOINT);
        }
        for name in &skipped {
            let shown = crate::otlp_http::redacted_url(&traces_url).into_owned();
            for w in self.warnings.iter_mut().filter(|w| w.variable == *name) {
                if w.message.ends_with("; ignored") {
                    w.message.push_str(&format!(": spans go to {shown}"));
                }
            }
        }
        let headers = self.otlp_headers(from, signal_set, &skipped);
        let timeout = self
            .signal_first("TIMEOUT", |r, name, _| r.timeout(name))
            .unwrap_or(defaults.timeout);
        let compression = self
            .signal_first("COMPRESSION", |r, name, v| {
                match v.to_ascii_lowercase().as_str() {
                    "gzip" => Some(Compression::Gzip),
                    "none" => Some(Compression::None),
                    _ => {
                        r.warn(name, v, "expected gzip or none; using none");
                        None
                    }
                }
            })
            .unwrap_or(defaults.compression);
        let protocol = self
            .signal_first("PROTOCOL", |r, name, v| {
                match v.to_ascii_lowercase().as_str() {
                    "http/protobuf" => Some(Protocol::HttpProtobuf),
                    "http/json" => Some(Protocol::HttpJson),
                    "grpc" => {
                        let mut message = String::from(
                            "grpc is not supported: picotrace sends OTLP over HTTP \
                             (http/protobuf unless another variable says http/json) to the \
                             endpoint's OTLP/HTTP port (the collector's is 4318, not gRPC's 4317)",
                        );
                        // The usual way this goes wrong: a gRPC endpoint, where every
                        // export then fails (found by review: said only in general).
                        if url_port(&traces_url) == Some(4317) {
                            message.push_str(&format!(
                                "; the endpoint, {}, is on 4317: no span will arrive there",
                                crate::otlp_http::redacted_url(&traces_url)
                            ));
                        }
                        r.warn(name, v, message);
                        None
                    }
                    _ => {
                        r.warn(
                            name,
                            v,
                            "expected http/protobuf or http/json; using http/protobuf",
                        );
                        None
                    }
                }
            })
            .unwrap_or(defaults.protocol);
        let certificate = self.pem_file("CERTIFICATE", "using the webpki roots", |pem| {
            tls::root_certs(pem).map(drop)
        });
        let (client_certificate, client_key) = self.client_certificate();
        OtlpConfig {
            traces_url,
            headers,
            timeout,
            compression,
            protocol,
            certificate: certificate.map(|(_, path)| path),
            client_certificate,
            client_key,
        }
    }

    /// Reads the path in `OTEL_EXPORTER_OTLP_[TRACES_]{suffix}` and checks the file
    /// with `check`; returns the variable used and the path. A file that fails the
    /// check warns (`fallback` says what happens instead) and is not used.
    fn pem_file(
        &mut self,
        suffix: &str,
        fallback: &str,
        check: impl Fn(&PemSource) -> Result<(), ExportError>,
    ) -> Option<(String, PathBuf)> {
        self.signal_first(suffix, |r, name, v| {
            let path = PathBuf::from(v);
            match check(&PemSource::File(path.clone())) {
                Ok(()) => Some((name.to_owned(), path)),
                Err(e) => {
                    r.warn(name, v, format!("{}; {fallback}", tls_reason(e)));
                    None
                }
            }
        })
    }

    /// The client certificate and key for mutual TLS: both usable, and belonging
    /// together, or neither.
    fn client_certificate(&mut self) -> (Option<PathBuf>, Option<PathBuf>) {
        let cert = self.pem_file("CLIENT_CERTIFICATE", NONE_SENT, |pem| {
            pem.certificates(Item::ClientCertificate).map(drop)
        });
        let key = self.pem_file("CLIENT_KEY", NONE_SENT, |pem| pem.private_key().map(drop));
        match (cert, key) {
            (Some((_, cert)), Some((key_var, key))) => {
                let pair = tls::client_cert(
                    &PemSource::File(cert.clone()),
                    &PemSource::File(key.clone()),
                );
                match pair {
                    Ok(_) => (Some(cert), Some(key)),
                    Err(e) => {
                        let v = key.display().to_string();
                        self.warn(&key_var, &v, format!("{}; {NONE_SENT}", tls_reason(e)));
                        (None, None)
                    }
                }
            }
            (Some((var, path)), None) | (None, Some((var, path))) => {
                let v = path.display().to_string();
                self.warn(
                    &var,
                    &v,
                    "a client certificate needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE \
                     and OTEL_EXPORTER_OTLP_CLIENT_KEY (or their TRACES_ forms); \
                     no client certificate is sent",
                );
                (None, None)
            }
            (None, None) => (None, None),
        }
    }

    fn checked_url(&mut self, name: &str, value: &str, url: String) -> Option<String> {
        match validate_url(&url) {
            Ok(()) => Some(url),
            Err(ExportError::InvalidEndpoint { reason, .. }) => {
                self.warn(name, value, format!("{reason}; ignored"));
                None
            }
            Err(_) => {
                self.warn(name, value, "invalid URL; ignored");
                None
            }
        }
    }

    fn batch(&mut self) -> BatchConfig {
        let d = BatchConfig::DEFAULT;
        let mut c = d;
        c.scheduled_delay = self
            .millis("OTEL_BSP_SCHEDULE_DELAY", 0)
            .unwrap_or(d.scheduled_delay);
        c.export_timeout = self
            .timeout("OTEL_BSP_EXPORT_TIMEOUT")
            .unwrap_or(d.export_timeout);
        const QUEUE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
        c.max_queue_size = match self.integer(QUEUE, 1, "spans").map(to_usize) {
            Some(n) if n > BatchConfig::MAX_QUEUE_SIZE => {
                let v = n.to_string();
                let max = BatchConfig::MAX_QUEUE_SIZE;
                self.warn(
                    QUEUE,
                    &v,
                    format!("larger than the maximum queue size; using {max}"),
                );
                max
            }
            Some(n) => n,
            None => d.max_queue_size,
        };
        const BATCH: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
        let batch = self.integer(BATCH, 1, "spans").map(to_usize);
        c.max_export_batch_size = match batch {
            Some(n) if n > c.max_queue_size => {
                // Out of range: ignored, as if not set (the spec's numeric rule).
                let v = n.to_string();
                let default = d.max_export_batch_size.min(c.max_queue_size);
                self.warn(
                    BATCH,
                    &v,
                    // The queue size used, which a capped setting is not.
                    format!(
                        "must not exceed the queue size ({}); using {default}",
                        c.max_queue_size
                    ),
                );
                default
            }
            Some(n) => n,
            None => d.max_export_batch_size.min(c.max_queue_size),
        };
        // opentelemetry_sdk's name for it (not in the spec's table).
        const CONCURRENT: &str = "OTEL_BSP_MAX_CONCURRENT_EXPORTS";
        c.max_concurrent_exports = match self.integer(CONCURRENT, 1, "requests").map(to_usize) {
            Some(n) if n > BatchConfig::MAX_CONCURRENT_EXPORTS => {
                let v = n.to_string();
                let max = BatchConfig::MAX_CONCURRENT_EXPORTS;
                self.warn(
                    CONCURRENT,
                    &v,
                    format!("larger than the maximum; using {max}"),
                );
                max
            }
            Some(n) => n,
            None => d.max_concurrent_exports,
        };
        c
    }

    fn propagators(&mut self) -> Propagators {
        const NAME: &str = "OTEL_PROPAGATORS";
        let Some(v) = self.get(NAME) else {
            return Propagators::DEFAULT;
        };
        let mut p = Propagators::NONE;
        let items = || v.split(',').map(str::trim).filter(|s| !s.is_empty());
        if items().any(|item| item.eq_ignore_ascii_case("none")) {
            // `none` wins, as the spec's value says, but beside other propagators it
            // is most likely a mistake that cuts every trace here: said, not silent.
            if items().any(|item| !item.eq_ignore_ascii_case("none")) {
                self.warn(
                    NAME,
                    &v,
                    "\"none\" together with other propagators; propagating nothing",
                );
            }
            return Propagators::NONE;
        }
        for item in items() {
            match Propagator::from_name(item) {
                Some(one) => p.push(one),
                None if ["xray", "ottrace"]
                    .iter()
                    .any(|n| item.eq_ignore_ascii_case(n)) =>
                {
                    self.warn(
                        NAME,
                        &v,
                        format!("propagator {item:?} is not supported; skipped"),
                    );
                }
                None => self.warn(NAME, &v, format!("unknown propagator {item:?}; skipped")),
            }
        }
        if p == Propagators::NONE {
            // Nothing usable, and not `none`: an unrecognised setting is ignored (the
            // spec's enum rule), not taken as "propagate nothing", which would cut
            // every trace at this service.
            self.warn(
                NAME,
                &v,
                "no supported propagator; using tracecontext,baggage",
            );
            return Propagators::DEFAULT;
        }
        p
    }

    fn limits(&mut self) -> SpanLimits {
        use crate::StdArena;
        let d = SpanLimits::DEFAULT;
        let attributes = (
            StdArena::ATTRIBUTES_PER_SPAN,
            "attributes, its events' and links' included",
        );
        SpanLimits {
            attribute_count: self
                .limit_within(
                    &[
                        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                        "OTEL_ATTRIBUTE_COUNT_LIMIT",
                    ],
                    attributes,
                )
                .unwrap_or(d.attribute_count),
            event_count: self
                .limit_within(
                    &["OTEL_SPAN_EVENT_COUNT_LIMIT"],
                    (StdArena::EVENTS_PER_SPAN, "events"),
                )
                .unwrap_or(d.event_count),
            link_count: self
                .limit_within(
                    &["OTEL_SPAN_LINK_COUNT_LIMIT"],
                    (StdArena::LINKS_PER_SPAN, "links"),
                )
                .unwrap_or(d.link_count),
            attributes_per_event: self
                .limit_within(
                    &[
                        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                        "OTEL_ATTRIBUTE_COUNT_LIMIT",
                    ],
                    attributes,
                )
                .unwrap_or(d.attributes_per_event),
            attributes_per_link: self
                .limit_within(
                    &[
                        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                        "OTEL_ATTRIBUTE_COUNT_LIMIT",
                    ],
                    attributes,
                )
                .unwrap_or(d.attributes_per_link),
            value_length: self
                .limit_within(
                    &[
                        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                    ],
                    (StdArena::TEXT_PER_SPAN, "bytes of text in all"),
                )
                .unwrap_or(d.value_length),
        }
    }

    /// A count or length limit, `0..=u32::MAX`. A larger one is out of range: warned
    /// about and ignored (the spec: "SHOULD generate a warning and gracefully ignore
    /// the setting"; found by review: it was taken as `u32::MAX` without a word, while
    /// one past `u64::MAX` was warned about). One above what a span of picotrace-std's
    /// arena holds, `room`, is taken and warned about: the arena's room is fixed when
    /// it is compiled, and what does not fit is dropped (and counted) below the limit
    /// (found by a new user: `OTEL_SPAN_EVENT_COUNT_LIMIT=50` was taken without a word,
    /// and spans kept 8 events).
    fn limit_within(&mut self, names: &[&str], (room, what): (usize, &str)) -> Option<u32> {
        self.first_valid(names, |r, name, v| {
            let n = r.integer(name, 0, "a count or length")?;
            let Ok(limit) = u32::try_from(n) else {
                r.warn(
                    name,
                    v,
                    format!("above the largest limit, {}; ignored", u32::MAX),
                );
                return None;
            };
            if usize::try_from(limit).map_or(true, |limit| limit > room) {
                r.warn(
                    name,
                    v,
                    format!(
                        "a span of picotrace-std's arena holds at most {room} {what} (set \
                         when it is compiled: PICOTRACE_SPAN_*); what does not fit is \
                         dropped and counted"
                    ),
                );
            }
            Some(limit)
        })
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The port a URL names (`scheme://[user@]host:port/...`), if it names one.
fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = host_port.rsplit_once(':')?;
    if host.starts_with('[') && !host.ends_with(']') {
        return None; // a colon inside an IPv6 address
    }
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> EnvConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvConfig::from_lookup(|name| map.get(name).cloned())
    }

    /// Counts the spans exported.
    #[derive(Clone, Default)]
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl picotrace::SpanExporter for Count {
        fn export(&mut self, b: &picotrace::SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
            self.0
                .fetch_add(b.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    impl Count {
        /// A provider built from `e`'s configuration, exporting to a counter.
        fn provider(e: &EnvConfig) -> (crate::TracerProvider, Self) {
            let count = Self::default();
            let provider = e
                .provider_builder()
                .unwrap()
                .exporter(crate::SharedExporter::new(count.clone()))
                .build();
            (provider, count)
        }

        /// Waits up to 1.5 s for `n` spans to be exported.
        fn wait_for(&self, n: usize, what: &str) {
            let deadline = std::time::Instant::now() + Duration::from_millis(1500);
            while self.0.load(std::sync::atomic::Ordering::SeqCst) < n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{what}: not exported within 1.5 s"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn warned(e: &EnvConfig) -> Vec<&str> {
        e.warnings.iter().map(|w| w.variable.as_str()).collect()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let e = env(&[]);
        assert!(!e.disabled);
        assert!(e.service_name.starts_with("unknown_service"));
        assert!(e.resource_attributes.is_empty());
        assert_eq!(
            e.sampler.to_string_buf().as_str(),
            "ParentBased{root:AlwaysOnSampler}"
        );
        assert_eq!(e.exporter, TracesExporter::Otlp);
        assert_eq!(e.otlp, OtlpConfig::default());
        assert_eq!(e.otlp.traces_url, "http://localhost:4318/v1/traces");
        assert_eq!(e.otlp.timeout, Duration::from_secs(10));
        assert_eq!(e.batch, BatchConfig::DEFAULT);
        assert_eq!(e.propagators, Propagators::DEFAULT);
        assert_eq!(e.limits, SpanLimits::DEFAULT);
        assert!(e.warnings.is_empty());
    }

    #[test]
    fn empty_values_count_as_unset() {
        let e = env(&[("OTEL_SERVICE_NAME", ""), ("OTEL_BSP_MAX_QUEUE_SIZE", "  ")]);
        assert!(e.service_name.starts_with("unknown_service"));
        assert!(e.warnings.is_empty());
    }

    #[test]
    fn service_name_and_resource_attributes() {
        let e = env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs, deployment.environment=prod,team=a%2Cb%3Dc ,,",
        )]);
        assert_eq!(e.service_name, "from-attrs");
        assert_eq!(
            e.resource_attributes,
            [
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".to_string(), "a,b=c".to_string())
            ]
        );
        let e = env(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "wins"),
        ]);
        assert_eq!(e.service_name, "wins");
        let cfg = e.tracer_config();
        assert_eq!(cfg.resource.service_name, "wins");
        assert!(cfg.resource.attributes.is_empty());
    }

    #[test]
    fn one_bad_resource_attribute_discards_the_variable() {
        for bad in ["a=1,novalue", "a=%zz", "=v", "a=%ff"] {
            let e = env(&[("OTEL_RESOURCE_ATTRIBUTES", bad)]);
            assert!(e.resource_attributes.is_empty(), "{bad}");
            assert_eq!(warned(&e), ["OTEL_RESOURCE_ATTRIBUTES"], "{bad}");
            assert_eq!(e.warnings[0].value, bad);
        }
    }

    #[test]
    fn samplers_by_name() {
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>, &str)] = &[
            ("always_on", None, "AlwaysOnSampler"),
            ("always_off", None, "AlwaysOffSampler"),
            ("traceidratio", Some("0.5"), "TraceIdRatioBased{0.5}"),
            ("traceidratio", None, "TraceIdRatioBased{1}"),
            ("parentbased_always_on", None, "ParentBased{root:AlwaysOnSampler}"),
            ("parentbased_always_off", None, "ParentBased{root:AlwaysOffSampler}"),
            ("parentbased_traceidratio", Some("0.1"), "ParentBased{root:TraceIdRatioBased{0.1}}"),
            ("ALWAYS_OFF", None, "AlwaysOffSampler"),
        ];
        for (name, arg, want) in table {
            let mut vars = vec![("OTEL_TRACES_SAMPLER", *name)];
            if let Some(a) = arg {
                vars.push(("OTEL_TRACES_SAMPLER_ARG", a));
            }
            let e = env(&vars);
            assert_eq!(e.sampler.to_string_buf().as_str(), *want, "{name}");
            assert!(e.warnings.is_empty());
        }
    }

    #[test]
    fn bad_sampler_values_warn_and_fall_back() {
        let e = env(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
        assert_eq!(warned(&e), ["OTEL_TRACES_SAMPLER"]);
        assert_eq!(
            e.sampler.to_string_buf().as_str(),
            "ParentBased{root:AlwaysOnSampler}"
        );
        for arg in ["1.5", "-0.1", "half", "NaN"] {
            let e = env(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ]);
            assert_eq!(warned(&e), ["OTEL_TRACES_SAMPLER_ARG"], "{arg}");
            assert_eq!(e.sampler.to_string_buf().as_str(), "TraceIdRatioBased{1}");
        }
        let e = env(&[("OTEL_TRACES_SAMPLER", "xray")]);
        assert!(e.warnings[0].message.contains("not supported"));
        // Found by review: an argument for a sampler that takes none was ignored
        // without a word (the spec: unrecognized input MUST be logged). Without
        // `OTEL_TRACES_SAMPLER` the argument is unused, as the spec says, and quiet.
        let e = env(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ]);
        assert_eq!(warned(&e), ["OTEL_TRACES_SAMPLER_ARG"]);
        assert!(
            e.warnings[0].message.contains("takes no argument"),
            "{:?}",
            e.warnings
        );
        assert_eq!(
            e.sampler.to_string_buf().as_str(),
            "ParentBased{root:AlwaysOnSampler}"
        );
        let e = env(&[("OTEL_TRACES_SAMPLER_ARG", "0.1")]);
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
        // Found by review: the samplers that do take an argument but are not supported
        // (jaeger_remote's `endpoint=...`) got a second warning saying they take none;
        // the one that says they are not supported is enough, as for an unknown name.
        for name in ["parentbased_jaeger_remote", "jaeger_remote", "nosuch"] {
            let e = env(&[
                ("OTEL_TRACES_SAMPLER", name),
                ("OTEL_TRACES_SAMPLER_ARG", "endpoint=http://localhost:14250"),
            ]);
            assert_eq!(warned(&e), ["OTEL_TRACES_SAMPLER"], "{name}");
        }
    }

    #[test]
    fn exporters() {
        assert_eq!(
            env(&[("OTEL_TRACES_EXPORTER", "console")]).exporter,
            TracesExporter::Console
        );
        assert_eq!(
            env(&[("OTEL_TRACES_EXPORTER", "none")]).exporter,
            TracesExporter::None
        );
        let e = env(&[("OTEL_TRACES_EXPORTER", "zipkin")]);
        assert_eq!(e.exporter, TracesExporter::Otlp);
        assert_eq!(e.warnings.len(), 2);
        let e = env(&[("OTEL_TRACES_EXPORTER", "console,otlp")]);
        assert_eq!(e.exporter, TracesExporter::Console);
        assert_eq!(warned(&e), ["OTEL_TRACES_EXPORTER"]);
        // Regression (found by review): `none` in a list silently turned export off,
        // and hid the warnings about the entries after it.
        let e = env(&[("OTEL_TRACES_EXPORTER", "otlp,none")]);
        assert_eq!(e.exporter, TracesExporter::None);
        assert_eq!(warned(&e), ["OTEL_TRACES_EXPORTER"]);
        assert!(e.warnings[0].message.contains("none"), "{:?}", e.warnings);
        let e = env(&[("OTEL_TRACES_EXPORTER", "none,bogus")]);
        assert_eq!(e.exporter, TracesExporter::None);
        assert!(e.warnings[0].message.contains("bogus"), "{:?}", e.warnings);
        assert!(env(&[("OTEL_TRACES_EXPORTER", "none")]).warnings.is_empty());
    }

    /// Regression (found by review): credentials and API keys in an endpoint URL were
    /// shown in warnings and in `Debug`, while header values never are.
    #[test]
    fn endpoint_secrets_are_never_shown() {
        let e = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://u:s3cret@c:99999/v1/traces",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://u:s3cret@c:4318/?api_key=k3y#f",
            ),
        ]);
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        let shown = format!("{} {e:?}", e.warnings[0]);
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(
            shown.contains("https://REDACTED@c:99999/v1/traces"),
            "{shown}"
        );
        assert!(
            shown.contains("https://REDACTED@c:4318/v1/traces?REDACTED#f"),
            "{shown}"
        );
        // The URL itself is kept whole: requests still carry the credentials.
        assert_eq!(
            e.otlp.traces_url,
            "https://u:s3cret@c:4318/v1/traces?api_key=k3y#f"
        );
    }

    /// Regression (found by review): `OTEL_TRACES_EXPORTER=console` printed spans in
    /// batches of 512 or every 5 s (the spec pairs the standard output exporter with a
    /// simple processor): a span ended, then nothing showed.
    #[test]
    fn console_spans_are_exported_as_they_end() {
        let e = env(&[
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ]);
        // The console's schedule, with a counting exporter in place of stdout.
        let (provider, count) = Count::provider(&e);
        provider.tracer().start_span("printed").end();
        count.wait_for(1, "the console's span");
    }

    #[test]
    fn otlp_endpoints_follow_the_path_rules_and_signal_wins() {
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]);
        assert_eq!(e.otlp.traces_url, "http://c:4318/v1/traces");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9999/custom"),
        ]);
        assert_eq!(e.otlp.traces_url, "http://t:9999/custom");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
        ]);
        assert_eq!(e.otlp.traces_url, "http://c:4318/v1/traces");
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c")]);
        assert_eq!(e.otlp.traces_url, "http://localhost:4318/v1/traces");
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }

    #[test]
    fn otlp_settings_signal_specific_first() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "api-key=tr%20aces, x-team = a ",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ]);
        assert_eq!(
            e.otlp.headers,
            [
                ("api-key".to_string(), "tr aces".to_string()),
                ("x-team".to_string(), "a".to_string())
            ]
        );
        assert_eq!(e.otlp.timeout, Duration::from_millis(2000));
        assert_eq!(e.otlp.compression, Compression::Gzip);
        assert_eq!(e.otlp.protocol, Protocol::HttpJson);
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"]);
    }

    /// Regression (found by review): a header named twice (the old key and the
    /// corrected one) was sent twice; the last is sent, with a warning that shows no
    /// value.
    #[test]
    fn a_header_named_twice_sends_its_last_value() {
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer%20old,x=1,authorization=Bearer%20new",
        )]);
        assert_eq!(
            e.otlp.headers,
            [
                ("x".to_string(), "1".to_string()),
                ("authorization".to_string(), "Bearer new".to_string())
            ]
        );
        assert_eq!(e.warnings.len(), 1, "{:#?}", e.warnings);
        let shown = e.warnings[0].to_string();
        assert!(
            shown.contains("more than once") && !shown.contains("old"),
            "{shown}"
        );
        // A bad last value leaves none (not the earlier one).
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20old,x=1,authorization=Bearer%0Anew",
        )]);
        assert_eq!(e.otlp.headers, [("x".to_string(), "1".to_string())]);
    }

    #[test]
    fn framing_and_non_ascii_headers_warn_without_showing_values() {
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "content-length=0,Transfer-Encoding=chunked,host=s3cret.example,\
             x-api-key=caf%C3%A9s3cret,authorization=Bearer s3cret,nos3cret",
        )]);
        assert_eq!(
            e.otlp.headers,
            [("authorization".to_string(), "Bearer s3cret".to_string())]
        );
        assert_eq!(e.warnings.len(), 5, "{:#?}", e.warnings);
        for w in &e.warnings {
            assert_eq!(w.variable, "OTEL_EXPORTER_OTLP_HEADERS");
            let shown = w.to_string();
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        // The `Name: value` form, a base64 secret with padding: what stands before the
        // `=` is no header name but the secret.
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization: Basic dXNlcjpzM2NyZXQ=",
        )]);
        assert_eq!(e.warnings.len(), 1, "{:#?}", e.warnings);
        let shown = e.warnings[0].to_string();
        assert!(!shown.contains("dXNlcjpzM2NyZXQ"), "{shown}");
        assert!(shown.contains("not a valid HTTP header name"), "{shown}");
        let shown = format!("{e:?}");
        assert!(!shown.contains("dXNlcjpzM2NyZXQ"), "{shown}");
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "content-length=0,Transfer-Encoding=chunked,host=s3cret.example,\
             x-api-key=caf%C3%A9s3cret,authorization=Bearer s3cret,nos3cret",
        )]);
        let shown = format!("{e:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
        // The exporter built from it sends the header all the same.
        assert!(e.otlp.builder().build().is_ok());
    }

    #[test]
    fn unusable_certificate_files_warn_name_the_file_and_are_not_used() {
        let dir = std::env::temp_dir().join(format!("picotrace-env-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc3VwZXJzZWNyZXQ=\n").unwrap();
        let garbage = dir.join("ca.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let (key, garbage) = (key.to_str().unwrap(), garbage.to_str().unwrap());
        let e = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "/nonexistent/ca.pem",
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", garbage),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key),
        ]);
        assert_eq!(
            warned(&e),
            [
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_KEY"
            ]
        );
        assert!(e.otlp.certificate.is_none() && e.otlp.client_key.is_none());
        let shown: Vec<String> = e.warnings.iter().map(ToString::to_string).collect();
        assert!(shown[0].contains("/nonexistent/ca.pem") && shown[0].contains("cannot read"));
        assert!(shown[1].contains("no CERTIFICATE") && shown[1].contains("webpki"));
        assert!(shown[2].contains(key) && shown[2].contains("not valid PEM"));
        for w in &shown {
            assert!(!w.contains("c3VwZXJzZWNyZXQ"), "{w}");
        }
        // The exporter built from it uses the defaults.
        assert!(e.otlp.builder().build().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Regression (found by review): a batch size under a queue size set above the
    /// cap was refused as exceeding OTEL_BSP_MAX_QUEUE_SIZE, which it did not.
    #[test]
    fn a_batch_refused_for_a_capped_queue_says_the_size_used() {
        let e = env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "70000"),
        ]);
        let batch = e
            .warnings
            .iter()
            .find(|w| w.variable == "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
            .expect("the batch size warns");
        let max = BatchConfig::MAX_QUEUE_SIZE;
        assert!(
            batch
                .message
                .starts_with(&format!("must not exceed the queue size ({max})")),
            "{batch}"
        );
    }

    /// Regression (found by review): an unusable `TRACES_` client key said "no client
    /// certificate is sent" when the general variable's key was used instead.
    #[test]
    fn a_client_key_warning_names_the_key_used_instead() {
        let dir = std::env::temp_dir().join(format!("picotrace-env-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc3VwZXJzZWNyZXQ=\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                "/nonexistent/key.pem",
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.to_str().unwrap()),
        ]);
        let first = e
            .warnings
            .iter()
            .find(|w| w.variable == "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
            .expect("the TRACES_ key warns");
        assert!(
            first
                .message
                .ends_with("; using OTEL_EXPORTER_OTLP_CLIENT_KEY instead"),
            "{first}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Regression (found by review): an endpoint with an empty port was refused, and
    /// spans went to localhost. The spec: "if the port is empty or not given, TCP port
    /// 80 is the default for the http scheme"; the URL is not modified.
    #[test]
    fn an_empty_port_is_the_schemes_default() {
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:")]);
        assert_eq!(e.otlp.traces_url, "http://collector:/v1/traces");
        assert!(e.warnings.is_empty(), "{:#?}", e.warnings);
    }

    /// Regression (found by review): `logging`, which the spec calls "a deprecated
    /// value ... SHOULD NOT be supported by new implementations", was taken as the
    /// console without a word.
    #[test]
    fn the_deprecated_logging_exporter_warns() {
        let e = env(&[("OTEL_TRACES_EXPORTER", "logging")]);
        assert_eq!(e.exporter, TracesExporter::Console);
        assert_eq!(warned(&e), ["OTEL_TRACES_EXPORTER"]);
    }

    /// Regression (found by review): booleans were trimmed, so ` true ` disabled the
    /// SDK; only `true` in any case is true ("MUST NOT extend this definition").
    #[test]
    fn only_true_itself_is_true() {
        for (value, disabled, warns) in [
            (" true ", false, true),
            ("TRUE", true, false),
            ("false", false, false),
            ("", false, false),
            ("  ", false, false),
        ] {
            let e = env(&[("OTEL_SDK_DISABLED", value)]);
            assert_eq!(e.disabled, disabled, "{value:?}");
            assert_eq!(warned(&e) == ["OTEL_SDK_DISABLED"], warns, "{value:?}");
        }
    }

    /// Regression (found by review): a base endpoint that already ends in the signal's
    /// path got it twice in silence (the spec appends it whatever the base holds: kept,
    /// and said).
    #[test]
    fn a_base_endpoint_naming_the_traces_path_is_kept_and_warned_about() {
        for base in [
            "http://c:4318/v1/traces",
            "http://u:p@c:4318/v1/traces/?k=v",
        ] {
            let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)]);
            assert!(e.otlp.traces_url.contains("/v1/traces/v1/traces"), "{base}");
            assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_ENDPOINT"], "{base}");
            let message = &e.warnings[0].message;
            assert!(
                message.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
                "{message}"
            );
            assert!(!message.contains("u:p"), "credentials shown: {message}");
        }
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/otlp")]);
        assert_eq!(e.otlp.traces_url, "http://c:4318/otlp/v1/traces");
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    }

    /// grpc asked for with the endpoint on gRPC's port says that no span will arrive
    /// (found by review: the warning said only that grpc is not supported).
    #[test]
    fn grpc_with_a_grpc_endpoint_says_no_span_will_arrive() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"),
        ]);
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_PROTOCOL"]);
        let message = &e.warnings[0].message;
        assert!(
            message.contains("http://otel-collector:4317/v1/traces"),
            "{message}"
        );
        assert!(message.contains("no span will arrive"), "{message}");
        let e = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert!(
            !e.warnings[0].message.contains("no span"),
            "4318: {}",
            e.warnings[0]
        );
        for (url, port) in [
            ("http://u:p@h:4317/x", Some(4317)),
            ("https://[::1]:4317", Some(4317)),
            ("http://[::1]/v1/traces", None),
            ("http://h/v1:4317", None),
            ("http://h:99999", None),
        ] {
            assert_eq!(url_port(url), port, "{url}");
        }
    }

    #[test]
    fn an_endpoint_with_a_port_above_65535_warns_and_falls_back() {
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:99999")]);
        assert_eq!(e.otlp.traces_url, "http://localhost:4318/v1/traces");
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        assert!(e.warnings[0].message.contains("port"), "{}", e.warnings[0]);
        // A bad signal-specific endpoint falls back to the general one.
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:0/v1/traces"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ]);
        assert_eq!(e.otlp.traces_url, "http://c:4318/v1/traces");
        assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
    }

    #[test]
    fn the_provider_propagates_only_what_otel_propagators_names() {
        use crate::{HashMapCarrier, HashMapInjector};
        use std::collections::HashMap;
        const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let incoming: HashMap<String, String> = [("traceparent", TP), ("baggage", "k=v")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        // Each provider keeps its arena for the life of the process: three of them.
        for (value, context, baggage) in [
            ("none", false, false),
            ("baggage", false, true),
            ("tracecontext,xray", true, false),
        ] {
            let e = env(&[
                ("OTEL_PROPAGATORS", value),
                ("OTEL_TRACES_EXPORTER", "none"),
            ]);
            let provider = e.build_provider().unwrap();
            let cx = provider.extract_context(&HashMapCarrier(&incoming));
            assert_eq!(cx.is_ok(), context, "{value}");
            let bag = provider.extract_baggage(&HashMapCarrier(&incoming));
            assert_eq!(bag.len(), usize::from(baggage), "{value}");
            let span = provider.tracer().start_span("call");
            let mut out = HashMap::new();
            provider.inject_context(&span, &mut HashMapInjector(&mut out));
            provider.inject_baggage(
                &picotrace::Baggage::parse("k=v"),
                &mut HashMapInjector(&mut out),
            );
            let mut sent: Vec<&str> = out.keys().map(String::as_str).collect();
            sent.sort_unstable();
            let expected: Vec<&str> = [("baggage", baggage), ("traceparent", context)]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(sent, expected, "{value}");
        }
        let e = env(&[("OTEL_PROPAGATORS", "tracecontext,xray")]);
        assert_eq!(warned(&e), ["OTEL_PROPAGATORS"]);
        // Regression: `none` beside other propagators turned propagation off without
        // a word.
        let e = env(&[("OTEL_PROPAGATORS", "tracecontext, None")]);
        assert_eq!(e.propagators, Propagators::NONE);
        assert_eq!(warned(&e), ["OTEL_PROPAGATORS"]);
        let e = env(&[("OTEL_PROPAGATORS", "none")]);
        assert_eq!(e.propagators, Propagators::NONE);
        assert!(warned(&e).is_empty());
    }

    /// Regression (new-user tryout): limits above what a span of the arena holds were
    /// taken without a word, and spans kept 8 events under a limit of 50. Each such
    /// limit is warned about once (the general attribute limit, the fallback of three,
    /// too); limits within the room, and the defaults, are not.
    #[test]
    fn limits_above_the_arena_s_room_are_warned_about() {
        // Past the room by one, or at it, whatever `PICOTRACE_SPAN_*` built.
        let (events, links) = (crate::SPAN_EVENTS + 1, crate::SPAN_LINKS);
        let (attributes, text) = (crate::SPAN_ATTRIBUTES + 1, crate::SPAN_TEXT + 1);
        let (events, links) = (events.to_string(), links.to_string());
        let (attributes, text) = (attributes.to_string(), text.to_string());
        let e = env(&[
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", &events),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", &links),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", &attributes),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &text),
        ]);
        assert_eq!(e.limits.event_count.to_string(), events);
        assert_eq!(e.limits.attribute_count.to_string(), attributes);
        assert_eq!(
            warned(&e),
            [
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_SPAN_EVENT_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
            ],
            "{:?}",
            e.warnings
        );
        let events = &e.warnings[1].message;
        let room = format!("at most {} events", crate::SPAN_EVENTS);
        assert!(events.contains(&room), "{events}");
        assert!(env(&[]).warnings.is_empty());
        let within = crate::SPAN_ATTRIBUTES.to_string();
        let within = env(&[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &within)]);
        assert!(within.warnings.is_empty(), "{:?}", within.warnings);
    }

    /// Regression: a warning about an invalid signal-specific or specific variable
    /// said the default was used when the general variable was (gzip, 2000 ms, 7),
    /// and an invalid OTEL_ATTRIBUTE_COUNT_LIMIT, the fallback of three limits, was
    /// warned about three times.
    #[test]
    fn warnings_name_the_variable_used_instead_and_come_once() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
        ]);
        assert_eq!(e.otlp.compression, crate::Compression::Gzip);
        assert_eq!(e.otlp.timeout, Duration::from_millis(2000));
        assert_eq!(e.limits.attribute_count, 7);
        let said: Vec<&str> = e.warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(said.len(), 3, "{said:?}");
        for general in [
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
        ] {
            let instead = format!("; using {general} instead");
            assert!(said.iter().any(|m| m.ends_with(&instead)), "{said:?}");
        }
        let e = env(&[("OTEL_ATTRIBUTE_COUNT_LIMIT", "abc")]);
        assert_eq!(warned(&e), ["OTEL_ATTRIBUTE_COUNT_LIMIT"]);
        assert!(e.warnings[0].message.ends_with("; using the default"));
        // Both invalid: the default is used, and both warnings say so.
        let e = env(&[
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "lots"),
        ]);
        assert_eq!(
            e.limits.attribute_count,
            SpanLimits::DEFAULT.attribute_count
        );
        assert!(
            e.warnings
                .iter()
                .all(|w| w.message.ends_with("; using the default")),
            "{:?}",
            e.warnings
        );
    }

    /// Regression: values that are not UTF-8 were read with U+FFFD for their bad
    /// bytes and used without a warning (a service named "caf\u{FFFD}").
    #[cfg(unix)]
    #[test]
    fn values_that_are_not_utf8_are_ignored_with_a_warning() {
        use std::os::unix::ffi::OsStringExt;
        let e = EnvConfig::from_os_lookup(|name: &str| match name {
            "OTEL_SERVICE_NAME" => Some(std::ffi::OsString::from_vec(b"caf\xe9".to_vec())),
            "OTEL_RESOURCE_ATTRIBUTES" => Some("team=a".into()),
            _ => None,
        });
        assert_eq!(e.service_name, crate::tracer::unknown_service());
        assert_eq!(e.resource_attributes, [("team".into(), "a".into())]);
        assert_eq!(warned(&e), ["OTEL_SERVICE_NAME"]);
        assert_eq!(e.warnings[0].message, "not valid UTF-8; ignored");
    }

    /// Regression: a header variable that was not UTF-8 was shown whole in its
    /// warning, secrets and all (other header warnings show names only).
    #[cfg(unix)]
    #[test]
    fn header_values_that_are_not_utf8_are_not_shown() {
        use std::os::unix::ffi::OsStringExt;
        for variable in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            let e = EnvConfig::from_os_lookup(|name: &str| {
                (name == variable).then(|| {
                    std::ffi::OsString::from_vec(b"authorization=Bearer s3cret,x=caf\xe9".to_vec())
                })
            });
            assert_eq!(warned(&e), [variable]);
            let shown = e.warnings[0].to_string();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("authorization=<redacted>"), "{shown}");
            assert!(!format!("{e:?}").contains("s3cret"));
        }
    }

    /// Regression: a setting with no supported propagator (a typo, another
    /// separator) turned propagation off, cutting every trace at the service; the spec
    /// says to warn and ignore it.
    #[test]
    fn a_setting_with_no_supported_propagator_keeps_the_default() {
        for value in [
            "xray",
            "w3c",
            "tracecontext;baggage",
            "tracecontext baggage",
            ",",
        ] {
            let e = env(&[("OTEL_PROPAGATORS", value)]);
            assert_eq!(e.propagators, Propagators::DEFAULT, "{value}");
            assert!(warned(&e).contains(&"OTEL_PROPAGATORS"), "{value}");
        }
        assert_eq!(
            env(&[("OTEL_PROPAGATORS", "none")]).propagators,
            Propagators::NONE
        );
    }

    /// Regression: a blank `service.name` (or `OTEL_SERVICE_NAME`) was taken as the
    /// name, so spans went out as service "" (then plain `unknown_service`) or " "
    /// instead of the spec's `unknown_service:<exe>`.
    #[test]
    fn a_blank_service_name_falls_back_to_unknown_service() {
        for vars in [
            &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=,team=a")][..],
            &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=%20,team=a")],
            &[
                ("OTEL_SERVICE_NAME", " "),
                ("OTEL_RESOURCE_ATTRIBUTES", "team=a"),
            ],
        ] {
            let e = env(vars);
            assert_eq!(e.service_name, crate::tracer::unknown_service(), "{vars:?}");
            assert_eq!(e.resource_attributes, [("team".into(), "a".into())]);
        }
        let e = env(&[
            ("OTEL_SERVICE_NAME", " "),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attrs"),
        ]);
        assert_eq!(e.service_name, "attrs");
    }

    #[test]
    fn grpc_and_bad_otlp_values_warn() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,broken,bad name=v"),
        ]);
        assert_eq!(e.otlp.protocol, Protocol::HttpProtobuf);
        assert_eq!(e.otlp.compression, Compression::None);
        assert_eq!(e.otlp.timeout, Duration::from_secs(10));
        assert_eq!(e.otlp.headers, [("ok".to_string(), "1".to_string())]);
        assert_eq!(e.warnings.len(), 5, "{:#?}", e.warnings);
        let grpc = e
            .warnings
            .iter()
            .find(|w| w.variable == "OTEL_EXPORTER_OTLP_PROTOCOL")
            .unwrap();
        assert_eq!(grpc.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert_eq!(
            grpc.to_string(),
            "picotrace: OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\": grpc is not supported: picotrace \
             sends OTLP over HTTP (http/protobuf unless another variable says http/json) to the \
             endpoint's OTLP/HTTP port (the collector's is 4318, not gRPC's 4317)"
        );
    }

    /// Regressions: a zero OTLP timeout was refused (the spec: zero is indefinite); a
    /// signal-specific headers value with no usable header, or `grpc` as the signal's
    /// protocol, hid the general variable instead of being ignored.
    #[test]
    fn zero_timeouts_are_indefinite_and_unusable_signal_values_fall_back() {
        let e = env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]);
        assert_eq!(e.otlp.timeout, MAX_DURATION);
        assert!(e.warnings.is_empty(), "{:#?}", e.warnings);
        let e = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "Authorization: Bearer x",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20y"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ]);
        assert_eq!(
            e.otlp.headers,
            [("authorization".to_string(), "Bearer y".to_string())]
        );
        assert_eq!(e.otlp.protocol, Protocol::HttpJson);
        assert_eq!(
            warned(&e),
            [
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
            ]
        );
        // Found by review: a value of separators alone (no member at all) is as good
        // as empty, which the spec reads as unset; it hid the general headers.
        for blank in [",", " , ,", ",,"] {
            let e = env(&[
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", blank),
                ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20y"),
            ]);
            assert_eq!(
                e.otlp.headers,
                [("authorization".to_string(), "Bearer y".to_string())],
                "{blank:?}"
            );
            assert_eq!(
                warned(&e),
                ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"],
                "{blank:?}"
            );
        }
    }

    /// Regressions (found by review): each setting fell back on its own, so the headers
    /// and the endpoint could come from different variables: a typo in the traces
    /// headers sent the general headers (another vendor's key) to the traces endpoint,
    /// an invalid traces endpoint sent the traces headers to the general endpoint, and
    /// an invalid endpoint sent its headers to the default one, with warnings that
    /// said only "skipped" or "ignored".
    #[test]
    fn credentials_go_only_to_the_endpoint_they_were_set_for() {
        let secret_a = ("OTEL_EXPORTER_OTLP_HEADERS", "x-a-key=s3cretA");
        let endpoint_a = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://a.example");
        let endpoint_b = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://b.example/v1/traces",
        );
        let no_secret = |e: &EnvConfig| {
            for w in &e.warnings {
                let shown = w.to_string();
                assert!(!shown.contains("s3cret"), "{shown}");
            }
        };
        // A: the traces headers have a typo; the spans go to b.
        let e = env(&[
            endpoint_a,
            secret_a,
            endpoint_b,
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-b-key: s3cretB"),
        ]);
        assert_eq!(e.otlp.traces_url, "https://b.example/v1/traces");
        assert!(e.otlp.headers.is_empty(), "{:?}", e.otlp.headers);
        assert_eq!(
            warned(&e),
            [
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "OTEL_EXPORTER_OTLP_HEADERS"
            ]
        );
        assert!(
            e.warnings[1].message.starts_with("not sent: "),
            "{:?}",
            e.warnings
        );
        no_secret(&e);
        // Without a traces endpoint both variables are for one endpoint: the general
        // headers stand in, and the warning says so.
        let e = env(&[
            endpoint_a,
            secret_a,
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-b-key: s3cretB"),
        ]);
        assert_eq!(e.otlp.traces_url, "https://a.example/v1/traces");
        assert_eq!(e.otlp.headers, [("x-a-key".into(), "s3cretA".into())]);
        assert!(
            e.warnings[0]
                .message
                .ends_with("; using OTEL_EXPORTER_OTLP_HEADERS instead"),
            "{:?}",
            e.warnings
        );
        // B: the traces endpoint is invalid; the spans go to a, with a's headers only.
        let e = env(&[
            endpoint_a,
            secret_a,
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://b.example:99999/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-b-key=s3cretB"),
        ]);
        assert_eq!(e.otlp.traces_url, "https://a.example/v1/traces");
        assert_eq!(e.otlp.headers, [("x-a-key".into(), "s3cretA".into())]);
        assert_eq!(
            warned(&e),
            [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
            ]
        );
        assert!(
            e.warnings[0]
                .message
                .ends_with("; ignored: spans go to https://a.example/v1/traces"),
            "{:?}",
            e.warnings
        );
        no_secret(&e);
        // C: the endpoint has no scheme; the spans go to the default, without the key.
        for (endpoint, headers) in [
            (
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "api.vendor.example:443"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret"),
            ),
            (
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "api.vendor.example:443",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=s3cret"),
            ),
        ] {
            let e = env(&[endpoint, headers]);
            assert_eq!(e.otlp.traces_url, "http://localhost:4318/v1/traces");
            assert!(e.otlp.headers.is_empty(), "{:?}", e.otlp.headers);
            assert_eq!(warned(&e), [endpoint.0, headers.0]);
            assert!(e.warnings[1].message.starts_with("not sent: "));
            no_secret(&e);
        }
        // The spec's fallback holds: general headers go to a valid traces endpoint when
        // no traces headers are set.
        let e = env(&[secret_a, endpoint_b]);
        assert_eq!(e.otlp.headers, [("x-a-key".into(), "s3cretA".into())]);
        assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    }

    /// Regressions (found by review of the fix above): a variable that was not UTF-8
    /// counted as unset, so an unreadable endpoint sent the general headers to the
    /// default and unreadable traces headers let the general ones go to the traces
    /// endpoint; traces headers with nothing usable said "using
    /// OTEL_EXPORTER_OTLP_HEADERS instead" when that had nothing usable either; a
    /// blank value was warned "ignored" and then "not sent".
    #[cfg(unix)]
    #[test]
    fn unreadable_or_unusable_header_settings_send_nothing_and_say_it_once() {
        use std::os::unix::ffi::OsStringExt;
        let os = |vars: &'static [(&'static str, &'static [u8])]| {
            EnvConfig::from_os_lookup(move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from_vec(v.to_vec()))
            })
        };
        let e = os(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                b"https://api.vendor.example\xff",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", b"x-api-key=s3cret"),
        ]);
        assert_eq!(e.otlp.traces_url, "http://localhost:4318/v1/traces");
        assert!(e.otlp.headers.is_empty(), "{:?}", e.otlp.headers);
        let e = os(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                b"https://b.example/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", b"x-b-key=caf\xe9"),
            ("OTEL_EXPORTER_OTLP_HEADERS", b"x-a-key=s3cretA"),
        ]);
        assert!(e.otlp.headers.is_empty(), "{:?}", e.otlp.headers);
        let e = os(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                b"https://b.example:99999/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", b"https://a.example"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", b"x-b-key=s3cretB"),
        ]);
        assert_eq!(e.otlp.traces_url, "https://a.example/v1/traces");
        assert!(e.otlp.headers.is_empty(), "{:?}", e.otlp.headers);
        // Neither variable usable: no "instead".
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-b: bad"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-a="),
        ]);
        assert!(e.otlp.headers.is_empty());
        assert!(
            e.warnings.iter().all(|w| !w.message.contains("instead")),
            "{:#?}",
            e.warnings
        );
        // A blank value with an invalid endpoint: one warning for it, not two.
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "nowhere"),
            ("OTEL_EXPORTER_OTLP_HEADERS", ","),
        ]);
        assert_eq!(
            warned(&e),
            ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"]
        );
    }

    /// Regression (found by review): `PICOTRACE_ARENA_SPANS` set at run time was ignored
    /// without a word.
    #[test]
    fn an_arena_size_set_at_run_time_warns() {
        let other = (crate::ARENA_SPANS + 1).to_string();
        let e = env(&[("PICOTRACE_ARENA_SPANS", &other)]);
        assert_eq!(warned(&e), ["PICOTRACE_ARENA_SPANS"]);
        let same = crate::ARENA_SPANS.to_string();
        assert!(env(&[("PICOTRACE_ARENA_SPANS", &same)]).warnings.is_empty());
        // What one span holds is read when compiled, too.
        let other = (crate::SPAN_EVENTS + 1).to_string();
        let e = env(&[("PICOTRACE_SPAN_EVENTS", &other)]);
        assert_eq!(warned(&e), ["PICOTRACE_SPAN_EVENTS"]);
        let built = format!("has {}", crate::SPAN_EVENTS);
        assert!(e.warnings[0].message.contains(&built), "{:?}", e.warnings);
        let same = crate::SPAN_TEXT.to_string();
        assert!(env(&[("PICOTRACE_SPAN_TEXT", &same)]).warnings.is_empty());
    }

    /// Regression (found by review): an entry with an empty value was sent without a
    /// word (an unset `${KEY}` gives `x-api-key=`: every export then fails with 401),
    /// and a bare base64 token, whose padding reads as `=`, became a header *name*:
    /// the secret was sent as one and shown by the config's `Debug`.
    #[test]
    fn header_entries_with_empty_values_are_skipped_unnamed() {
        for value in [
            "dXNlcjpzM2NyZXQ=",
            "x-api-key=",
            "ok=1,dXNlcjpzM2NyZXQ=",
            // Two padding characters: the value was `=` (found by the next review).
            "ok=1,dXNlcjpzM2NyZXQ==",
        ] {
            let e = env(&[("OTEL_EXPORTER_OTLP_HEADERS", value)]);
            let expected: Vec<(String, String)> = if value.starts_with("ok") {
                vec![("ok".into(), "1".into())]
            } else {
                vec![]
            };
            assert_eq!(e.otlp.headers, expected, "{value}");
            assert_eq!(warned(&e), ["OTEL_EXPORTER_OTLP_HEADERS"], "{value}");
            for shown in [e.warnings[0].to_string(), format!("{e:?}")] {
                assert!(!shown.contains("dXNlcjpzM2NyZXQ"), "{shown}");
            }
        }
    }

    /// Regression: `OTEL_BSP_SCHEDULE_DELAY` and `_MAX_EXPORT_BATCH_SIZE` reached only a
    /// batch exporter, so with the console exporter (or any other) the provider's
    /// export thread kept its 5 s delay and 512-span trigger.
    #[test]
    fn the_schedule_and_batch_size_hold_for_every_exporter() {
        // One span waits for the 100 ms schedule; two spans (a batch) for nothing.
        for (delay, batch, spans) in [("100", "512", 1), ("60000", "2", 2)] {
            let e = env(&[
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_BSP_SCHEDULE_DELAY", delay),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", batch),
            ]);
            let (provider, count) = Count::provider(&e);
            for _ in 0..spans {
                provider.tracer().start_span("scheduled").end();
            }
            count.wait_for(spans, &format!("delay {delay}, batch {batch}"));
            assert_eq!(
                provider.config().export_batch_size,
                batch.parse::<usize>().unwrap()
            );
        }
        // A batch exporter set on the builder afterwards keeps its own schedule and
        // size (the environment's are only the fallback).
        struct Accept(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl crate::Transport for Accept {
            fn protocol(&self) -> crate::Protocol {
                crate::Protocol::HttpProtobuf
            }
            fn send(
                &mut self,
                _: &[u8],
                spans: usize,
                _: std::time::Instant,
            ) -> Result<crate::ExportOutcome, ExportError> {
                self.0.fetch_add(spans, std::sync::atomic::Ordering::SeqCst);
                Ok(crate::ExportOutcome::default())
            }
        }
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let own = crate::BatchExporter::builder(Accept(std::sync::Arc::clone(&sent)))
            .config(
                crate::BatchConfig::default()
                    .with_scheduled_delay(Duration::from_millis(100))
                    .with_max_export_batch_size(64),
            )
            .build()
            .unwrap();
        let e = env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ]);
        let provider = e.provider_builder().unwrap().exporter(own).build();
        assert_eq!(provider.config().export_batch_size, 64);
        provider.tracer().start_span("own schedule").end();
        let deadline = std::time::Instant::now() + Duration::from_millis(1500);
        while sent.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the exporter's 100 ms ignored"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `OTEL_BSP_EXPORT_TIMEOUT` bounds a flush behind any exporter, not only a batch
    /// exporter's requests.
    #[test]
    fn the_export_timeout_bounds_a_flush_behind_a_users_exporter() {
        struct Slow;
        impl picotrace::SpanExporter for Slow {
            fn export(
                &mut self,
                _: &picotrace::SpanBatch<'_>,
            ) -> Result<(), picotrace::ExportError> {
                std::thread::sleep(Duration::from_secs(3));
                Ok(())
            }
        }
        let e = env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "250"),
        ]);
        let provider = e
            .provider_builder()
            .unwrap()
            .exporter(crate::SharedExporter::new(Slow))
            .build();
        provider.tracer().start_span("slow").end();
        let began = std::time::Instant::now();
        assert!(matches!(provider.flush(), Err(ExportError::Timeout)));
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[test]
    fn batch_processor_variables() {
        let e = env(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "2500"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
        ]);
        assert_eq!(e.batch.scheduled_delay, Duration::from_millis(100));
        assert_eq!(e.batch.export_timeout, Duration::from_millis(2500));
        assert_eq!(
            (e.batch.max_queue_size, e.batch.max_export_batch_size),
            (64, 16)
        );
        assert!(e.warnings.is_empty());
        let e = env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "1e3"),
        ]);
        assert_eq!(e.batch.max_queue_size, 2048);
        // Out of range (over the queue): ignored, so the default 512 (it was 2048).
        assert_eq!(e.batch.max_export_batch_size, 512);
        // A zero timeout is no timeout (the spec), not an invalid value.
        assert_eq!(e.batch.export_timeout, MAX_DURATION);
        assert_eq!(e.batch.scheduled_delay, Duration::from_secs(5));
        assert_eq!(e.warnings.len(), 3);
        // A small queue clamps the default batch size.
        let e = env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "100")]);
        assert_eq!(e.batch.max_export_batch_size, 100);
        // A queue larger than BatchConfig::MAX_QUEUE_SIZE is capped, with a warning.
        for huge in ["99999999999999", "1048576", "65537"] {
            let e = env(&[("OTEL_BSP_MAX_QUEUE_SIZE", huge)]);
            assert_eq!(e.batch.max_queue_size, 65_536, "{huge}");
            assert_eq!(warned(&e), ["OTEL_BSP_MAX_QUEUE_SIZE"]);
        }
        let e = env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "65536")]);
        assert_eq!((e.batch.max_queue_size, e.warnings.len()), (65_536, 0));
        // Requests in flight: 1 by default, at most 16, at least 1.
        assert_eq!(env(&[]).batch.max_concurrent_exports, 1);
        let e = env(&[("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "4")]);
        assert_eq!((e.batch.max_concurrent_exports, e.warnings.len()), (4, 0));
        let e = env(&[("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "17")]);
        assert_eq!(e.batch.max_concurrent_exports, 16);
        assert_eq!(warned(&e), ["OTEL_BSP_MAX_CONCURRENT_EXPORTS"]);
        for bad in ["0", "-1", "two"] {
            let e = env(&[("OTEL_BSP_MAX_CONCURRENT_EXPORTS", bad)]);
            assert_eq!(e.batch.max_concurrent_exports, 1, "{bad}");
            assert_eq!(warned(&e), ["OTEL_BSP_MAX_CONCURRENT_EXPORTS"], "{bad}");
        }
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let e = env(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "18446744073709551615"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "18446744073709551615"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "18446744073709551615"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ]);
        assert!(e.warnings.is_empty());
        let x = e.shared_exporter().unwrap();
        x.flush().unwrap();
        x.shutdown().unwrap();
    }

    #[test]
    fn propagators() {
        assert_eq!(
            env(&[("OTEL_PROPAGATORS", "none")]).propagators,
            Propagators::NONE
        );
        let e = env(&[("OTEL_PROPAGATORS", "tracecontext")]);
        assert_eq!(e.propagators, Propagators::new(&[Propagator::TraceContext]));
        // In order, each once, unknown and unsupported ones warned about and skipped.
        let e = env(&[(
            "OTEL_PROPAGATORS",
            "b3,baggage,martian,B3Multi,jaeger,b3,xray",
        )]);
        assert_eq!(
            e.propagators.as_slice(),
            [
                Propagator::B3,
                Propagator::Baggage,
                Propagator::B3Multi,
                Propagator::Jaeger
            ]
        );
        assert_eq!(warned(&e), ["OTEL_PROPAGATORS", "OTEL_PROPAGATORS"]);
        let headers = [(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )];
        assert!(Propagators::DEFAULT.extract_context(&headers).is_ok());
        assert!(Propagators::NONE.extract_context(&headers).is_err());
    }

    #[test]
    fn span_limits_with_general_fallbacks() {
        let e = env(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "5"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "0"),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "4294967295"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ]);
        assert_eq!(
            e.limits,
            SpanLimits {
                attribute_count: 10,
                event_count: 5,
                link_count: 0,
                attributes_per_event: 3,
                attributes_per_link: u32::MAX,
                value_length: 64,
            }
        );
        let e = env(&[
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
        ]);
        assert_eq!(e.limits.attribute_count, 7);
        assert_eq!(warned(&e), ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"]);
        // Found by review: past the largest limit, out of range like a number past
        // `u64::MAX`: warned about and ignored (the general limit, else the default,
        // applies), where it was taken as the largest without a word.
        for huge in ["4294967296", "99999999999", "18446744073709551616"] {
            let e = env(&[
                ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", huge),
                ("OTEL_SPAN_EVENT_COUNT_LIMIT", huge),
                ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
            ]);
            assert_eq!(e.limits.attribute_count, 7, "{huge}");
            assert_eq!(
                e.limits.event_count,
                SpanLimits::DEFAULT.event_count,
                "{huge}"
            );
            assert_eq!(
                warned(&e),
                [
                    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                    "OTEL_SPAN_EVENT_COUNT_LIMIT"
                ],
                "{huge}"
            );
        }
        // The general count limit is every record's: events' and links' too (spec,
        // common/README.md "Attribute Limits": the model-specific limit first, else the
        // general one).
        let e = env(&[("OTEL_ATTRIBUTE_COUNT_LIMIT", "10")]);
        assert_eq!(
            (
                e.limits.attribute_count,
                e.limits.attributes_per_event,
                e.limits.attributes_per_link
            ),
            (10, 10, 10)
        );
    }

    #[test]
    fn sdk_disabled_turns_tracing_and_export_off() {
        let e = env(&[("OTEL_SDK_DISABLED", "TRUE")]);
        assert!(e.disabled);
        assert!(!e.tracer_config().enabled);
        assert!(matches!(e.shared_exporter(), Ok(SharedExporter::Discard)));
        let e = env(&[("OTEL_SDK_DISABLED", "yes")]);
        assert!(!e.disabled);
        assert_eq!(warned(&e), ["OTEL_SDK_DISABLED"]);
    }

    #[test]
    fn garbage_never_panics() {
        let junk = [
            "",
            "=",
            ",,,",
            "%",
            "%%%",
            "\u{fffd}",
            "9".repeat(400).leak(),
            "=%e2%82",
        ];
        let unset = EnvConfig::from_lookup(|_| None);
        for v in junk {
            let e = EnvConfig::from_lookup(|_| Some(v.to_string()));
            let _ = e.tracer_config();
            if v.is_empty() {
                // Empty is unset: the defaults, without a word.
                assert_eq!(format!("{e:?}"), format!("{unset:?}"));
                continue;
            }
            // Junk in every variable (found by review: only "no panic" was checked):
            // the defaults of everything it cannot be, with warnings.
            assert!(!e.warnings.is_empty(), "{v:?}");
            assert_eq!(e.batch, BatchConfig::DEFAULT, "{v:?}");
            assert_eq!(e.exporter, TracesExporter::Otlp, "{v:?}");
            assert_eq!(e.propagators, unset.propagators, "{v:?}");
            assert_eq!(
                e.sampler.to_string_buf(),
                unset.sampler.to_string_buf(),
                "{v:?}"
            );
            assert_eq!(e.otlp.traces_url, unset.otlp.traces_url, "{v:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2C%3d").as_deref(), Some("a b,="));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        for bad in ["%", "%2", "%zz", "%ff", "%+1"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
