//! End to end over TLS: nginx terminates https (certificates from a throwaway CA made
//! by `openssl`) in front of a real collector (rotel), and the exporter must trust a
//! private CA, refuse a server it should not trust, and present a client certificate
//! when the proxy demands one. nginx and openssl come from `ci/install.sh`; without
//! them these tests fail and say so.

use std::time::Duration;

use picotrace::{IdGenerator, ManualClock, SpanArena, Timestamp, Tracer, TracerConfig};
use picotrace_std::{EnvConfig, ExportError, ExporterStats, OtlpHttpExporter, RetryPolicy};
use picotrace_tests::collector::Collector;
use picotrace_tests::tls::{CertFiles, TestCa, TlsProxy};

/// The collector, a CA, and nginx in front with a certificate for `127.0.0.1`.
struct Https {
    collector: Collector,
    ca: TestCa,
    proxy: TlsProxy,
}

/// Starts the collector and nginx with a server certificate for `alt_names`; with
/// `mtls`, nginx demands a client certificate from the same CA.
fn https(alt_names: &str, mtls: bool) -> Https {
    let collector = Collector::start();
    let ca = TestCa::new("picotrace-test-ca");
    let server = ca.server_cert("server", alt_names);
    let client_ca = mtls.then_some(ca.ca.cert.as_path());
    let proxy = TlsProxy::start(&server, collector.http_addr, client_ca);
    Https {
        collector,
        ca,
        proxy,
    }
}

fn builder(h: &Https) -> picotrace_std::OtlpHttpExporterBuilder {
    OtlpHttpExporter::builder()
        .endpoint(h.proxy.endpoint.clone())
        .timeout(Duration::from_secs(5))
        .retry_policy(RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(80),
            ..RetryPolicy::default()
        })
}

/// Records and exports one span named `name` through `exporter`; returns the
/// exporter's counters.
fn export_one(exporter: OtlpHttpExporter, name: &str) -> ExporterStats {
    let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
    let tracer = Tracer::new(
        TracerConfig::new("tls-e2e"),
        SpanArena::<4>::new(),
        &clock,
        IdGenerator::from_seed([7; 32]),
        exporter,
    );
    tracer.start_span(name).end();
    tracer.flush();
    tracer
        .with_exporter(|x| x.stats())
        .expect("no export running")
}

fn assert_arrives(h: &Https, exporter: OtlpHttpExporter, name: &str) {
    let stats = export_one(exporter, name);
    assert_eq!(
        (stats.spans_exported, stats.spans_failed),
        (1, 0),
        "{stats:?}; nginx log:\n{}",
        h.proxy.log()
    );
    let got = h.collector.wait_for(Duration::from_secs(10), |s| {
        s.iter().any(|s| s.name == name)
    });
    assert!(got.iter().any(|s| s.name == name), "{got:#?}");
}

/// Exports one span that must fail; returns the error of a direct send (the same
/// failure, as [`ExportError`]) after checking that the span was counted as failed,
/// without retries.
fn assert_refused(exporter: OtlpHttpExporter) -> ExportError {
    let error = exporter.send(b"").expect_err("must be refused");
    eprintln!("refused as expected: {error}");
    let stats = export_one(exporter, "refused");
    assert_eq!(
        (stats.spans_exported, stats.spans_failed, stats.failed_sends),
        (0, 1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.retries, 0, "a refused certificate is not retried");
    error
}

fn lookup<'a>(vars: &'a [(&str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
    |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn spans_arrive_over_https_when_the_private_ca_is_trusted() {
    let h = https("IP:127.0.0.1", false);
    let from_file = builder(&h).ca_certificate_file(&h.ca.ca.cert);
    assert_arrives(&h, from_file.build().expect("exporter"), "https-ca-file");
    let pem = std::fs::read(&h.ca.ca.cert).unwrap();
    let from_pem = builder(&h).ca_certificate_pem(pem);
    assert_arrives(&h, from_pem.build().expect("exporter"), "https-ca-pem");
}

#[test]
fn env_certificate_trusts_the_ca_and_the_traces_variable_wins() {
    let h = https("IP:127.0.0.1", false);
    let other = TestCa::new("another-ca");
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", h.proxy.endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", path(&h.ca.ca.cert)),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&other.ca.cert)),
    ];
    let env = EnvConfig::from_lookup(lookup(&vars));
    assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    assert_eq!(
        env.otlp.certificate.as_deref(),
        Some(h.ca.ca.cert.as_path())
    );
    assert_arrives(&h, env.otlp.builder().build().unwrap(), "https-env");
    // The general variable alone, naming the wrong CA: refused.
    let vars = [vars[0].clone(), vars[2].clone()];
    let env = EnvConfig::from_lookup(lookup(&vars));
    let e = assert_refused(env.otlp.builder().build().unwrap());
    assert!(matches!(e, ExportError::Tls(_)), "{e:?}");
}

