//! `uart_bridge`'s command line: a bad `--max-frame` is a usage error (exit 2 with a
//! message), never an allocation abort or an overflow (issue 11, defect 8).

use std::process::{Command, Output, Stdio};

fn bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uart_bridge"))
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .expect("run uart_bridge")
}

#[test]
fn max_frame_outside_1_to_16_mib_is_a_usage_error() {
    for bad in [
        "1099511627776",
        "18446744073709551615",
        "18446744073709551616",
        "16777217",
        "0",
        "-1",
        "64k",
        "",
    ] {
        let out = bridge(&["--max-frame", bad, "-"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("--max-frame") && stderr.contains("16777216"),
            "{bad:?}: {stderr}"
        );
    }
    let out = bridge(&["--max-frame"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `--help` is a request, not a mistake: the usage on stdout and success (it was an
/// error, exit 2, on stderr; the board READMEs' bridge commands are checked in CI by
/// running them with `--help`).
#[test]
fn help_prints_the_usage_and_succeeds() {
    for flag in ["--help", "-h"] {
        let out = bridge(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("usage: uart_bridge "),
            "{flag}: {stdout}"
        );
        assert!(out.stderr.is_empty(), "{flag}");
    }
    // A mistake is still one.
    let out = bridge(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: uart_bridge "));
}

#[test]
fn max_frame_at_the_documented_maximum_runs() {
    // Empty input: the bridge reads to the end and prints its counters.
    let out = bridge(&["--max-frame", "16777216", "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("frames valid 0"), "{stdout}");
}

/// Regression (found by review): the bridge read only `OTEL_EXPORTER_OTLP_ENDPOINT`, so
/// a collector that needs an API key (`OTEL_EXPORTER_OTLP_HEADERS`) refused every frame.
/// A frame from stdin reaches a one-request server here with the header, as protobuf,
/// even under `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` (the frames are protobuf).
#[test]
fn the_bridge_takes_the_exporters_settings_from_the_environment() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers and the short body arrive together or soon after: read until the
        // payload's bytes are in.
        while !request.windows(7).any(|w| w == b"payload") {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        );
        String::from_utf8_lossy(&request).into_owned()
    });
    let mut frame = Vec::new();
    picotrace::wire::frame::encode_with(b"payload", |chunk| frame.extend_from_slice(chunk));
    let mut child = Command::new(env!("CARGO_BIN_EXE_uart_bridge"))
        .arg("-")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run uart_bridge");
    child.stdin.take().unwrap().write_all(&frame).unwrap();
    let out = child.wait_with_output().unwrap();
    let request = server.join().unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(lower.starts_with("post /v1/traces "), "{request}");
    assert!(lower.contains("api-key: secret"), "{request}");
    assert!(lower.contains("application/x-protobuf"), "{request}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression (found by review): the collector's `rejected_spans` was summed as it
/// came, so a collector (or a gateway) that answered `u64::MAX` twice overflowed the
/// bridge's counter: a panic in debug builds, which CI's firmware step runs.
#[test]
fn a_collector_s_rejected_count_cannot_overflow_the_counters() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let body = br#"{"partialSuccess":{"rejectedSpans":"18446744073709551615"}}"#;
        let mut answered = 0;
        // One connection, kept alive, or one per request: answer two requests.
        while answered < 2 {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 4096];
            while answered < 2 {
                let mut request = Vec::new();
                while !request.windows(7).any(|w| w == b"payload") {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                if request.is_empty() {
                    break;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
                answered += 1;
            }
        }
    });
    let mut frames = Vec::new();
    for _ in 0..2 {
        picotrace::wire::frame::encode_with(b"payload", |chunk| frames.extend_from_slice(chunk));
    }
    let mut child = spawn_bridge(&format!("http://127.0.0.1:{port}"), "5000");
    child.stdin.take().unwrap().write_all(&frames).unwrap();
    let out = child.wait_with_output().unwrap();
    server.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("forwarded 2,"), "{stdout}");
    assert!(
        stdout.contains(&format!("spans rejected {}", u64::MAX)),
        "{stdout}"
    );
}

/// Starts the bridge on its stdin (all three streams piped), forwarding to `endpoint`
/// with an export timeout of `timeout_ms`.
fn spawn_bridge(endpoint: &str, timeout_ms: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_uart_bridge"))
        .args(["--endpoint", endpoint, "-"])
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run uart_bridge")
}

/// Reads the bridge's stdout to its end (the counters it prints as it stops).
fn read_stdout(child: &mut std::process::Child) -> String {
    use std::io::Read as _;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout piped")
        .read_to_string(&mut stdout)
        .expect("stdout read");
    stdout
}

/// Sends SIGTERM to the bridge; returns how it exited and what it printed (its counters).
#[cfg(unix)]
fn stop_with_sigterm(child: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let stdout = read_stdout(child);
    (child.wait().unwrap(), stdout)
}

/// A collector on loopback that takes up to `connections` connections and reads and
/// answers nothing for 30 s; returns its port.
fn silent_collector(connections: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(connections).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
        drop(held);
    });
    port
}

/// Reads `stderr` until a line holds `text`.
fn wait_for_line(stderr: &mut impl std::io::BufRead, text: &str) {
    let mut line = String::new();
    while !line.contains(text) {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "stderr ended first"
        );
    }
}

/// Runs the bridge on `input` (stdin), forwarding to a port where nothing listens;
/// `keep_stderr: false` closes the read end of its stderr pipe at once.
fn bridge_on(input: &[u8], keep_stderr: bool) -> (Option<i32>, String, String) {
    use std::io::{Read, Write};
    let mut child = spawn_bridge("http://127.0.0.1:1", "2000");
    // Dropping the read end closes the pipe: the bridge's writes then fail (EPIPE).
    let stderr = child.stderr.take().filter(|_| keep_stderr);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write frames");
    drop(stdin);
    let stdout = read_stdout(&mut child);
    let mut said = String::new();
    if let Some(mut stderr) = stderr {
        stderr.read_to_string(&mut said).unwrap();
    }
    let status = child.wait().unwrap();
    (status.code(), stdout, said)
}

/// Regression (found by review): `01 01 01 01 01 00`, an empty payload with its CRC
/// (0), passed the check and was sent to the collector as an empty request; line noise
/// makes it, the device never sends it.
#[test]
fn an_empty_frame_is_dropped_and_counted_not_forwarded() {
    let (code, stdout, said) = bridge_on(&[0, 1, 1, 1, 1, 1, 0], true);
    assert_eq!(code, Some(0), "{said}");
    assert!(stdout.contains("forwarded 0, forward failed 0"), "{stdout}");
    assert!(stdout.contains("empty 1"), "{stdout}");
    assert!(said.contains("dropped a frame: empty"), "{said}");
}

/// Regression (found by review): `eprintln!` panicked on a closed stderr pipe
/// (`uart_bridge ... 2>&1 | head`), and the bridge exited 101 without its counters.
#[cfg(unix)]
#[test]
fn a_closed_stderr_does_not_stop_the_bridge() {
    let mut input = vec![0];
    // A damaged frame, which the bridge reports on stderr.
    input.extend_from_slice(&[5, 1, 2, 3, 4, 0]);
    let (code, stdout, _) = bridge_on(&input, false);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("bad crc 1"), "{stdout}");
}

