#!/usr/bin/env bash
# Flash and RAM footprint of picotrace on Cortex-M, from the footprint_* binaries of
# examples/firmware/qemu-lm3s6965 (opt-level "s", LTO, one codegen unit, panic=abort,
# panic-halt, no core::fmt anywhere):
#
#   footprint_base    clocks, SysTick time, UART, one ADC reading: no tracing
#   footprint_tracer  + tracer, arena, sampler, id generator, W3C traceparent in and out
#   footprint_otlp    + OTLP protobuf encoder (requests written raw to the UART)
#   footprint_frame   + COBS/CRC-32 framing (what the sensor_node demo ships)
#
#   ci/footprint.sh [--targets "T1 T2 ..."] [--symbols N]
#
# Prints a Markdown table: text/data/bss from the ELF (arm-none-eabi-size), the growth
# of text over footprint_base, and RAM measured by running each binary in QEMU: the
# stack is painted at reset and scanned at the end (peak stack), and the binary
# reports the size of its span arena. RAM = data + bss + peak stack. Then the largest
# symbols of footprint_otlp and its text grouped by crate and module (with LTO some code
# is inlined into its callers, so groups are approximate).
#
# Targets default to thumbv7m-none-eabi (the goal's target), thumbv6m-none-eabi and
# thumbv7em-none-eabihf; RAM is measured where QEMU can run the target's code
# (lm3s6965evb with a Cortex-M3, or a Cortex-M4 for thumbv7em).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CRATE=examples/firmware/qemu-lm3s6965
TARGET_DIR="$ROOT/target/firmware/qemu-lm3s6965"
BINS=(footprint_base footprint_tracer footprint_otlp footprint_frame)
TARGETS=(thumbv7m-none-eabi thumbv6m-none-eabi thumbv7em-none-eabihf)
SYMBOLS=15
DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo

while (($# > 0)); do
    case "$1" in
        --targets) read -r -a TARGETS <<<"$2"; shift 2 ;;
        --symbols) SYMBOLS="$2"; shift 2 ;;
        -h | --help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "footprint: unknown argument $1" >&2; exit 2 ;;
    esac
done

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0
[[ -x "$DEBIAN_RUSTC" && -x "$DEBIAN_CARGO" ]] || {
    echo "footprint: Debian's rustc/cargo missing: run 'ci/install.sh firmware'" >&2
    exit 1
}
command -v arm-none-eabi-size >/dev/null || {
    echo "footprint: arm-none-eabi-size missing: run 'ci/install.sh firmware'" >&2
    exit 1
}

build() {
    local target="$1" bin args=() flags="'-Dwarnings'"
    for bin in "${BINS[@]}"; do args+=(--bin "$bin"); done
    # The crate's .cargo/config.toml links thumbv7m (cortex-m-rt's link.x, ld.lld); the
    # other Cortex-M targets get the same flags here. -Dwarnings as in ci/firmware.sh,
    # so that both scripts share one thumbv7m build.
    [[ "$target" == thumbv7m-none-eabi ]] ||
        flags="'-C', 'link-arg=-Tlink.x', '-C', 'linker=ld.lld', $flags"
    (cd "$CRATE" && RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 "$DEBIAN_CARGO" build -q --release \
        -Z build-std=core --target "$target" --target-dir "$TARGET_DIR" \
        --config "target.$target.rustflags=[$flags]" "${args[@]}") >&2
}

qemu_cpu() {
    case "$1" in
        thumbv6m-none-eabi | thumbv7m-none-eabi) echo cortex-m3 ;;
        thumbv7em-none-eabihf) echo cortex-m4 ;;
        *) echo "" ;;
    esac
}

# Runs a footprint binary in QEMU; prints "ARENA PEAK" from its UART record, or "- -".
measure_ram() {
    local elf="$1" cpu="$2" uart
    uart="$(mktemp)"
    if [[ -n "$cpu" ]] && timeout 30 qemu-system-arm -cpu "$cpu" -machine lm3s6965evb -display none \
        -monitor none -serial "file:$uart" -semihosting-config enable=on,target=native \
        -kernel "$elf" </dev/null >/dev/null 2>&1; then
        python3 - "$uart" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
i = data.rfind(b"FPRT")
print(*struct.unpack("<II", data[i + 4:i + 12]) if i >= 0 else ("-", "-"))
EOF
    else
        echo "- -"
    fi
    rm -f "$uart"
}

table() {
    local target="$1" bin elf text data bss base_text="" arena peak cpu
    cpu="$(qemu_cpu "$target")"
    echo
    echo "### $target"
    echo
    echo "| binary | text (flash) | + over base | data | bss | peak stack | span arena | RAM = data+bss+stack | RAM - arena |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for bin in "${BINS[@]}"; do
        elf="$TARGET_DIR/$target/release/$bin"
        read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n1)
        [[ -z "$base_text" ]] && base_text="$text"
        read -r arena peak < <(measure_ram "$elf" "$cpu")
        if [[ "$peak" == "-" ]]; then
            echo "| $bin | $text | $((text - base_text)) | $data | $bss | - | - | - | - |"
        else
            local ram=$((data + bss + peak))
            echo "| $bin | $text | $((text - base_text)) | $data | $bss | $peak | $arena | $ram | $((ram - arena)) |"
        fi
    done
}