#[test]
fn an_untrusted_server_certificate_is_refused_and_counted_as_failed() {
    let h = https("IP:127.0.0.1", false);
    // No CA configured: the webpki roots do not know the private CA.
    let e = assert_refused(builder(&h).build().unwrap());
    let shown = e.to_string();
    assert!(matches!(e, ExportError::Tls(_)), "{e:?}");
    assert!(
        shown.starts_with("TLS with the collector failed") && shown.contains("UnknownIssuer"),
        "{shown}"
    );
    // Another private CA: refused the same way.
    let other = TestCa::new("another-ca");
    let exporter = builder(&h).ca_certificate_file(&other.ca.cert).build();
    let e = assert_refused(exporter.unwrap());
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
}

#[test]
fn a_server_certificate_for_another_name_is_refused() {
    let h = https("DNS:collector.other.example", false);
    let exporter = builder(&h).ca_certificate_file(&h.ca.ca.cert).build();
    let e = assert_refused(exporter.unwrap());
    let shown = e.to_string();
    assert!(matches!(e, ExportError::Tls(_)), "{e:?}");
    assert!(
        shown.contains("not valid for name") && shown.contains("127.0.0.1"),
        "{shown}"
    );
}

#[test]
fn mtls_works_with_a_client_certificate_and_fails_clearly_without_one() {
    let h = https("IP:127.0.0.1", true);
    let client = h.ca.client_cert("exporter");
    let with_cert = builder(&h)
        .ca_certificate_file(&h.ca.ca.cert)
        .client_certificate_files(&client.cert, &client.key);
    assert_arrives(&h, with_cert.build().unwrap(), "mtls-builder");

    // The same through the environment, signal-specific names.
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", h.proxy.endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&h.ca.ca.cert)),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            path(&client.cert),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", path(&client.key)),
    ];
    let env = EnvConfig::from_lookup(lookup(&vars));
    assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    assert_arrives(&h, env.otlp.builder().build().unwrap(), "mtls-env");

    // Without a client certificate nginx answers 400 and says why.
    let without = builder(&h).ca_certificate_file(&h.ca.ca.cert).build();
    let e = assert_refused(without.unwrap());
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert!(
        e.to_string()
            .contains("No required SSL certificate was sent"),
        "{e}"
    );
    // A client certificate from a CA nginx does not trust: refused too.
    let stranger_ca = TestCa::new("stranger-ca");
    let stranger = stranger_ca.client_cert("stranger");
    let foreign = builder(&h)
        .ca_certificate_file(&h.ca.ca.cert)
        .client_certificate_files(&stranger.cert, &stranger.key)
        .build();
    let e = assert_refused(foreign.unwrap());
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert!(e.to_string().contains("SSL certificate error"), "{e}");
}

#[test]
fn a_client_key_for_another_certificate_is_a_build_error_that_shows_no_key() {
    let ca = TestCa::new("picotrace-test-ca");
    let client = ca.client_cert("exporter");
    let other = ca.client_cert("other");
    let mismatched = CertFiles {
        cert: client.cert.clone(),
        key: other.key.clone(),
    };
    let key_pem = std::fs::read_to_string(&mismatched.key).unwrap();
    let key_body = key_pem.lines().nth(1).expect("a base64 line");
    let e = OtlpHttpExporter::builder()
        .client_certificate_files(&mismatched.cert, &mismatched.key)
        .build()
        .expect_err("mismatched key");
    assert!(matches!(e, ExportError::InvalidTls { .. }), "{e:?}");
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(shown.contains("does not belong"), "{shown}");
        assert!(shown.contains(&path(&mismatched.key)), "{shown}");
        assert!(!shown.contains(key_body), "{shown}");
    }
    // Given as PEM bytes: the error says so, and `Debug` of the builder hides the key.
    let b = OtlpHttpExporter::builder().client_certificate_pem(
        std::fs::read(&mismatched.cert).unwrap(),
        key_pem.clone().into_bytes(),
    );
    assert!(!format!("{b:?}").contains(key_body));
    let e = b.build().expect_err("mismatched key");
    assert!(e.to_string().contains("PEM given in code"), "{e}");

    // Through the environment: a warning on the key variable, no client certificate.
    let vars = [
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            path(&mismatched.cert),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&mismatched.key)),
    ];
    let env = EnvConfig::from_lookup(lookup(&vars));
    assert_eq!(env.warnings.len(), 1, "{:?}", env.warnings);
    assert_eq!(env.warnings[0].variable, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    assert!(!env.warnings[0].to_string().contains(key_body));
    assert_eq!(
        (env.otlp.client_certificate, env.otlp.client_key),
        (None, None)
    );
}
