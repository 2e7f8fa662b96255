//! Support for picotrace's cross-crate tests: a real OTLP collector started on a free
//! loopback port, a reader for what it decoded, and a minimal HTTP client for the
//! example servers.
//!
//! The tests themselves live in `tests/tests/`.
#![forbid(unsafe_code)]

pub mod collector;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends `GET path` with `headers` to `127.0.0.1:port` (HTTP/1.1, `Connection: close`)
/// and returns the whole response, status line included.
///
/// # Panics
/// When the connection or the exchange fails (a test helper).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// Waits until something accepts connections on `127.0.0.1:port`.
///
/// # Panics
/// When nothing does within 20 s (a test helper).
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
