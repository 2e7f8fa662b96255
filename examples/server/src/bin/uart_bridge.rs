//! Bridges a device's UART to an OTLP/HTTP collector.
//!
//! Firmware built on picotrace (see `examples/firmware/`) writes each OTLP protobuf
//! export request to its UART as one frame: COBS-encoded payload and CRC-32, ended by
//! `0x00` (`picotrace::wire::frame`). This program reads such a byte stream, checks each
//! frame's CRC and posts every valid payload unchanged to `POST /v1/traces`
//! (`application/x-protobuf`) with `picotrace_std::OtlpHttpExporter`. Noise, partial and
//! corrupted frames are counted and skipped; they are never forwarded.
//!
//! ```text
//! uart_bridge [--endpoint URL] [--max-frame BYTES] INPUT
//!
//! INPUT  -                  standard input (a pipe)
//!        PATH               a serial device (set it up first, e.g.
//!                           `stty -F /dev/ttyACM0 115200 raw -echo`), a FIFO or a file
//!        tcp:HOST:PORT      connect to QEMU's `-serial tcp:HOST:PORT,server=on`
//!        listen:HOST:PORT   accept one connection from QEMU's `-serial tcp:HOST:PORT`;
//!                           port 0 picks a free port, printed as `listening on ADDR`
//! --endpoint   OTLP/HTTP base endpoint (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
//!              $OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318); `/v1/traces`
//!              is appended. The other `OTEL_EXPORTER_OTLP_*` settings (headers, TLS
//!              certificates, compression, timeout) are read from the environment as
//!              the OpenTelemetry specification says; the protocol stays protobuf (the
//!              frames are protobuf requests, forwarded as they are).
//! --max-frame  largest payload accepted, in bytes: 1 to 16777216 (16 MiB), default
//!              65536; the frame buffer of that size is allocated at start
//! ```
//!
//! It runs until the input ends (QEMU exits, the pipe closes) or it gets Ctrl-C or
//! SIGTERM (a serial device never ends), logging one line per frame to stderr, then
//! prints its counters to stdout. It exits with 2 on a usage or endpoint error, with 1
//! when the input cannot be opened or read, else with 0. The input is read on a thread
//! of its own, so that a collector that is slow to answer does not stop the reading (a
//! UART without flow control would lose bytes): up to 4 MiB wait to be forwarded. What
//! a stop leaves (valid frames not forwarded, bytes read but not decoded) is printed
//! with the counters. A signal while the input is being opened (waiting for QEMU to
//! connect) stops it the same way.
//!
//! Example with QEMU (see `ci/firmware.sh` for the scripted version):
//!
//! ```text
//! qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -display none -monitor none \
//!     -serial tcp:127.0.0.1:4444,server=on,wait=on -semihosting-config enable=on,target=native \
//!     -kernel examples/firmware/qemu-lm3s6965/target/thumbv7m-none-eabi/release/sensor_node &
//! cargo run -p picotrace-examples --bin uart_bridge -- tcp:127.0.0.1:4444
//! ```
//!
//! (QEMU waits for the bridge, however long `cargo run` takes to build it.)
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use picotrace::wire::frame::{Decoder, FrameError, CRC_LEN};
use picotrace_examples::say;
use picotrace_std::otlp_http::{traces_url_from_base, Protocol};
use picotrace_std::{EnvConfig, OtlpHttpExporter};

const USAGE: &str = "usage: uart_bridge [--endpoint URL] [--max-frame BYTES] INPUT
INPUT: - | PATH | tcp:HOST:PORT | listen:HOST:PORT
BYTES: 1 to 16777216 (default 65536)";

/// What `parse_args` returns for `--help`: not an error, but no options either.
const HELP: &str = "help";

