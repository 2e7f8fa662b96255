//! Reads the exact versions of picotrace and the peers from the workspace's Cargo.lock,
//! so that the report names what was measured (`BENCH_VERSION_<crate>`).

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let wanted = [
        "picotrace",
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry-proto",
        "opentelemetry-otlp",
        "prost",
        "serde_json",
        "fastrace",
        "tracing",
        "tracing-subscriber",
        "tracing-opentelemetry",
    ];
    for name in wanted {
        // Several versions may be locked (tests/ pins an older opentelemetry-proto):
        // report the newest, which is what this package depends on.
        let mut best: Option<(Vec<u64>, String)> = None;
        for block in text.split("[[package]]") {
            let mut n = None;
            let mut v = None;
            for line in block.lines() {
                if let Some(x) = line.strip_prefix("name = ") {
                    n = Some(x.trim_matches('"'));
                } else if let Some(x) = line.strip_prefix("version = ") {
                    v = Some(x.trim_matches('"'));
                }
            }
            if let (Some(n), Some(v)) = (n, v) {
                if n == name {
                    let key: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
                    if best.as_ref().is_none_or(|(k, _)| key > *k) {
                        best = Some((key, v.to_string()));
                    }
                }
            }
        }
        let v = best.map_or("unknown".to_string(), |(_, v)| v);
        println!("cargo:rustc-env=BENCH_VERSION_{name}={v}");
    }
    // The compiler that builds the bench (cargo gives build scripts its path).
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rustc unknown".into());
    println!("cargo:rustc-env=BENCH_RUSTC={version}");
}