/// Regression (found by review): a serial device never ends, and Ctrl-C or SIGTERM
/// killed the bridge before it printed its counters. Here stdin stays open, as a
/// device's would, and SIGTERM comes once a frame was handled.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_bridge_with_its_counters() {
    use std::io::{BufReader, Write};
    let mut child = spawn_bridge("http://127.0.0.1:1", "2000");
    let mut stdin = child.stdin.take().expect("stdin");
    // A damaged frame: reported on stderr at once, nothing to forward.
    stdin.write_all(&[0, 5, 1, 2, 3, 4, 0]).unwrap();
    stdin.flush().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    wait_for_line(&mut stderr, "dropped a frame");
    let (status, stdout) = stop_with_sigterm(&mut child);
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(stdout.contains("bad crc 1"), "{stdout}");
}

/// Regression (found by review): reading waited while a frame was forwarded, for up to
/// the export timeout; a UART without flow control overflowed meanwhile. Here the
/// collector never answers, and 256 KiB written after the frame are still taken in at
/// once (a pipe holds 64 KiB).
#[cfg(unix)]
#[test]
fn reading_goes_on_while_a_frame_is_forwarded() {
    use std::io::{BufReader, Write};
    let port = silent_collector(4);
    let mut child = spawn_bridge(&format!("http://127.0.0.1:{port}"), "20000");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut frame = vec![0];
    picotrace::wire::frame::encode_with(b"payload", |chunk| frame.extend_from_slice(chunk));
    stdin.write_all(&frame).unwrap();
    stdin.flush().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    wait_for_line(&mut stderr, "forwarding frames to");
    // Lone delimiters: empty frames, ignored; only the reading matters.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let written = stdin.write_all(&vec![0u8; 256 * 1024]);
        let _ = done_tx.send(written.is_ok());
        stdin
    });
    let taken = done_rx.recv_timeout(std::time::Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
    drop(writer);
    assert_eq!(
        taken,
        Ok(true),
        "the bridge stopped reading while it forwarded"
    );
}

