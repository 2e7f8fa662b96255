//! Name resolution for the exporter's HTTP client, without a thread per request.
//!
//! ureq resolves the collector's host before every request, pooled connection or not,
//! and under a timeout (the exporter always sets one) its resolver spawns a thread for
//! the lookup, even of an IP address. That was one thread spawned and joined per
//! export request: about a quarter of the time of a 512-span request to a collector
//! on loopback (W7 went from ~0.75M to ~1M spans/s without it). Here an IP address is
//! parsed on the calling thread, and a host name's addresses are kept for
//! [`NAME_TTL`], or until a request fails to connect or send
//! ([`Resolved::forget`]), so a collector that moved is looked up again at once.
//!
//! Kept addresses serve new connections only (a pooled one is reused whatever the
//! name resolves to): for up to 10 s a new connection goes to an address a lookup gave
//! before, whatever the record's TTL, in the order it gave (round-robin DNS rotates
//! no further meanwhile). A request that fails to connect or send, or that a gateway
//! answers with 502, 503 or 504, forgets them.
//!
//! ureq's `Resolver` trait is in its `unversioned` module (outside its semver
//! promise): this module and the agent's construction in `otlp_http.rs` (its
//! `DefaultConnector`) are the places that use it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are used for new connections before they are
/// looked up again (a failed request forgets them before that).
pub(crate) const NAME_TTL: Duration = Duration::from_secs(10);

/// Host names kept at once: the collector's, and a proxy's that ureq resolves itself.
const NAMES_KEPT: usize = 4;

/// The addresses one host name had, kept for new connections.
#[derive(Debug)]
struct Kept {
    /// `host:port`, as ureq's resolver writes it.
    name: String,
    addrs: ResolvedSocketAddrs,
    at: Instant,
}

/// What the exporter and its HTTP client share: kept addresses and a lookup count.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    kept: Mutex<Vec<Kept>>,
    lookups: AtomicU64,
}

impl Resolved {
    /// Host names looked up (not parsed as an IP address, not taken from the kept ones).
    pub(crate) fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Forgets every kept address: a request failed to connect or send, so the next
    /// looks the name up again (the collector may have moved).
    pub(crate) fn forget(&self) {
        lock(&self.kept).clear();
    }
}

/// ureq's resolver for the exporter: see the module docs. Generic over the resolver it
/// asks for names (ureq's own outside tests).
#[derive(Debug)]
pub(crate) struct CachingResolver<R = DefaultResolver> {
    lookup: R,
    resolved: Arc<Resolved>,
    ttl: Duration,
}

impl CachingResolver {
    /// Looks names up with ureq's resolver; `resolved` is shared with the exporter.
    pub(crate) fn new(resolved: Arc<Resolved>) -> Self {
        Self::with(DefaultResolver::default(), resolved, NAME_TTL)
    }
}

