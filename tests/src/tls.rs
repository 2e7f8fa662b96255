//! TLS in front of the collector: a throwaway CA and certificates made with `openssl`,
//! and nginx terminating TLS on a free loopback port and proxying to the collector.
//!
//! Both tools come from Debian (`ci/install.sh tls`). Everything lives in a temporary
//! directory: nginx runs in the foreground with `-p <dir>`, logs to stderr (kept in
//! `<dir>/nginx.log`), and is killed, and the directory removed, on drop.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::collector::free_port;

const INSTALL: &str = "run `ci/install.sh tls` (or `ci/install.sh`, as CI does)";

/// Returns the path of `tool` on `PATH` or in `/usr/sbin` (nginx lives there).
///
/// # Panics
/// When it is not installed, saying how to install it.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: {INSTALL}"))
}

/// A temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp directory.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("picotrace-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Returns `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Returns the directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A certificate and its private key, as PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its unencrypted private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// A throwaway certificate authority made with `openssl` (P-256 keys, valid two days).
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
    /// The CA's own certificate and key.
    pub ca: CertFiles,
    name: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(tool("openssl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

impl TestCa {
    /// Creates a CA named `name` (its subject CN) in a fresh temporary directory.
    ///
    /// # Panics
    /// When `openssl` is missing (saying to run `ci/install.sh`) or fails.
    pub fn new(name: &str) -> TestCa {
        let dir = TempDir::new("tls");
        let ca = CertFiles {
            cert: dir.join(&format!("{name}.crt")),
            key: dir.join(&format!("{name}.key")),
        };
        let subject = format!("/CN={name}");
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", &subject];
        args.extend(EC_KEY);
        args.extend(["-keyout", path_str(&ca.key), "-out", path_str(&ca.cert)]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(dir.path(), &args);
        TestCa {
            dir,
            ca,
            name: name.to_owned(),
        }
    }

    /// Issues a server certificate for the names in `alt_names` (`subjectAltName`
    /// syntax: `IP:127.0.0.1,DNS:localhost`), stored as `<file>.crt` / `<file>.key`.
    pub fn server_cert(&self, file: &str, alt_names: &str) -> CertFiles {
        self.issue(file, alt_names, "serverAuth")
    }

    /// Issues a client certificate (extended key usage `clientAuth`) with CN `file`.
    pub fn client_cert(&self, file: &str) -> CertFiles {
        self.issue(file, &format!("DNS:{file}.client.test"), "clientAuth")
    }

    fn issue(&self, file: &str, alt_names: &str, usage: &str) -> CertFiles {
        let d = &self.dir;
        let out = CertFiles {
            cert: d.join(&format!("{file}.crt")),
            key: d.join(&format!("{file}.key")),
        };
        let csr = d.join(&format!("{file}.csr"));
        let ext = d.join(&format!("{file}.ext"));
        fs::write(
            &ext,
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage={usage}\nsubjectAltName={alt_names}\n"
            ),
        )
        .expect("write extensions");
        let subject = format!("/CN={file}");
        let mut args = vec!["req", "-new", "-nodes", "-subj", &subject];
        args.extend(EC_KEY);
        args.extend(["-keyout", path_str(&out.key), "-out", path_str(&csr)]);
        openssl(d.path(), &args);
        let serial = format!("{}.srl", self.name);
        openssl(
            d.path(),
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                path_str(&csr),
                "-CA",
                path_str(&self.ca.cert),
                "-CAkey",
                path_str(&self.ca.key),
                "-CAserial",
                &serial,
                "-CAcreateserial",
                "-extfile",
                path_str(&ext),
                "-out",
                path_str(&out.cert),
            ],
        );
        out
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// nginx terminating TLS on `127.0.0.1:<port>` and proxying to a plain-HTTP upstream;
/// killed on drop.
pub struct TlsProxy {
    child: Child,
    dir: TempDir,
    /// `https://127.0.0.1:PORT`: the base endpoint to export to.
    pub endpoint: String,
}

impl TlsProxy {
    /// Starts nginx with `server` as its certificate, proxying to `upstream`. With
    /// `client_ca`, it demands a client certificate issued by that CA
    /// (`ssl_verify_client on`).
    ///
    /// A port found free can be taken by another test before nginx binds it: then
    /// nginx exits saying so, and it is started again on another port.
    ///
    /// # Panics
    /// When nginx is missing (saying to run `ci/install.sh`) or does not start.
    pub fn start(server: &CertFiles, upstream: SocketAddr, client_ca: Option<&Path>) -> TlsProxy {
        (0..5)
            .find_map(|_| Self::try_start(server, upstream, client_ca))
            .expect("nginx found a free port in 5 tries")
    }

    /// Starts nginx on a free port; `None` when another process took the port first.
    fn try_start(
        server: &CertFiles,
        upstream: SocketAddr,
        client_ca: Option<&Path>,
    ) -> Option<TlsProxy> {
        let nginx = tool("nginx");
        let dir = TempDir::new("nginx");
        let port = free_port();
        let d = path_str(dir.path());
        let client_auth = client_ca.map_or(String::new(), |ca| {
            format!(
                "ssl_client_certificate {};\n        ssl_verify_client on;",
                path_str(ca)
            )
        });
        let conf = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {client_auth}
        location / {{
            proxy_pass http://{upstream};
        }}
    }}
}}
",
            cert = path_str(&server.cert),
            key = path_str(&server.key),
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let log = fs::File::create(dir.join("nginx.log")).expect("create nginx log");
        let child = Command::new(nginx)
            .args(["-e", "stderr", "-p", d, "-c", path_str(&conf_path)])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start nginx");
        let mut proxy = TlsProxy {
            child,
            dir,
            endpoint: format!("https://127.0.0.1:{port}"),
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log_path = proxy.dir.join("nginx.log");
        let log = || fs::read_to_string(&log_path).unwrap_or_default();
        if let Err(status) = crate::accepting_or_exited(addr, "nginx", &mut proxy.child, log) {
            let log = log();
            if log.contains("Address already in use") {
                return None;
            }
            panic!("nginx exited ({status}); log:\n{log}");
        }
        Some(proxy)
    }

    /// Returns nginx's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("nginx.log")).unwrap_or_default()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