/// Regression (found by review): SIGTERM while the bridge waited for QEMU to connect
/// (`listen:`) killed it by the signal, before its handler was installed: no counters,
/// no exit code.
#[cfg(unix)]
#[test]
fn a_signal_while_waiting_for_the_input_stops_with_the_counters() {
    use std::io::BufReader;
    let mut child = Command::new(env!("CARGO_BIN_EXE_uart_bridge"))
        .args(["--endpoint", "http://127.0.0.1:1", "listen:127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run uart_bridge");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    wait_for_line(&mut stderr, "listening on");
    let (status, stdout) = stop_with_sigterm(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(stdout.contains("bytes read 0"), "{stdout}");
}

/// A collector on loopback that answers every request (keep-alive) with 200 after
/// `delay`; returns its port.
fn slow_collector(delay: std::time::Duration) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    if writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Regression (found by review): the backlog was bounded in messages, not bytes: while
/// forwarding lagged, each message the loop took made room for another 4 MiB gathered
/// one, up to about 256 MiB waiting. The bridge now stops reading (so the writer waits)
/// at about 4 MiB.
#[cfg(unix)]
#[test]
fn the_backlog_waiting_to_be_forwarded_is_bounded_in_bytes() {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let port = slow_collector(std::time::Duration::from_millis(5));
    let mut child = spawn_bridge(&format!("http://127.0.0.1:{port}"), "20000");
    let mut stdin = child.stdin.take().expect("stdin");
    // Frames of 1 KiB, back to back, as fast as the pipe takes them.
    let mut frames = vec![0];
    for _ in 0..64 {
        picotrace::wire::frame::encode_with(&[7u8; 1024], |c| frames.extend_from_slice(c));
    }
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&written);
    let _writer = std::thread::spawn(move || {
        while stdin.write_all(&frames).is_ok() {
            counted.fetch_add(frames.len(), Ordering::Relaxed);
        }
    });
    // Drained by a thread: the bridge logs every frame to stderr.
    let mut stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let taken = written.load(Ordering::Relaxed);
    // Still running, and it did read (found by review: a bridge that died at its
    // start, or never read, passed the bound below).
    let running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(running, "the bridge exited");
    // 4 MiB waiting, what was forwarded meanwhile (5 ms a KiB: under 1 MiB in 3 s),
    // the pipe's 64 KiB; at least 256 KiB read before it stopped reading.
    assert!(
        (256 << 10..6 << 20).contains(&taken),
        "{taken} bytes taken in while forwarding lagged"
    );
}

/// Regression (found by review): a valid frame decoded when SIGTERM came was dropped
/// without being counted (frames valid 2, forwarded 0, failed 1, nothing else). What a
/// stop leaves is printed with the counters.
#[cfg(unix)]
#[test]
fn what_a_stop_leaves_unsent_is_counted() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    // Takes the request for the first frame and never answers.
    let _held = std::thread::spawn(move || {
        let first = listener.accept();
        let _ = accepted_tx.send(());
        std::thread::sleep(std::time::Duration::from_secs(30));
        drop(first);
    });
    // Long enough that SIGTERM comes while the first frame is being forwarded, on a
    // loaded machine too.
    let mut child = spawn_bridge(&format!("http://127.0.0.1:{port}"), "5000");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut input = vec![0];
    for payload in [&b"first"[..], b"second"] {
        picotrace::wire::frame::encode_with(payload, |c| input.extend_from_slice(c));
    }
    stdin.write_all(&input).unwrap();
    stdin.flush().unwrap();
    let mut stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    accepted
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the first frame is being forwarded");
    let (status, stdout) = stop_with_sigterm(&mut child);
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("frames valid 2, forwarded 0, forward failed 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stopped with 1 valid frames not forwarded"),
        "{stdout}"
    );
}

