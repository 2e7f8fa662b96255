#!/usr/bin/env bash
# Firmware CI: builds every board example, boots the QEMU demos, and checks end to end
# that a real OTLP collector receives the device's spans through the UART bridge.
#
#   ci/firmware.sh [build] [run] [e2e]     default: all three, in that order
#
#   build  every crate under examples/firmware/*/ that has a .cargo/config.toml, for its
#          board's target, with Debian's compiler and -Z build-std=core; sizes printed
#   run    every demo with an expected-output file (src/bin/<demo>.out) boots in QEMU
#          (`cargo run`, the crate's runner) under `timeout 60`; its semihosting console
#          must match the file byte for byte; the footprint binaries (RISC-V and
#          Cortex-M3) boot and must end with status 0
#   e2e    the QEMU sensor_node demo again, its UART0 on a TCP socket to uart_bridge,
#          which forwards to rotel (started here on free loopback ports); the collector's
#          log must show the device's service.name, span names, parent/child structure,
#          exception event, the trace id given on the command line, and span times
#          between the device's boot time and the run's end, children within their
#          parents (rotel_log.check_times). Then a recorded
#          UART stream with noise, a cut frame and a corrupted frame goes through the
#          bridge: only the intact frames may reach the collector. Last, the embassy
#          demo (qemu-embassy/embassy_node) the same way: its service.name, span names,
#          the given trace, and each `transmit` (uplink task) a child of the `measure`
#          (sensor task) whose context it received over a channel.
#
# Needs `ci/install.sh firmware collector` (Debian's rustc/cargo/rust-src, lld, QEMU,
# rotel). ci/run.sh calls this as its `firmware` step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo
QEMU_TIMEOUT=60
# The demo the e2e check runs, and its crate.
E2E_CRATE=examples/firmware/qemu-lm3s6965
E2E_DEMO=sensor_node
E2E_SERVICE=sensor-node
# The embassy demo the e2e check runs too.
E2E_EMBASSY_CRATE=examples/firmware/qemu-embassy
E2E_EMBASSY_DEMO=embassy_node
E2E_EMBASSY_SERVICE=embassy-node
WORK="$ROOT/target/firmware/e2e"
# One target directory for every board: the host crates they share (syn, serde_derive,
# proc-macro2 ...) are built once instead of once per board, and the two thumbv7m
# boards share core and compiler_builtins (about two minutes of CI). Bin names differ
# across boards of one target, so nothing is overwritten. ci/insn-count.sh builds in
# it too, with the same flags, and reuses what is there.
BOARDS_TARGET_DIR="$ROOT/target/firmware/boards"

# Flags are set here, never inherited: a RUSTFLAGS from the caller would replace a
# board's own target rustflags (linker script, linker).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0

note() { printf '    %s\n' "$*"; }
die() { printf 'firmware: error: %s\n' "$*" >&2; exit 1; }
run() { printf '+ %s\n' "$*"; "$@"; }

debian_cargo() {
    [[ -x "$DEBIAN_RUSTC" && -x "$DEBIAN_CARGO" ]] ||
        die "$DEBIAN_RUSTC / $DEBIAN_CARGO missing: run 'ci/install.sh firmware' first"
    printf '+ RUSTC=%s RUSTC_BOOTSTRAP=1 %s %s --locked %s\n' "$DEBIAN_RUSTC" "$DEBIAN_CARGO" "$1" "${*:2}"
    RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 "$DEBIAN_CARGO" "$1" --locked "${@:2}"
}