/// The largest `--max-frame` (16 MiB): far above what a UART carries between two
/// exports, small enough that the frame buffer is always allocated.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What the bridge did, printed at exit.
#[derive(Debug, Default)]
struct Counters {
    forwarded: u64,
    spans_rejected: u64,
    forward_failed: u64,
    /// Frames whose payload is empty: a request the device never sends (it sends none
    /// without spans), but line noise can make one (`01 01 01 01 01 00`: no bytes and
    /// their CRC, 0).
    empty: u64,
    /// Valid frames decoded when Ctrl-C or SIGTERM stopped the loop: not forwarded.
    not_sent_at_stop: u64,
    /// Bytes read but not decoded when the loop stopped (the rest of a chunk, and the
    /// chunks still queued).
    undecoded_at_stop: u64,
}

struct Options {
    /// `--endpoint`: overrides the environment's.
    endpoint: Option<String>,
    max_frame: usize,
    input: String,
}

fn parse_args() -> Result<Options, String> {
    let mut endpoint = None;
    let mut max_frame = 64 * 1024;
    let mut input = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint" => endpoint = Some(args.next().ok_or("--endpoint needs a URL")?),
            "--max-frame" => {
                let value = args.next().unwrap_or_default();
                max_frame = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_FRAME).contains(n))
                    .ok_or_else(|| {
                        format!("--max-frame needs a number of bytes from 1 to {MAX_FRAME}, not {value:?}")
                    })?;
            }
            "-h" | "--help" => return Err(HELP.into()),
            _ if input.is_none() && (arg == "-" || !arg.starts_with('-')) => input = Some(arg),
            _ => return Err(format!("unexpected argument: {arg}")),
        }
    }
    Ok(Options {
        endpoint,
        max_frame,
        input: input.ok_or("missing INPUT")?,
    })
}