/// Regression (found by review): while a frame was forwarded, the reader queued up to 64
/// reads and gathered what came after in a buffer of its own, sent only when another
/// read came. A device that then went quiet left a whole frame there for ever, and a
/// stop did not count it anywhere. Here the collector never answers (1 s timeout): a
/// frame, 70 reads of one delimiter each, then a second frame; both frames are decoded
/// and forwarded (and fail), with the input still open.
#[cfg(unix)]
#[test]
fn bytes_read_while_forwarding_reach_the_loop_when_the_input_goes_quiet() {
    use std::io::{BufRead, BufReader, Write};
    let port = silent_collector(8);
    let mut child = spawn_bridge(&format!("http://127.0.0.1:{port}"), "1000");
    let mut stdin = child.stdin.take().expect("stdin");
    let frame = |payload: &[u8]| {
        let mut frame = vec![0];
        picotrace::wire::frame::encode_with(payload, |c| frame.extend_from_slice(c));
        frame
    };
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    wait_for_line(&mut stderr, "forwarding frames to");
    stdin.write_all(&frame(b"first")).unwrap();
    stdin.flush().unwrap();
    // One read each (the reader waits in `read` between them), while the first frame
    // is being forwarded.
    for _ in 0..70 {
        stdin.write_all(&[0]).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    stdin.write_all(&frame(b"second")).unwrap();
    stdin.flush().unwrap();
    // Both frames fail to be forwarded (the collector does not answer), each within its
    // 1 s: the second only if the loop got its bytes.
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = lines_tx.send(std::mem::take(&mut line));
        }
    });
    let mut failed = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while failed < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("not forwarded") => failed += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let (status, stdout) = stop_with_sigterm(&mut child);
    drop(stdin);
    assert_eq!(failed, 2, "{stdout}");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(stdout.contains("frames valid 2"), "{stdout}");
    assert!(stdout.contains("forward failed 2"), "{stdout}");
}

/// Regression (found by review): a serial device that ends (a USB adapter or debug
/// probe unplugged or reset: the tty hangs up and reads as ended) stopped the bridge
/// with success, and a supervisor that restarts it on failure left it stopped. A
/// character device that ends is a failure now; `/dev/null` is one that ends at once.
#[cfg(unix)]
#[test]
fn a_serial_device_that_hangs_up_is_a_failure() {
    let out = bridge(&["--endpoint", "http://127.0.0.1:1", "/dev/null"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("hung up"), "{said}");
    // A regular file that ends is the end of the input, as before.
    let file = std::env::temp_dir().join(format!("uart_bridge_empty_{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let out = bridge(&["--endpoint", "http://127.0.0.1:1", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression (found by review): the bridge printed the collector's URL as given, its
/// credentials and API key with it; the log shows them redacted, as the quick start
/// does.
#[test]
fn the_collector_s_url_is_logged_without_its_secrets() {
    let out = bridge(&[
        "--endpoint",
        "http://user:s3cret@127.0.0.1:1/?api_key=k3y",
        "-",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("forwarding frames to http://"), "{said}");
    for secret in ["s3cret", "k3y"] {
        assert!(!said.contains(secret), "{said}");
    }
}