# Board crates: folders under examples/firmware/ with a Cargo.toml and a
# .cargo/config.toml (the shared library `common/` has no target of its own).
board_dirs() {
    local manifest dir
    for manifest in examples/firmware/*/Cargo.toml; do
        dir="$(dirname "$manifest")"
        [[ -f "$dir/.cargo/config.toml" ]] && printf '%s\n' "$dir"
    done
    return 0
}

# Prints build.target from a board crate's .cargo/config.toml.
board_target() {
    python3 - "$1/.cargo/config.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f).get("build", {}).get("target", ""))
EOF
}

# cargo arguments for a board crate; -Dwarnings is appended to the board's own target
# rustflags with --config (cargo joins arrays from all config sources). Boards that are
# only built (no demo with an expected-output file runs in QEMU) are built without
# debuginfo: nothing here reads it, and leaving it out takes a fifth or so off their
# builds, the longest part of this script.
board_cargo_args() {
    local dir="$1" target="$2" expected
    printf '%s\n' --release -Z build-std=core \
        --config "target.$target.rustflags=['-Dwarnings']" \
        --target-dir "$BOARDS_TARGET_DIR"
    for expected in "$dir"/src/bin/*.out; do
        [[ -f "$expected" ]] && return 0
    done
    printf '%s\n' --config profile.release.debug=false
}

# "text N B, data N B, bss N B" of an ELF: flash code and constants, initialised RAM,
# zeroed RAM (summed per section, so layout placeholders such as esp-hal's
# `.rotext_dummy` do not count as code).
size_line() {
    llvm-size -A "$1" | python3 -c '
import sys
text = data = bss = 0
for line in sys.stdin:
    parts = line.split()
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0].startswith("."):
        continue
    name, size = parts[0], int(parts[1])
    if "dummy" in name or name.startswith((".debug", ".comment", ".ARM.attributes", ".symtab", ".strtab", ".shstrtab", ".riscv.attributes")):
        continue
    if name.startswith((".bss", ".noinit", ".uninit")):
        bss += size
    elif name.startswith(".data"):
        data += size
    elif name.startswith((".text", ".rodata", ".vector_table", ".boot2", ".trap", ".rwtext", ".flash", ".init", ".gnu.sgstubs")):
        text += size
print(f"text {text} B, data {data} B, bss {bss} B")
'
}

# Set once step_build has run in this invocation: the e2e steps build first otherwise
# (cargo is a no-op when nothing changed), so that run alone they never boot an ELF left
# from an earlier tree.
BUILT=0

step_build() {
    local dir target args bin syms sizes
    BUILT=1
    mapfile -t dirs < <(board_dirs)
    ((${#dirs[@]} > 0)) || die "no board crates under examples/firmware/"
    for dir in "${dirs[@]}"; do
        target="$(board_target "$dir")"
        [[ -n "$target" ]] || die "$dir/.cargo/config.toml sets no build.target"
        mapfile -t args < <(board_cargo_args "$dir" "$target")
        # `|| die`, not `set -e` alone: in a function called from a condition (`a || f`)
        # bash turns `set -e` off (found by review: the e2e steps called it so, and a
        # failed build booted the ELF of an earlier tree).
        (cd "$dir" && debian_cargo build "${args[@]}" --bins) || die "$dir: the build failed"
        for bin in "$dir"/src/bin/*.rs; do
            bin="$BOARDS_TARGET_DIR/$target/release/$(basename "$bin" .rs)"
            [[ -f "$bin" ]] || die "$bin was not built"
            # Read first: inside the note, a failing llvm-size printed sizes of 0.
            sizes="$(size_line "$bin")" || die "llvm-size could not read $bin"
            note "$(basename "$dir")/$(basename "$bin"): $sizes"
            # The symbols are read whole before they are searched: `llvm-nm | grep -q`
            # under pipefail failed (llvm-nm writing to the pipe grep had left) exactly
            # when grep found what it looked for, and the check passed.
            syms="$(llvm-nm -C "$bin")" || die "llvm-nm could not read $bin"
            # portable-atomic's fallback for 64-bit atomics on these CPUs is a table of
            # spin locks: an interrupt that reads one while the code it interrupted
            # holds its lock spins forever (EmbassyClock's epoch was one).
            if grep -q 'portable_atomic::imp::fallback' <<<"$syms"; then
                die "$(basename "$dir")/$(basename "$bin") links portable-atomic's spin-lock fallback"
            fi
            # A new span arena is all zero bytes (one shard), so a `static` one is in
            # .bss, not copied from the flash image (found by review: 40 bytes that
            # were not zero put an embassy demo's whole 5.3 KB arena in .data).
            # (`::h…` is the legacy mangling's hash, which `llvm-nm -C` keeps.)
            if grep -Eq '^[0-9a-f]+ [dD] .*::ARENA(::h[0-9a-f]{16})?$' <<<"$syms"; then
                die "$(basename "$dir")/$(basename "$bin"): its static ARENA is in .data (flash), not .bss"
            fi
            # The footprint binaries format nothing: picotrace must not link core::fmt
            # for them (an enum arm for formatted text once kept 1.5 KB of it linked).
            if [[ "$(basename "$bin")" == footprint_* ]] &&
                grep -q 'core::fmt::write' <<<"$syms"; then
                die "$(basename "$dir")/$(basename "$bin") links core::fmt::write, though it formats nothing"
            fi
        done
    done
}

step_run() {
    local dir target args expected demo actual ran=0
    # Built first: `cargo run` below is under a timeout meant for the run alone.
    if ((!BUILT)); then step_build; fi
    mapfile -t dirs < <(board_dirs)
    for dir in "${dirs[@]}"; do
        target="$(board_target "$dir")"
        mapfile -t args < <(board_cargo_args "$dir" "$target")
        for expected in "$dir"/src/bin/*.out; do
            [[ -f "$expected" ]] || continue
            demo="$(basename "$expected" .out)"
            actual="$ROOT/target/firmware/$(basename "$dir")/$demo.actual"
            mkdir -p "$(dirname "$actual")"
            printf '+ timeout %s cargo run --bin %s (in %s) > %s\n' "$QEMU_TIMEOUT" "$demo" "$dir" "$actual"
            (cd "$dir" && timeout "$QEMU_TIMEOUT" env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 \
                "$DEBIAN_CARGO" run --locked -q "${args[@]}" --bin "$demo" </dev/null >"$actual") ||
                die "$(basename "$dir")/$demo: QEMU run failed or timed out (output so far: $actual)"
            if diff -u "$expected" "$actual"; then
                note "$(basename "$dir")/$demo: console output matches $(basename "$expected")"
            else
                die "$(basename "$dir")/$demo: console output differs from $expected"
            fi
            ran=$((ran + 1))
        done
    done
    # sensor_node and embassy_node (a deleted .out file would drop its demo quietly).
    ((ran >= 2)) || die "expected 2 demos with an expected-output file, ran $ran"
    step_run_footprint
    check_without_tracestate
}

# A build without core's `tracestate` feature links none of its code (found by a
# firmware user's tryout: `Span::trace_context` kept the parser, 3.8 KB of flash):
# footprint_tracer, which calls it, built so (into a target directory of its own, not
# to replace the default build's binary) and its mangled symbols searched (`tracestate`
# is a path segment in both manglings).
check_without_tracestate() {
    local crate="$CORTEX_M_FOOTPRINT_CRATE" target elf syms args=()
    target="$(board_target "$crate")"
    mapfile -t args < <(board_cargo_args "$crate" "$target")
    args=("${args[@]/#$BOARDS_TARGET_DIR/$BOARDS_TARGET_DIR-no-tracestate}")
    (cd "$crate" && debian_cargo build "${args[@]}" --bin footprint_tracer \
        --no-default-features --features systick-clock) ||
        die "$crate: footprint_tracer without tracestate did not build"
    elf="$BOARDS_TARGET_DIR-no-tracestate/$target/release/footprint_tracer"
    syms="$(llvm-nm "$elf")" || die "llvm-nm could not read $elf"
    if grep -qi 'tracestate' <<<"$syms"; then
        grep -i 'tracestate' <<<"$syms" | llvm-cxxfilt >&2
        die "$(basename "$crate")/footprint_tracer without tracestate links its code (above)"
    fi
    note "$(basename "$crate")/footprint_tracer without tracestate: none of its code linked"
}

# The footprint binaries have no console to diff: each must boot in QEMU (RISC-V on the
# riscv32 virt board, Cortex-M3 on the LM3S6965) and end with status 0, its own check
# that its spans were exported and none lost, and leave its FPRT record on the UART
# (found by review: only ci/footprint.sh, which CI does not run, booted them; then only
# the RISC-V ones were booted here).
RISCV_FOOTPRINT_CRATE=examples/firmware/qemu-riscv32
CORTEX_M_FOOTPRINT_CRATE=examples/firmware/qemu-lm3s6965
step_run_footprint() {
    local crate target src elf uart qemu name
    command -v qemu-system-riscv32 >/dev/null ||
        die "qemu-system-riscv32 missing: run 'ci/install.sh firmware' (package qemu-system-misc)"
    if ((!BUILT)); then step_build; fi
    for crate in "$RISCV_FOOTPRINT_CRATE" "$CORTEX_M_FOOTPRINT_CRATE"; do
        target="$(board_target "$crate")"
        name="$(basename "$crate")"
        for src in "$crate"/src/bin/footprint_*.rs; do
            elf="$BOARDS_TARGET_DIR/$target/release/$(basename "$src" .rs)"
            [[ -f "$elf" ]] || die "$elf was not built"
            uart="$ROOT/target/firmware/$name/$(basename "$elf").uart"
            mkdir -p "$(dirname "$uart")"
            rm -f "$uart"
            if [[ "$crate" == "$RISCV_FOOTPRINT_CRATE" ]]; then
                qemu=(qemu-system-riscv32 -machine virt -bios none)
            else
                qemu=(qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb
                    -semihosting-config enable=on,target=native)
            fi
            run timeout "$QEMU_TIMEOUT" "${qemu[@]}" -display none -monitor none \
                -serial "file:$uart" -kernel "$elf" </dev/null >/dev/null ||
                die "$name/$(basename "$elf") failed or timed out in QEMU"
            grep -q FPRT "$uart" || die "$name/$(basename "$elf") left no FPRT record on its UART"
            note "$name/$(basename "$elf"): booted, status 0"
        done
    done
}

# ---- e2e ------------------------------------------------------------------------------

PIDS=()
# Stops what this script started and still runs: only its own running jobs (`jobs -pr`),
# not every PID it ever started; one already waited for may since name an unrelated
# process (found by review).
cleanup() {
    local pid live
    live=" $(jobs -pr | tr '\n' ' ') "
    for pid in "${PIDS[@]}"; do
        [[ "$live" == *" $pid "* ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        [[ "$live" == *" $pid "* ]] && wait "$pid" 2>/dev/null || true
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rotel_agent() {
    local path_file="$ROOT/target/ci/rotel-agent-path"
    [[ -f "$path_file" && -x "$(cat "$path_file")" ]] || run bash ci/install.sh collector >&2
    cat "$path_file"
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_for_port() {
    local port="$1" i
    for i in $(seq 1 100); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
            "$port" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Waits until the collector's log shows $2 spans of trace $3.
wait_for_spans() {
    local log="$1" want="$2" trace="$3" i n
    for i in $(seq 1 100); do
        n="$(grep -c "Trace ID *: $trace" "$log" || true)"
        ((n >= want)) && return 0
        sleep 0.1
    done
    return 1
}

# Starts uart_bridge listening on a free port; sets BRIDGE_PORT and BRIDGE_PID.
start_bridge() {
    local out="$1" err="$2" endpoint="$3" i
    # It exits when QEMU closes the connection; the timeout bounds the `wait` for it.
    timeout 120 "$ROOT/target/debug/uart_bridge" --endpoint "$endpoint" listen:127.0.0.1:0 \
        >"$out" 2>"$err" &
    BRIDGE_PID=$!
    PIDS+=("$BRIDGE_PID")
    BRIDGE_PORT=
    for i in $(seq 1 100); do
        BRIDGE_PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$err")"
        [[ -n "$BRIDGE_PORT" ]] && return 0
        sleep 0.1
    done
    cat "$err" >&2
    die "uart_bridge did not start listening"
}

# Boots demo $2 (ELF $1) continuing traceparent $3, its UART0 through uart_bridge to the
# collector at $4; files in $WORK get suffix $5 (console$5.txt, bridge$5.out, ...).
qemu_through_bridge() {
    local bin="$1" demo="$2" traceparent="$3" endpoint="$4" tag="$5"
    start_bridge "$WORK/bridge$tag.out" "$WORK/bridge$tag.err" "$endpoint"
    # The device's boot time and, after the run, the host's: the span times must fall
    # between them (rotel_log.check_times).
    date +%s >"$WORK/boot$tag.time"
    run timeout "$QEMU_TIMEOUT" qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb \
        -display none -monitor none -serial "tcp:127.0.0.1:$BRIDGE_PORT" \
        -semihosting-config "enable=on,target=native,arg=$demo,arg=traceparent=$traceparent,arg=time=$(cat "$WORK/boot$tag.time")" \
        -kernel "$bin" </dev/null >"$WORK/console$tag.txt" 2>"$WORK/qemu$tag.err" ||
        { cat "$WORK/console$tag.txt" "$WORK/qemu$tag.err" >&2; die "$demo: QEMU run with the bridge failed"; }
    date +%s >"$WORK/after$tag.time"
    wait "$BRIDGE_PID" || { cat "$WORK/bridge$tag.err" >&2; die "uart_bridge failed"; }
    cat "$WORK/bridge$tag.err" "$WORK/bridge$tag.out"
    grep -q "continuing trace ${traceparent:3:32}" "$WORK/console$tag.txt" ||
        { cat "$WORK/console$tag.txt" >&2; die "$demo did not continue the given trace"; }
}

# Runs the uart_bridge command each board README gives, from the board's folder as a
# reader would, with `--help` for its arguments: it must build and run the bridge.
# Cargo reads the folder's .cargo/config.toml (the board's target), so a command run
# from there must leave the folder first (found by review: every README's command
# built the bridge for the board and failed). Same RUSTFLAGS as the bridge build
# above, so nothing is rebuilt.
check_readme_bridge_commands() {
    local readme dir line cmd out checked=0
    for readme in examples/firmware/*/README.md; do
        dir="$(dirname "$readme")"
        while IFS= read -r line; do
            cmd="${line%%--bin uart_bridge*}--bin uart_bridge -- --help"
            cmd="${cmd#"${cmd%%[![:space:]]*}"}"
            [[ "$cmd" == \(* ]] && cmd+=")"
            printf '+ (cd %s && %s)\n' "$dir" "$cmd"
            out="$(cd "$dir" && RUSTFLAGS="-Dwarnings" bash -c "$cmd" </dev/null 2>&1)" \
                || { printf '%s\n' "$out" >&2; die "$readme: its uart_bridge command failed"; }
            grep -q '^usage: uart_bridge' <<<"$out" || { printf '%s\n' "$out" >&2; die "$readme: its uart_bridge command did not run the bridge"; }
            checked=$((checked + 1))
        done < <(grep -- '--bin uart_bridge' "$readme" || true)
    done
    ((checked > 0)) || die "no README gives a uart_bridge command"
    note "the board READMEs' $checked uart_bridge commands run the bridge"
}

random_hex() { python3 -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }

step_e2e() {
    local target bin rotel http_port grpc_port endpoint trace_id parent_id traceparent
    target="$(board_target "$E2E_CRATE")"
    bin="$BOARDS_TARGET_DIR/$target/release/$E2E_DEMO"
    if ((!BUILT)); then step_build; fi
    [[ -x "$bin" ]] || die "$bin was not built"
    RUSTFLAGS="-Dwarnings" run cargo build --locked -p picotrace-examples --bin uart_bridge
    check_readme_bridge_commands
    rotel="$(rotel_agent)"

    rm -rf "$WORK"
    mkdir -p "$WORK"
    trap cleanup EXIT

    # Ports picked here may be taken before rotel binds them (another process on the
    # machine): up to three tries with new ones, as the Rust tests' collector does.
    local try started=0
    for try in 1 2 3; do
        http_port="$(free_port)"
        grpc_port="$(free_port)"
        printf '+ rotel-agent start --otlp-http-endpoint 127.0.0.1:%s ... > %s\n' "$http_port" "$WORK/collector.log"
        "$rotel" start --otlp-http-endpoint "127.0.0.1:$http_port" --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
            --exporter blackhole --debug-log traces --debug-log-verbosity detailed \
            >"$WORK/collector.log" 2>&1 &
        PIDS+=($!)
        # Alive too: another process already listening there would answer for it.
        if wait_for_port "$http_port" && sleep 0.2 && kill -0 "${PIDS[-1]}" 2>/dev/null; then
            started=1
            break
        fi
        cat "$WORK/collector.log" >&2
        note "rotel did not start (try $try of 3)"
        # Gone before the next try rewrites its log.
        kill "${PIDS[-1]}" 2>/dev/null || true
        wait "${PIDS[-1]}" 2>/dev/null || true
    done
    ((started)) || die "rotel did not start"
    endpoint="http://127.0.0.1:$http_port"

    # 1. The demo continues a trace we make up now, so nothing else could produce it.
    trace_id="$(random_hex 16)"
    parent_id="$(random_hex 8)"
    traceparent="00-$trace_id-$parent_id-01"
    qemu_through_bridge "$bin" "$E2E_DEMO" "$traceparent" "$endpoint" ""
    wait_for_spans "$WORK/collector.log" 13 "$trace_id" || true
    python3 - "$ROOT/ci" "$WORK/collector.log" "$WORK/bridge.out" "$E2E_SERVICE" "$trace_id" "$parent_id" \
        "$(cat "$WORK/boot.time")" "$(cat "$WORK/after.time")" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from rotel_log import Checks, check_times, parse
log, bridge, service, trace_id, parent_id, boot_s, after_s = sys.argv[2:]
services, spans = parse(log)
mine = [s for s in spans if s.get("Trace ID") == trace_id]
check = Checks()
check(len(mine) == 13, f"collector received 13 spans of the given trace {trace_id} (got {len(mine)} of {len(spans)})")
check(services and set(services) == {service}, f"resource service.name is {service!r} (got {sorted(set(services))})")
names = sorted(s.get("Name") for s in mine)
expected = sorted(["sensor_cycle"] + ["sample"] * 3 + ["read_sensor", "filter", "transmit"] * 3)
check(names == expected, f"span names are sensor_cycle, 3 x sample, 3 x read_sensor/filter/transmit (got {names})")
ids = [s.get("ID") for s in mine]
check(len(set(ids)) == len(ids), "span ids are unique")
by_id = {s.get("ID"): s for s in mine}
roots = [s for s in mine if s.get("Name") == "sensor_cycle"]
root = roots[0] if roots else {}
check(root.get("Parent ID") == parent_id, f"sensor_cycle's parent is the given parent span {parent_id} (got {root.get('Parent ID')})")
check(root.get("Kind") == "SPAN_KIND_SERVER", f"sensor_cycle is a server span (got {root.get('Kind')})")
samples = [s for s in mine if s.get("Name") == "sample"]
check(all(s.get("Parent ID") == root.get("ID") for s in samples), "every sample is a child of sensor_cycle")
check(sorted(s["attrs"].get("sample.index") for s in samples) == ["1", "2", "3"], "samples are indexed 1, 2, 3")
for s in samples:
    children = sorted(c.get("Name") for c in mine if c.get("Parent ID") == s.get("ID"))
    check(children == ["filter", "read_sensor", "transmit"],
          f"sample {s['attrs'].get('sample.index')} has read_sensor, filter, transmit children (got {children})")
transmits = [s for s in mine if s.get("Name") == "transmit"]
check(all(s.get("Kind") == "SPAN_KIND_CLIENT" for s in transmits), "transmit spans are client spans")
failed = [s for s in transmits if s["events"]]
check(len(failed) == 1, f"exactly one transmit span has events (got {len(failed)})")
if failed:
    f = failed[0]
    ev = f["events"][0]
    check(ev.get("name") == "exception", f"its event is an exception (got {ev.get('name')})")
    check(ev["attrs"].get("exception.type") == "LinkError", f"exception.type is LinkError (got {ev['attrs'].get('exception.type')})")
    check("no ACK" in ev["attrs"].get("exception.message", ""), "exception.message says no ACK")
    check(f.get("Status code") == "STATUS_CODE_ERROR", f"the failed transmit has status ERROR (got {f.get('Status code')})")
    parent = by_id.get(f.get("Parent ID"), {})
    check(parent.get("attrs", {}).get("sample.index") == "3", "the failure is in sample 3")
    check(parent.get("Status code") == "STATUS_CODE_ERROR", "its sample has status ERROR")
check(root.get("Status code") == "STATUS_CODE_ERROR", "sensor_cycle has status ERROR (a reading was lost)")
counters = open(bridge).read()
check("frames valid 4, forwarded 4, forward failed 0" in counters, "the bridge forwarded 4 valid frames, none failed")
check("bad crc 0, oversize 0, garbage 0" in counters, "the bridge dropped nothing from the clean stream")
times = check_times(check, mine, int(boot_s), int(after_s))
# A clock stuck at the boot time would pass the bounds above (found by review).
took = times.get(root.get("ID"), (0, 0))
check(took[1] > took[0], f"sensor_cycle lasts more than 0 ns (got {took[1] - took[0]})")
# Spans the device ran one after another follow one another in time: a clock that
# steps back would reorder them (found by review: "end >= start" above cannot fail, the
# tracer never exports an end before its start).
def in_order(seq):
    return all(a and b and times[a["ID"]][1] <= times[b["ID"]][0] for a, b in zip(seq, seq[1:]))
by_index = sorted(samples, key=lambda s: s["attrs"].get("sample.index", ""))
check(in_order(by_index), "samples 1, 2, 3 follow one another in time")
for s in samples:
    kids = {c.get("Name"): c for c in mine if c.get("Parent ID") == s.get("ID")}
    check(in_order([kids.get(n) for n in ("read_sensor", "filter", "transmit")]),
          f"sample {s['attrs'].get('sample.index')}'s read_sensor, filter, transmit follow one another in time")
check.exit()
EOF
    note "collector received the device's trace $trace_id"

    # 2. A noisy line: record the UART, damage the stream, replay it through the bridge.
    trace_id="$(random_hex 16)"
    parent_id="$(random_hex 8)"
    traceparent="00-$trace_id-$parent_id-01"
    run timeout "$QEMU_TIMEOUT" qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb \
        -display none -monitor none -serial "file:$WORK/uart0.bin" \
        -semihosting-config "enable=on,target=native,arg=$E2E_DEMO,arg=traceparent=$traceparent" \
        -kernel "$bin" </dev/null >"$WORK/console2.txt" 2>"$WORK/qemu2.err" ||
        { cat "$WORK/console2.txt" "$WORK/qemu2.err" >&2; die "QEMU recording run failed"; }
    python3 - "$WORK/uart0.bin" "$WORK/noisy.bin" <<'EOF'
import random, sys
data = open(sys.argv[1], "rb").read()
frames = [f + b"\x00" for f in data.split(b"\x00") if f]
assert len(frames) == 4, f"expected 4 frames on UART0, got {len(frames)}"
rng = random.Random(1)
noise = bytes(rng.randrange(1, 256) for _ in range(40))
cut = frames[1][: len(frames[1]) // 2]
flipped = bytearray(frames[2])
# A data byte, not a COBS code byte (a flipped code byte can make the frame read as
# garbage before its CRC is checked), nor one the flip turns into a delimiter (that
# splits the frame in two): the frame's bytes vary with its random ids and times.
codes, i = set(), 0
while i < len(flipped) - 1:
    codes.add(i)
    i += flipped[i]
middle = len(flipped) // 2
at = next(p for p in [*range(middle, len(flipped) - 1), *range(1, middle)]
          if p not in codes and flipped[p] != 0x10)
flipped[at] ^= 0x10
# noise; frame 0 intact; half of frame 1 then a delimiter; frame 2 with a flipped bit;
# noise that runs into a copy of frame 3 (lost); frame 3 intact; noise with no delimiter.
stream = noise + b"\x00" + frames[0] + cut + b"\x00" + bytes(flipped) + noise + frames[3] + frames[3] + noise
open(sys.argv[2], "wb").write(stream)
EOF
    printf '+ uart_bridge --endpoint %s - < %s\n' "$endpoint" "$WORK/noisy.bin"
    timeout 60 "$ROOT/target/debug/uart_bridge" --endpoint "$endpoint" - <"$WORK/noisy.bin" \
        >"$WORK/bridge2.out" 2>"$WORK/bridge2.err" ||
        { cat "$WORK/bridge2.err" >&2; die "uart_bridge failed on noise (or ran past 60 s)"; }
    cat "$WORK/bridge2.err" "$WORK/bridge2.out"
    wait_for_spans "$WORK/collector.log" 5 "$trace_id" || true
    sleep 0.5 # a late, wrongly forwarded span would show up now
    python3 - "$WORK/collector.log" "$WORK/bridge2.out" "$trace_id" <<'EOF'
import re, sys
log, bridge, trace_id = sys.argv[1:]
text = re.sub(r"\x1b\[[0-9;]*m", "", open(log, encoding="utf-8", errors="replace").read())
counters = open(bridge).read()
got = len(re.findall(r"Trace ID\s*:\s*" + trace_id, text))
failures = []
def check(ok, what):
    print(("    ok: " if ok else "    FAILED: ") + what)
    if not ok:
        failures.append(what)
# Frame 0 holds sample 1's 4 spans, frame 3 the root span alone (it ends last).
check(got == 4 + 1, f"only the intact frames' 5 spans reached the collector (got {got})")
check("frames valid 2, forwarded 2, forward failed 0" in counters, "2 valid frames forwarded, none failed")
m = re.search(r"bad crc (\d+), oversize (\d+), garbage (\d+), partial at end (\d)", counters)
dropped = sum(int(m.group(i)) for i in (1, 2, 3)) if m else -1
check(dropped == 4, f"4 damaged frames dropped: noise, the cut frame, the flipped bit, noise + frame (got {dropped})")
check(m is not None and int(m.group(1)) >= 1, "the flipped bit was caught by the CRC")
check(m is not None and m.group(4) == "1", "the trailing noise was left as a partial frame")
sys.exit(1 if failures else 0)
EOF
    note "noisy stream: only intact frames were forwarded"

    e2e_embassy "$endpoint"
    cleanup
    PIDS=()
    trap - EXIT
}

# The embassy demo through the bridge to the collector started by step_e2e (at $1).
e2e_embassy() {
    local endpoint="$1" target bin trace_id parent_id traceparent
    target="$(board_target "$E2E_EMBASSY_CRATE")"
    bin="$BOARDS_TARGET_DIR/$target/release/$E2E_EMBASSY_DEMO"
    if ((!BUILT)); then step_build; fi
    [[ -x "$bin" ]] || die "$bin was not built"
    trace_id="$(random_hex 16)"
    parent_id="$(random_hex 8)"
    traceparent="00-$trace_id-$parent_id-01"
    qemu_through_bridge "$bin" "$E2E_EMBASSY_DEMO" "$traceparent" "$endpoint" 3
    wait_for_spans "$WORK/collector.log" 9 "$trace_id" || true
    python3 - "$ROOT/ci" "$WORK/collector.log" "$WORK/bridge3.out" "$E2E_EMBASSY_SERVICE" "$trace_id" "$parent_id" \
        "$(cat "$WORK/boot3.time")" "$(cat "$WORK/after3.time")" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from rotel_log import Checks, check_times, parse
log, bridge, service, trace_id, parent_id, boot_s, after_s = sys.argv[2:]
_, spans = parse(log)
mine = [s for s in spans if s.get("Trace ID") == trace_id]
check = Checks()
check(len(mine) == 9, f"collector received 9 spans of the given trace {trace_id} (got {len(mine)})")
services = sorted({str(s.get("service")) for s in mine})
check(services == [service], f"their resource service.name is {service!r} (got {services})")
names = sorted(str(s.get("Name")) for s in mine)
check(names == sorted(["measure", "settle", "transmit"] * 3), f"span names are 3 x measure, settle, transmit (got {names})")
ids = [s.get("ID") for s in mine]
check(len(set(ids)) == len(ids), "span ids are unique")
measures = {s.get("ID"): s for s in mine if s.get("Name") == "measure"}
check(len(measures) == 3 and all(m.get("Parent ID") == parent_id for m in measures.values()),
      f"every measure is a child of the given parent span {parent_id}")
check(all(m.get("Kind") == "SPAN_KIND_SERVER" for m in measures.values()), "measure spans are server spans")
for name, kind in (("settle", "SPAN_KIND_INTERNAL"), ("transmit", "SPAN_KIND_CLIENT")):
    children = [s for s in mine if s.get("Name") == name]
    check(len(children) == 3 and all(s.get("Parent ID") in measures for s in children),
          f"every {name} is a child of a measure span")
    check(len({s.get("Parent ID") for s in children}) == 3, f"each measure has its own {name}")
    check(all(s.get("Kind") == kind for s in children), f"{name} spans are {kind}")
transmits = [s for s in mine if s.get("Name") == "transmit"]
check(sorted(str(s["attrs"].get("round")) for s in transmits) == ["1", "2", "3"], "transmits are rounds 1, 2, 3")
check(all(s["attrs"].get("round") == measures.get(s.get("Parent ID"), {}).get("attrs", {}).get("round")
          for s in transmits),
      "each transmit (uplink task) has the measure of its own round (sensor task) as parent")
check(all(s.get("Status code") == "STATUS_CODE_OK" for s in mine), "every span has status OK")
counters = open(bridge).read()
check("frames valid 3, forwarded 3, forward failed 0" in counters, "the bridge forwarded 3 valid frames (one per round), none failed")
check("bad crc 0, oversize 0, garbage 0" in counters, "the bridge dropped nothing")
# A transmit runs in another task and may outlive its measure: only settle is nested.
times = check_times(check, mine, int(boot_s), int(after_s), nested_names={"settle"})
for name, ms in (("settle", 20), ("transmit", 10)):
    took = [(times[s["ID"]][1] - times[s["ID"]][0]) / 1e6 for s in mine if s.get("Name") == name]
    # Held across `Timer::after_millis(ms)`, on a 1 kHz tick: at least ms - 1.
    check(len(took) == 3 and all(t >= ms - 1 for t in took), f"each {name} lasts at least {ms - 1} ms (got {took})")
check.exit()
EOF
    note "collector received the embassy demo's trace $trace_id: parent/child across tasks"
}

main() {
    (($# > 0)) || set -- build run e2e
    local step
    for step in "$@"; do
        case "$step" in
            build | run | e2e) "step_$step" ;;
            -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
            *) die "unknown step '$step' (build, run, e2e)" ;;
        esac
    done
}

main "$@"