/// Opens the byte stream named on the command line.
fn open_input(input: &str) -> io::Result<Box<dyn Read + Send>> {
    if input == "-" {
        return Ok(Box::new(io::stdin()));
    }
    if let Some(addr) = input.strip_prefix("tcp:") {
        let stream = TcpStream::connect(addr)?;
        say!("uart_bridge: connected to {addr}");
        return Ok(Box::new(stream));
    }
    if let Some(addr) = input.strip_prefix("listen:") {
        let listener = TcpListener::bind(addr)?;
        // Scripts wait for this line to learn the port (with port 0).
        say!("uart_bridge: listening on {}", listener.local_addr()?);
        let (stream, peer) = listener.accept()?;
        say!("uart_bridge: {peer} connected");
        return Ok(Box::new(stream));
    }
    Ok(Box::new(File::open(input)?))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        // Asked for: the usage on stdout, and success.
        Err(message) if message == HELP => {
            let _ = writeln!(io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            say!("uart_bridge: {message}");
            say!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Every `OTEL_EXPORTER_OTLP_*` setting (found by review: only the endpoint was read,
    // so a collector that needs an API key refused every frame): headers, certificates,
    // compression, timeout. Protobuf whatever the protocol variable says: the frames are
    // protobuf requests, sent as they came.
    let env = EnvConfig::from_env();
    for warning in &env.warnings {
        say!("uart_bridge: {warning}");
    }
    let mut builder = env.otlp.builder().protocol(Protocol::HttpProtobuf);
    if let Some(base) = &options.endpoint {
        builder = builder.traces_endpoint(traces_url_from_base(base));
    }
    let exporter = match builder.build() {
        Ok(exporter) => exporter,
        Err(e) => {
            say!("uart_bridge: bad exporter settings: {e}");
            return ExitCode::from(2);
        }
    };
    say!("uart_bridge: forwarding frames to {}", exporter.url());

    // `max_frame <= MAX_FRAME`: no overflow, and an allocation that succeeds.
    let mut frame_buf = vec![0u8; options.max_frame + CRC_LEN];
    let mut decoder = Decoder::new(&mut frame_buf);
    let mut counters = Counters::default();
    // The input is opened on the reading thread, after the signal handler is in place:
    // opening waits (for QEMU to connect, a FIFO's writer), and a signal meanwhile
    // killed the bridge without its counters (found by review).
    let (received, queued) = read_on_a_thread(options.input.clone());
    let status = loop {
        if STOPPING.load(Ordering::Relaxed) {
            break ExitCode::SUCCESS;
        }
        let chunk = match received.recv() {
            Ok(Input::Bytes(chunk)) => chunk,
            Ok(Input::End) | Err(_) => break ExitCode::SUCCESS,
            Ok(Input::Stop) => break ExitCode::SUCCESS,
            Ok(Input::CannotOpen(e)) => {
                say!("uart_bridge: cannot open {}: {e}", options.input);
                break ExitCode::FAILURE;
            }
            Ok(Input::Failed(e)) => {
                say!("uart_bridge: read error: {e}");
                break ExitCode::FAILURE;
            }
        };
        let mut bytes = &chunk[..];
        while let Some(result) = decoder.feed(&mut bytes) {
            // A chunk may hold many frames, each forwarded in up to the export timeout.
            // A stop leaves the frame just decoded, and what follows, unsent: counted
            // (found by review: a valid frame was dropped uncounted).
            if STOPPING.load(Ordering::Relaxed) {
                match result {
                    Ok([]) => counters.empty += 1,
                    Ok(_) => counters.not_sent_at_stop += 1,
                    Err(_) => {}
                }
                break;
            }
            match result {
                Ok([]) => {
                    counters.empty += 1;
                    say!("uart_bridge: dropped a frame: empty");
                }
                Ok(payload) => forward(&exporter, payload, &mut counters),
                Err(e) => say!("uart_bridge: dropped a frame: {}", describe(e)),
            }
        }
        counters.undecoded_at_stop += bytes.len() as u64;
        // Off the backlog once handled (forwarded or dropped), not when taken off the
        // queue: the reader waits while 4 MiB are read and not yet forwarded (found by
        // review: taken off on receipt, 8 MiB could wait).
        queued.fetch_sub(chunk.len(), Ordering::Relaxed);
    };
    // What the reading thread had queued when the loop stopped: never decoded.
    while let Ok(message) = received.try_recv() {
        if let Input::Bytes(chunk) = message {
            counters.undecoded_at_stop += chunk.len() as u64;
        }
    }
    if decoder.in_frame() {
        say!("uart_bridge: input ended inside a frame; its bytes are dropped");
    }

    let frames = decoder.stats();
    let stats = exporter.stats();
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "uart_bridge: bytes read {}, frames valid {}, forwarded {}, forward failed {}, \
         spans rejected {}; dropped: bad crc {}, oversize {}, garbage {}, partial at end {}, \
         empty {}",
        frames.bytes,
        frames.frames,
        counters.forwarded,
        counters.forward_failed,
        counters.spans_rejected,
        frames.bad_crc,
        frames.oversize,
        frames.garbage,
        u8::from(decoder.in_frame()),
        counters.empty,
    );
    let _ = writeln!(
        out,
        "uart_bridge: http requests {}, retries {}, body bytes {}",
        stats.requests, stats.retries, stats.bytes_sent
    );
    if counters.not_sent_at_stop > 0 || counters.undecoded_at_stop > 0 {
        let _ = writeln!(
            out,
            "uart_bridge: stopped with {} valid frames not forwarded and {} bytes read but \
             not decoded",
            counters.not_sent_at_stop, counters.undecoded_at_stop
        );
    }
    status
}

/// What the reading thread and the signal handler hand to the main loop.
enum Input {
    Bytes(Vec<u8>),
    End,
    CannotOpen(io::Error),
    Failed(io::Error),
    /// Ctrl-C or SIGTERM: stop and print the counters (found by review: a serial device
    /// never ends, and a signal killed the bridge before it printed them).
    Stop,
}

/// Messages in the queue between the reading thread and the forwarding loop: the
/// reading goes on while a frame is forwarded (found by review: reading waited for each
/// request, up to the export timeout, and a UART without flow control overflowed
/// meanwhile).
const QUEUED_CHUNKS: usize = 64;

/// Bytes waiting to be forwarded at most (queued and gathered), before the reading
/// thread waits: reads from a serial device are a few bytes each, so the queue's 64
/// messages alone would hold little (found by review). Counted in bytes, not messages
/// (found by review: up to 64 gathered messages of 4 MiB each, 256 MiB, could wait).
const GATHERED_BYTES: usize = 4 << 20;

/// Set on Ctrl-C or SIGTERM.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Opens and reads `input` on a thread of its own, and stops on Ctrl-C or SIGTERM
/// (the handler in place before the input is opened). Returns the messages and the
/// bytes they hold, which the main loop takes off as it receives them.
fn read_on_a_thread(input: String) -> (mpsc::Receiver<Input>, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::sync_channel(QUEUED_CHUNKS);
    let stop = tx.clone();
    if let Err(e) = picotrace_examples::on_stop_signal("uart_bridge", move || {
        // The flag, for a main loop with chunks queued ahead of the message; the
        // message, for one waiting on an empty queue.
        STOPPING.store(true, Ordering::Relaxed);
        let _ = stop.try_send(Input::Stop);
    }) {
        say!("uart_bridge: no signal handler ({e}): Ctrl-C ends without the counters");
    }
    let queued = Arc::new(AtomicUsize::new(0));
    let backlog = Arc::clone(&queued);
    std::thread::spawn(move || {
        let mut input = match open_input(&input) {
            Ok(input) => input,
            Err(e) => {
                let _ = tx.send(Input::CannotOpen(e));
                return;
            }
        };
        // Sends `bytes`, waiting for room in the queue, and counts them queued.
        let send = |bytes: Vec<u8>| {
            let n = bytes.len();
            backlog.fetch_add(n, Ordering::Relaxed);
            tx.send(Input::Bytes(bytes)).is_ok()
        };
        let mut chunk = [0u8; 4096];
        // Bytes read while the queue was full: sent as one message when it has room.
        let mut gathered = Vec::new();
        loop {
            let end = match input.read(&mut chunk) {
                Ok(0) => Input::End,
                Ok(n) => {
                    gathered.extend_from_slice(&chunk[..n]);
                    let n = gathered.len();
                    backlog.fetch_add(n, Ordering::Relaxed);
                    match tx.try_send(Input::Bytes(std::mem::take(&mut gathered))) {
                        Ok(()) => continue,
                        Err(mpsc::TrySendError::Full(Input::Bytes(back))) => {
                            backlog.fetch_sub(n, Ordering::Relaxed);
                            gathered = back;
                            // Under the most that may wait: read on, gathering.
                            if backlog.load(Ordering::Relaxed) + gathered.len() < GATHERED_BYTES {
                                continue;
                            }
                            // The most: wait for room (the input waits too), and then
                            // until the backlog is under the limit again.
                            if !send(std::mem::take(&mut gathered)) {
                                return;
                            }
                            while backlog.load(Ordering::Relaxed) >= GATHERED_BYTES {
                                std::thread::sleep(std::time::Duration::from_millis(1));
                            }
                            continue;
                        }
                        Err(_) => return,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Failed(e),
            };
            // What was gathered goes first.
            if !gathered.is_empty() && !send(std::mem::take(&mut gathered)) {
                return;
            }
            let _ = tx.send(end);
            return;
        }
    });
    (rx, queued)
}

fn forward(exporter: &OtlpHttpExporter, payload: &[u8], counters: &mut Counters) {
    match exporter.send(payload) {
        Ok(outcome) => {
            counters.forwarded += 1;
            // The collector's number, unchecked (found by review: a collector that
            // answered `u64::MAX` overflowed the sum, a panic in debug builds).
            counters.spans_rejected = counters
                .spans_rejected
                .saturating_add(outcome.rejected_spans);
            say!(
                "uart_bridge: frame of {} bytes forwarded: HTTP {}{}",
                payload.len(),
                outcome.status,
                match outcome.rejected_spans {
                    0 => String::new(),
                    n => format!(", {n} spans rejected"),
                }
            );
        }
        Err(e) => {
            counters.forward_failed += 1;
            say!(
                "uart_bridge: frame of {} bytes not forwarded: {e}",
                payload.len()
            );
        }
    }
}

fn describe(e: FrameError) -> &'static str {
    match e {
        FrameError::BadCrc => "CRC mismatch",
        FrameError::Oversize => "larger than --max-frame",
        FrameError::Garbage => "not a frame (noise, or started mid-frame)",
        _ => "unknown error",
    }
}