impl<R: Resolver> CachingResolver<R> {
    fn with(lookup: R, resolved: Arc<Resolved>, ttl: Duration) -> Self {
        Self {
            lookup,
            resolved,
            ttl,
        }
    }
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(authority) = uri.authority() else {
            // Not an absolute URL: ureq's resolver gives the error.
            return self.lookup.resolve(uri, config, timeout);
        };
        let host = authority.host();
        // An IPv6 address in brackets, an IPv4 one bare (`[1.2.3.4]` is neither: a
        // name, looked up under the timeout as any other).
        let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
            None => host.parse::<Ipv4Addr>().is_ok(),
        };
        if literal {
            // No lookup to time out: without a timeout ureq's resolver only parses,
            // on this thread (std's `to_socket_addrs` takes an address as it is).
            return self.lookup.resolve(uri, config, NextTimeout::default());
        }
        let name = match authority.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => format!("{host}:{}", uri.scheme_str().unwrap_or("")),
        };
        {
            let kept = lock(&self.resolved.kept);
            if let Some(k) = kept
                .iter()
                .find(|k| k.name == name && k.at.elapsed() < self.ttl)
            {
                return Ok(k.addrs.clone());
            }
        }
        // Looked up without the lock held: a slow lookup does not hold up another
        // name's kept addresses (nor, at worst, does a second lookup of this one hurt).
        self.resolved.lookups.fetch_add(1, Ordering::Relaxed);
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        let mut kept = lock(&self.resolved.kept);
        kept.retain(|k| k.name != name);
        if kept.len() >= NAMES_KEPT {
            kept.remove(0);
        }
        kept.push(Kept {
            name,
            addrs: addrs.clone(),
            at: Instant::now(),
        });
        Ok(addrs)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use ureq::unversioned::transport::time::Duration as UreqDuration;

    /// A timeout that has already passed: ureq's resolver, asked under it, spawns its
    /// lookup thread and gives up at once.
    fn expired() -> NextTimeout {
        NextTimeout {
            after: UreqDuration::Exact(Duration::ZERO),
            ..NextTimeout::default()
        }
    }

    fn resolve<R: Resolver>(r: &CachingResolver<R>, url: &str, t: NextTimeout) -> String {
        let uri: ureq::http::Uri = url.parse().unwrap();
        match r.resolve(&uri, &ureq::config::Config::default(), t) {
            Ok(addrs) => addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(","),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Answers every name with one address of its own and counts the questions.
    #[derive(Debug, Default)]
    struct Counting(AtomicU64);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &ureq::http::Uri,
            _: &ureq::config::Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let n = self.0.fetch_add(1, Ordering::Relaxed) as u8 + 1;
            let default_port = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            let port = uri.port_u16().unwrap_or(default_port);
            let mut addrs = self.empty();
            addrs.push(SocketAddr::from(([10, 0, 0, n], port)));
            Ok(addrs)
        }
    }

    /// Regression: every request spawned a thread to resolve the collector's host,
    /// an IP address included (ureq's resolver under a timeout). An address is parsed
    /// on the calling thread: a timeout that has passed does not matter to it, where
    /// ureq's own resolver gives up.
    #[test]
    fn ip_addresses_are_parsed_not_looked_up() {
        let r = CachingResolver::new(Arc::default());
        assert_eq!(
            resolve(&r, "http://127.0.0.1:4318/v1/traces", expired()),
            "127.0.0.1:4318"
        );
        assert_eq!(
            resolve(&r, "https://[::1]/v1/traces", expired()),
            "[::1]:443"
        );
        assert_eq!(r.resolved.lookups(), 0);
    }

    /// What ureq's own resolver does with an address stays: a family the config
    /// excludes finds nothing; a bracketed IPv4 address is no IPv6 address, so a name
    /// (looked up, as by ureq).
    #[test]
    fn addresses_keep_ureq_s_rules() {
        let r = CachingResolver::new(Arc::default());
        let v4_only = ureq::config::Config::builder()
            .ip_family(ureq::config::IpFamily::Ipv4Only)
            .build();
        let uri: ureq::http::Uri = "http://[::1]:4318/".parse().unwrap();
        assert!(matches!(
            r.resolve(&uri, &v4_only, expired()),
            Err(ureq::Error::HostNotFound)
        ));
        let counted = CachingResolver::with(Counting::default(), Arc::default(), NAME_TTL);
        resolve(&counted, "http://[1.2.3.4]:4318/", NextTimeout::default());
        resolve(&counted, "http://1.2.3.4:4318/", NextTimeout::default());
        resolve(&counted, "http://[::1]:4318/", NextTimeout::default());
        assert_eq!(counted.resolved.lookups(), 1);
    }

    /// Regression (the same defect, for names): a name is looked up once, then its
    /// addresses serve every request, until they are forgotten (a failed request) or
    /// grow old.
    #[test]
    fn names_are_looked_up_once_then_kept() {
        let resolved = Arc::new(Resolved::default());
        let r = CachingResolver::with(Counting::default(), Arc::clone(&resolved), NAME_TTL);
        let url = "http://collector:4318/v1/traces";
        for _ in 0..3 {
            assert_eq!(resolve(&r, url, NextTimeout::default()), "10.0.0.1:4318");
        }
        assert_eq!(
            (r.lookup.0.load(Ordering::Relaxed), resolved.lookups()),
            (1, 1)
        );
        // Another port, another scheme's default port: names of their own.
        assert_eq!(
            resolve(&r, "http://collector:4317/", NextTimeout::default()),
            "10.0.0.2:4317"
        );
        assert_eq!(
            resolve(&r, "https://collector/", NextTimeout::default()),
            "10.0.0.3:443"
        );
        assert_eq!(resolve(&r, url, NextTimeout::default()), "10.0.0.1:4318");
        resolved.forget();
        assert_eq!(resolve(&r, url, NextTimeout::default()), "10.0.0.4:4318");
        assert_eq!(resolved.lookups(), 4);

        // Kept no longer than the time to live.
        let young = CachingResolver::with(Counting::default(), Arc::default(), Duration::ZERO);
        resolve(&young, url, NextTimeout::default());
        resolve(&young, url, NextTimeout::default());
        assert_eq!(young.resolved.lookups(), 2);
    }

    /// At most [`NAMES_KEPT`] names are kept (the oldest goes); a failed lookup keeps
    /// nothing, and its error is ureq's.
    #[test]
    fn few_names_are_kept_and_failures_are_not() {
        let r = CachingResolver::with(Counting::default(), Arc::default(), NAME_TTL);
        for port in 1..=NAMES_KEPT as u16 + 1 {
            resolve(&r, &format!("http://c:{port}/"), NextTimeout::default());
        }
        assert_eq!(lock(&r.resolved.kept).len(), NAMES_KEPT);
        assert!(!lock(&r.resolved.kept).iter().any(|k| k.name == "c:1"));

        let failing = CachingResolver::with(NotFound, Arc::default(), NAME_TTL);
        for _ in 0..2 {
            let answer = resolve(&failing, "http://gone:4318/", NextTimeout::default());
            assert_eq!(answer, format!("error: {}", ureq::Error::HostNotFound));
        }
        assert_eq!(failing.resolved.lookups(), 2);
        assert!(lock(&failing.resolved.kept).is_empty());
    }

    /// Finds no name.
    #[derive(Debug)]
    struct NotFound;

    impl Resolver for NotFound {
        fn resolve(
            &self,
            _: &ureq::http::Uri,
            _: &ureq::config::Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            Err(ureq::Error::HostNotFound)
        }
    }
}