# Text of an ELF grouped by where the code comes from.
groups() {
    local elf="$1"
    arm-none-eabi-nm --size-sort -C -S "$elf" | python3 -c '
import re, sys
rules = [
    ("f64 soft-float (compiler_builtins::float)", r"compiler_builtins::float|__aeabi_d|__aeabi_[fiu]2d|__aeabi_d2"),
    ("64-bit integer division (compiler_builtins::int)", r"compiler_builtins::int|__aeabi_[lu]*div"),
    ("memcpy/memmove/memset (compiler_builtins::mem)", r"compiler_builtins::mem|__aeabi_mem"),
    ("tracestate + OTEP 235 (picotrace::wire::tracestate)", r"picotrace::wire::tracestate"),
    ("sampler (picotrace::sampler)", r"picotrace::sampler"),
    ("OTLP protobuf (picotrace::wire::otlp, ::protobuf)", r"picotrace::wire::(otlp|protobuf)"),
    ("traceparent + hex (picotrace::wire::traceparent, ::hex)", r"picotrace::wire::(traceparent|hex)"),
    ("frame: COBS + CRC-32 (picotrace::wire::frame)", r"picotrace::wire::frame"),
    ("propagation (picotrace::propagation, ::context)", r"picotrace::(propagation|context)|TraceContext"),
    ("tracer (picotrace::tracer)", r"picotrace::tracer"),
    ("span recording (picotrace::span)", r"picotrace::span"),
    ("other picotrace", r"picotrace::"),
    ("ids (rand_xoshiro, rand_core)", r"rand_"),
    ("core::fmt", r"core::fmt"),
    ("core (str, slice, ...)", r"core::"),
    ("board + app (picotrace_qemu_lm3s6965, footprint_*, common)", r"picotrace_qemu|footprint_|picotrace_firmware_common"),
    ("vector table + runtime (cortex_m_rt)", r"__INTERRUPTS|__RESET_VECTOR|__EXCEPTIONS|Reset|cortex_m"),
]
totals = {name: 0 for name, _ in rules}
other = 0
for line in sys.stdin:
    parts = line.split(None, 3)
    if len(parts) < 4 or parts[2].lower() not in ("t", "r"):
        continue
    size, name = int(parts[1], 16), parts[3].strip()
    for label, pattern in rules:
        if re.search(pattern, name):
            totals[label] += size
            break
    else:
        other += size
print("| code from | bytes |")
print("| --- | ---: |")
for label, _ in rules:
    if totals[label]:
        print(f"| {label} | {totals[label]} |")
print(f"| other (anonymous constants, ...) | {other} |")
'
}

# The largest symbols, with generic arguments elided (`Tracer<…>`) so names stay short.
top_symbols() {
    local elf="$1"
    arm-none-eabi-nm --size-sort -r -C -S "$elf" | python3 -c '
import sys
def elide(name):
    out, depth = [], 0
    for i, c in enumerate(name):
        if c == "<" and i > 0 and (name[i - 1].isalnum() or name[i - 1] == "_"):
            depth += 1
            if depth == 1:
                out.append("<…")
            continue
        if c == ">" and depth > 0 and not name[i - 1] == "-":
            depth -= 1
            if depth == 0:
                out.append(">")
            continue
        if depth == 0:
            out.append(c)
    return "".join(out).replace("picotrace::", "").replace("|", "\\|")
n = int(sys.argv[1])
print("| bytes | symbol |")
print("| ---: | --- |")
for line in sys.stdin:
    parts = line.split(None, 3)
    if len(parts) == 4 and parts[2] in "tTrR" and n > 0:
        print(f"| {int(parts[1], 16)} | `{elide(parts[3].strip())}` |")
        n -= 1
' "$SYMBOLS"
}

# The largest stack frames (from each function's `sub sp, #N` prologue): where the RAM
# beyond the arena goes.
stack_frames() {
    local elf="$1"
    echo "| frame bytes | function |"
    echo "| ---: | --- |"
    arm-none-eabi-objdump -d -C --no-show-raw-insn "$elf" |
        awk '/^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn) }
             /sub(\.w|w)?[ \t]+sp, / { if (match($0, /#[0-9]+/)) print substr($0, RSTART + 1, RLENGTH - 1) "\t" fn }' |
        sort -rn | head -n 8 | sed -E 's/Tracer<[^ ]*(, [^ ]*)*> as/Tracer<…> as/; s/picotrace:://g' |
        awk -F'\t' '{ printf "| %d | `%s` |\n", $1, substr($2, 1, 140) }'
}

echo "Reproduce: \`bash ci/footprint.sh\` (after \`bash ci/install.sh firmware\`)."
echo "rustc: $("$DEBIAN_RUSTC" --version); profile: opt-level \"s\", lto = true, codegen-units = 1, panic = \"abort\"."
for target in "${TARGETS[@]}"; do
    build "$target"
    table "$target"
done
main_target="${TARGETS[0]}"
echo
echo "### Where footprint_otlp's flash goes ($main_target)"
echo
groups "$TARGET_DIR/$main_target/release/footprint_otlp"
echo
echo "### Largest symbols of footprint_otlp ($main_target)"
echo
top_symbols "$TARGET_DIR/$main_target/release/footprint_otlp"
echo
echo "### Largest stack frames of footprint_otlp ($main_target)"
echo
stack_frames "$TARGET_DIR/$main_target/release/footprint_otlp"
