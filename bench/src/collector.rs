//! The rotel OTLP collector (from PyPI, installed by `ci/install.sh collector`), started
//! on free loopback ports with the `blackhole` exporter and killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running collector.
pub struct Collector {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// Returns the rotel binary: `PICOTRACE_ROTEL_AGENT`, `target/ci/rotel-agent-path`, or
/// `.venv-collector/lib/python*/site-packages/rotel/rotel-agent` in the repository.
pub fn rotel_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PICOTRACE_ROTEL_AGENT").map(PathBuf::from) {
        if p.exists() {
            return Some(p);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    if let Ok(p) = std::fs::read_to_string(root.join("target/ci/rotel-agent-path")) {
        let p = PathBuf::from(p.trim());
        if p.exists() {
            return Some(p);
        }
    }
    for entry in std::fs::read_dir(root.join(".venv-collector/lib"))
        .ok()?
        .flatten()
    {
        let p = entry.path().join("site-packages/rotel/rotel-agent");
        if p.exists() {
            return Some(p);
        }
    }
    None
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Collector {
    /// Starts `bin` on free ports and waits (up to 20 s) until it accepts connections.
    pub fn start(bin: &Path) -> Result<Collector, String> {
        let http_port = free_port().map_err(|e| e.to_string())?;
        let grpc_port = free_port().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args([
                "start",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http_port}"),
            ])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--exporter", "blackhole"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], http_port).into();
        let mut collector = Collector {
            child,
            endpoint: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = collector.child.try_wait() {
                return Err(format!("collector exited at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err("collector did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // A listener that is not rotel's (the port taken between `free_port` and its
        // bind): rotel exits soon after; it must still run a moment later.
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(Some(status)) = collector.child.try_wait() {
            return Err(format!("collector exited at start: {status}"));
        }
        Ok(collector)
    }

    /// Returns the collector's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
