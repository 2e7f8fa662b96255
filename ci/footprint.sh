#!/usr/bin/env bash
# Flash and RAM footprint of picotrace on Cortex-M and RISC-V, from the footprint_*
# binaries of examples/firmware/qemu-lm3s6965 (Cortex-M targets) and
# examples/firmware/qemu-riscv32 (riscv32imc), which run the same traced workload
# (examples/firmware/common/src/footprint.rs); opt-level "s", LTO, one codegen unit,
# panic=abort, panic-halt, no core::fmt anywhere:
#
#   footprint_base    clocks, time, UART, one sensor reading: no tracing
#   footprint_tracer  + tracer, arena, sampler, id generator, W3C traceparent in and out
#   footprint_otlp    + OTLP protobuf encoder (requests written raw to the UART)
#   footprint_frame   + COBS/CRC-32 framing (the sensor_node demo adds its console,
#                     the run-time Sampler and core's embedded-io FrameExporter)
#
#   ci/footprint.sh [--targets "T1 T2 ..."] [--symbols N] [--no-features]
#
# Prints Markdown tables, ready for BENCHMARKS.md:
#  1. per target: text/data/bss from the ELF (llvm-size), the growth of text over
#     footprint_base, and RAM measured by running each binary in QEMU: the stack is
#     painted at reset and scanned at the end (peak stack), and the binary reports the
#     size of its span arena. RAM = data + bss + peak stack;
#  2. where the flash of each binary goes, by module, from DWARF inline chains
#     (ci/footprint-modules.py): code LTO inlined into the board's functions is charged
#     to the module it was written in; rows sum to `size`'s text (checked);
#  3. what each of core's default features costs: the binaries are built again without
#     it (`--no-default-features --features picotrace/<the others>`) and the table gives
#     flash and RAM saved; features come from core/Cargo.toml's `default` list;
#  4. the largest symbols and stack frames of footprint_otlp.
#
# Targets default to thumbv7m-none-eabi (the goal's target), thumbv6m-none-eabi,
# thumbv7em-none-eabihf and riscv32imc-unknown-none-elf; RAM is measured in QEMU
# (lm3s6965evb with a Cortex-M3, or a Cortex-M4 for thumbv7em; the riscv32 virt board).
# Tables 2-4 are for the first target (a Cortex-M one). --no-features skips table 3 (one build per
# default feature).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Copies of each build's ELFs: a later build (other features) overwrites release/.
OUT="$ROOT/target/firmware/footprint"
BINS=(footprint_base footprint_tracer footprint_otlp footprint_frame)
TARGETS=(thumbv7m-none-eabi thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)
SYMBOLS=15
FEATURES=1
DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo

while (($# > 0)); do
    case "$1" in
        --targets) read -r -a TARGETS <<<"$2"; shift 2 ;;
        --symbols) SYMBOLS="$2"; shift 2 ;;
        --no-features) FEATURES=0; shift ;;
        -h | --help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "footprint: unknown argument $1" >&2; exit 2 ;;
    esac
done

# What this script needs that CI's other steps do not (ARM binutils, pyelftools), and
# Debian's Rust: installed here, so that CI's install step leaves them out.
bash "$ROOT/ci/install.sh" firmware footprint >&2

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0
# The module table reads full DWARF: the boards' own `debug = true`, whatever ci/run.sh
# set for CI's other builds.
unset CARGO_PROFILE_RELEASE_DEBUG
[[ -x "$DEBIAN_RUSTC" && -x "$DEBIAN_CARGO" ]] || {
    echo "footprint: Debian's rustc/cargo missing: run 'ci/install.sh firmware'" >&2
    exit 1
}
# pyelftools, in the venv ci/install.sh makes, reads the DWARF for the module table.
PY="$ROOT/target/ci/footprint-venv/bin/python"
"$PY" -c 'import elftools' 2>/dev/null || {
    echo "footprint: $PY with pyelftools missing: run 'ci/install.sh footprint'" >&2
    exit 1
}
for tool in llvm-size llvm-cxxfilt arm-none-eabi-nm arm-none-eabi-objdump qemu-system-arm qemu-system-riscv32; do
    command -v "$tool" >/dev/null || {
        echo "footprint: $tool missing: run 'ci/install.sh firmware footprint'" >&2
        exit 1
    }
done

# The board crate that builds TARGET's footprint binaries.
crate_of() {
    case "$1" in
        riscv32*) echo examples/firmware/qemu-riscv32 ;;
        *) echo examples/firmware/qemu-lm3s6965 ;;
    esac
}

# The board crate's own default features, kept when core's are left out (the Cortex-M
# board's SysTick clock).
board_features_of() {
    case "$1" in
        riscv32*) echo "" ;;
        *) echo systick-clock ;;
    esac
}

# build TARGET SET [CARGO FEATURE ARGS...]: builds the footprint binaries and copies them
# to $OUT/TARGET/SET/. Returns non-zero if a binary does not build (a feature the
# binaries need was left out); what did build is copied.
build() {
    local target="$1" set="$2" bin args=() flags="'-Dwarnings'" status=0 crate target_dir
    shift 2
    crate="$(crate_of "$target")"
    target_dir="$ROOT/target/firmware/$(basename "$crate")"
    for bin in "${BINS[@]}"; do args+=(--bin "$bin"); done
    # The crate's .cargo/config.toml links its own target (cortex-m-rt's or riscv-rt's
    # link.x, ld.lld); the other Cortex-M targets get the same flags here. -Dwarnings as in ci/firmware.sh,
    # so that both scripts share one thumbv7m build.
    [[ "$target" == thumbv7m-none-eabi || "$target" == riscv32imc-unknown-none-elf ]] ||
        flags="'-C', 'link-arg=-Tlink.x', '-C', 'linker=ld.lld', $flags"
    cargo_build() {
        (cd "$crate" && RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 "$DEBIAN_CARGO" build --locked -q --release \
            -Z build-std=core --target "$target" --target-dir "$target_dir" \
            --config "target.$target.rustflags=[$flags]" "$@") >&2
    }
    rm -rf "${OUT:?}/$target/$set"
    mkdir -p "$OUT/$target/$set"
    local log="$OUT/$target/$set/build.log"
    if ! cargo_build "$@" "${args[@]}" 2>"$log"; then
        # One at a time, so that the binaries that do build are still measured. A
        # binary that needs the feature left out is "n/b" (status 1); any other error
        # (a warning under -Dwarnings in that configuration) fails the script (status
        # 2): it used to show as "n/b" too (found by review).
        status=1
        for bin in "${BINS[@]}"; do
            rm -f "$target_dir/$target/release/$bin"
            if ! cargo_build "$@" --bin "$bin" 2>"$log.$bin"; then
                grep -q "requires the features" "$log.$bin" || status=2
            fi
            cat "$log.$bin" >>"$log"
            rm -f "$log.$bin"
        done
    fi
    for bin in "${BINS[@]}"; do
        [[ -f "$target_dir/$target/release/$bin" ]] && cp "$target_dir/$target/release/$bin" "$OUT/$target/$set/"
    done
    return "$status"
}

# The QEMU command line (without -kernel) that runs TARGET's binaries, their UART in
# file $2, one argument per line; nothing for a target QEMU cannot run.
qemu_of() {
    case "$1" in
        thumbv6m-none-eabi | thumbv7m-none-eabi | thumbv7em-none-eabihf)
            local cpu=cortex-m3
            [[ "$1" == thumbv7em-none-eabihf ]] && cpu=cortex-m4
            printf '%s\n' qemu-system-arm -cpu "$cpu" -machine lm3s6965evb -display none \
                -monitor none -serial "file:$2" -semihosting-config enable=on,target=native ;;
        riscv32imc-unknown-none-elf)
            printf '%s\n' qemu-system-riscv32 -machine virt -bios none -display none \
                -monitor none -serial "file:$2" ;;
    esac
}

# Runs a footprint binary in QEMU; prints "ARENA PEAK" from its UART record ("- -" for
# a target QEMU cannot run). Fails when the binary fails: its exit status is its own
# check that its spans were exported and none lost (found by review: a failed or hung
# run printed "- -" and the table came out clean).
measure_ram() {
    local elf="$1" target="$2" uart qemu=() status=0
    uart="$(mktemp)"
    mapfile -t qemu < <(qemu_of "$target" "$uart")
    if ((${#qemu[@]} == 0)); then
        rm -f "$uart"
        echo "- -"
        return 0
    fi
    timeout 30 "${qemu[@]}" -kernel "$elf" </dev/null >/dev/null 2>&1 || status=$?
    if [[ "$status" != 0 ]]; then
        echo "footprint: $elf failed in QEMU (exit status $status; 124 is a timeout)" >&2
        rm -f "$uart"
        return 1
    fi
    python3 - "$uart" <<'EOF' || status=$?
import struct, sys
data = open(sys.argv[1], "rb").read()
i = data.rfind(b"FPRT")
if i < 0 or len(data) < i + 12:
    sys.exit(f"footprint: no FPRT record on the UART of {sys.argv[1]}")
print(*struct.unpack("<II", data[i + 4:i + 12]))
EOF
    rm -f "$uart"
    return "$status"
}

# measure TARGET SET: one line per binary, "BIN TEXT DATA BSS ARENA PEAK" (or "BIN -" if
# it was not built), into $OUT/TARGET/SET/measured.
measure() {
    local target="$1" set="$2" bin elf text data bss arena peak ram stack
    for bin in "${BINS[@]}"; do
        elf="$OUT/$target/$set/$bin"
        if [[ ! -f "$elf" ]]; then
            echo "$bin -"
            continue
        fi
        read -r text data bss _ < <(llvm-size "$elf" | tail -n1)
        # riscv-rt's link.x sizes its stack and heap as NOLOAD sections, which llvm-size
        # counts as bss: the stack is measured below instead.
        stack="$(llvm-size -A "$elf" | awk '$1 == ".stack" || $1 == ".heap" { n += $2 } END { print n + 0 }')"
        bss=$((bss - stack))
        # Were they counted elsewhere (a linker that flags them otherwise), bss goes
        # below zero: stop rather than print it.
        ((bss >= 0)) || { echo "footprint: $bin: .stack/.heap not in llvm-size's bss" >&2; exit 1; }
        # Not `< <(...)`: a process substitution's failure is lost.
        ram="$(measure_ram "$elf" "$target")" || { echo "footprint: $bin ($set) failed" >&2; exit 1; }
        read -r arena peak <<<"$ram"
        echo "$bin $text $data $bss $arena $peak"
    done >"$OUT/$target/$set/measured"
}

table() {
    local target="$1" bin text data bss arena peak base_text=""
    echo
    echo "### $target"
    echo
    echo "| binary | text (flash) | + over base | data | bss | peak stack | span arena | RAM = data+bss+stack | RAM - arena |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    while read -r bin text data bss arena peak; do
        [[ -z "$base_text" ]] && base_text="$text"
        if [[ "$peak" == "-" ]]; then
            echo "| $bin | $text | $((text - base_text)) | $data | $bss | - | - | - | - |"
        else
            local ram=$((data + bss + peak))
            echo "| $bin | $text | $((text - base_text)) | $data | $bss | $peak | $arena | $ram | $((ram - arena)) |"
        fi
    done <"$OUT/$target/full/measured"
}

# Flash by owning module, a column per binary (rows sum to `size`'s text: checked).
# Extra arguments go to ci/footprint-modules.py.
modules() {
    local target="$1" specs=() bin
    shift
    for bin in "${BINS[@]}"; do specs+=("${bin#footprint_}=$OUT/$target/full/$bin"); done
    "$PY" ci/footprint-modules.py --root "$ROOT" "$@" "${specs[@]}"
}

# Prints "FEATURE<TAB>REST" for each feature in core's default list, REST being the
# other default features as the board crate's cargo arguments (picotrace/a,picotrace/b;
# may be empty); a feature that another default
# feature turns on anyway is printed as "FEATURE<TAB>@implied by X".
default_features() {
    python3 - core/Cargo.toml <<'EOF'
import sys, tomllib
features = tomllib.load(open(sys.argv[1], "rb")).get("features", {})
default = features.get("default", [])
def closure(names):
    seen, todo = set(), list(names)
    while todo:
        f = todo.pop()
        if f in seen or f not in features:
            continue
        seen.add(f)
        todo += [g for g in features[f] if "/" not in g and not g.startswith("dep:")]
    return seen
for f in default:
    rest = [g for g in default if g != f]
    implied = [g for g in rest if f in closure([g])]
    print(f"{f}\t@implied by {implied[0]}" if implied else f"{f}\t{','.join('picotrace/' + g for g in rest)}")
EOF
}

# Flash and RAM saved by leaving each default feature out, against the full build.
feature_costs() {
    local target="$1" feature rest args line bin text data bss arena peak
    mapfile -t lines < <(default_features)
    echo
    echo "### What each default feature of core costs ($target)"
    echo
    if ((${#lines[@]} == 0)); then
        echo "core/Cargo.toml's \`default\` list is empty: no feature to leave out."
        return
    fi
    echo "Saved by building without the feature (\`--no-default-features\` + the other default"
    echo "features), against the full build; RAM = data + bss + peak stack. \"n/b\": the binary"
    echo "lists the feature in its \`required-features\`."
    echo
    echo "| feature left out | binary | flash saved | RAM saved | text without it |"
    echo "| --- | --- | ---: | ---: | ---: |"
    declare -A full_text full_ram
    while read -r bin text data bss arena peak; do
        full_text[$bin]="$text"
        [[ "$peak" == "-" ]] && full_ram[$bin]="-" || full_ram[$bin]=$((data + bss + peak))
    done <"$OUT/$target/full/measured"
    for line in "${lines[@]}"; do
        feature="${line%%$'\t'*}"
        rest="${line#*$'\t'}"
        if [[ "$rest" == @* ]]; then
            echo "| \`$feature\` | all | - | - | ${rest#@} |"
            continue
        fi
        # The board's own default features (its SysTick clock) stay on.
        local board
        board="$(board_features_of "$target")"
        args=(--no-default-features --features "$board${board:+${rest:+,}}$rest")
        local built=0
        build "$target" "no-$feature" "${args[@]}" || built=$?
        if ((built >= 2)); then
            cat "$OUT/$target/no-$feature/build.log" >&2
            echo "footprint: $target without $feature: a build error (above)" >&2
            exit 1
        fi
        measure "$target" "no-$feature"
        # A feature left out leaves none of its code: no symbol of its module stays
        # (found by a firmware user's tryout: `Span::trace_context` kept the tracestate
        # parser, 3.8 KB, in builds without the feature).
        if [[ "$feature" == tracestate ]]; then
            for bin in "${BINS[@]}"; do
                local elf="$OUT/$target/no-$feature/$bin" syms
                [[ -f "$elf" ]] || continue
                # Mangled: `tracestate` is a path segment in both manglings, and a
                # name `-C` could not demangle is searched too.
                syms="$(arm-none-eabi-nm "$elf")"
                if grep -qi 'tracestate' <<<"$syms"; then
                    grep -i 'tracestate' <<<"$syms" | llvm-cxxfilt >&2
                    echo "footprint: $target $bin without tracestate links its code (above)" >&2
                    exit 1
                fi
            done
        fi
        while read -r bin text data bss arena peak; do
            [[ "$bin" == footprint_base ]] && continue
            if [[ "$text" == "-" ]]; then
                echo "| \`$feature\` | $bin | n/b | n/b | n/b |"
                continue
            fi
            local ram_saved="-"
            [[ "$peak" != "-" && "${full_ram[$bin]}" != "-" ]] &&
                ram_saved=$((full_ram[$bin] - data - bss - peak))
            echo "| \`$feature\` | $bin | $((full_text[$bin] - text)) | $ram_saved | $text |"
        done <"$OUT/$target/no-$feature/measured"
    done
}

# The largest stack frames (from each function's `sub sp, #N` prologue): where the RAM
# beyond the arena goes. (`awk` keeps reading past the eighth line, where `head` closed
# the pipe under `sort`: the script ended 141, SIGPIPE under pipefail, now and then.)
stack_frames() {
    local elf="$1"
    echo "| frame bytes | function |"
    echo "| ---: | --- |"
    arm-none-eabi-objdump -d -C --no-show-raw-insn "$elf" |
        awk '/^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn) }
             /sub(\.w|w)?[ \t]+sp, / { if (match($0, /#[0-9]+/)) print substr($0, RSTART + 1, RLENGTH - 1) "\t" fn }' |
        sort -rn | awk 'NR <= 8' | sed -E 's/Tracer<[^ ]*(, [^ ]*)*> as/Tracer<…> as/; s/picotrace:://g' |
        awk -F'\t' '{ printf "| %d | `%s` |\n", $1, substr($2, 1, 140) }'
}

start=$SECONDS
echo "Reproduce: \`bash ci/footprint.sh\` (it installs what it needs: \`ci/install.sh firmware footprint\`)."
echo "rustc: $("$DEBIAN_RUSTC" --version); profile: opt-level \"s\", lto = true, codegen-units = 1, panic = \"abort\"."
for target in "${TARGETS[@]}"; do
    build "$target" full || { cat "$OUT/$target/full/build.log" >&2; exit 1; }
    measure "$target" full
    table "$target"
done
main_target="${TARGETS[0]}"
if [[ "$main_target" != thumb* ]]; then
    # The module table reads Arm code and the frame table Arm prologues.
    echo
    echo "(Tables by module, feature and symbol: for a Cortex-M first target only.)"
    exit 0
fi
echo
echo "### Where the flash goes, by module ($main_target)"
echo
echo "Each byte of code is charged to the innermost inlined function on its DWARF inline"
echo "chain that is not Rust's \`core\` library (so \`core\` code is charged to its user);"
echo "read-only data to its symbol or to the code that loads its address."
echo
modules "$main_target" --functions 20
echo
echo "The same with the code of the libraries picotrace builds on (heapless, portable-atomic,"
echo "rand_xoshiro, rand_core) charged to the function it was inlined into, as \`core\`'s is:"
echo "what each module costs with the library code it pulls in."
echo
modules "$main_target" --charge-to-caller heapless,portable-atomic,rand_xoshiro,rand_core
((FEATURES)) && feature_costs "$main_target"
echo
echo "### Largest symbols of footprint_otlp ($main_target)"
echo
"$PY" ci/footprint-modules.py --root "$ROOT" --symbols-only "$SYMBOLS" "otlp=$OUT/$main_target/full/footprint_otlp"
echo
echo "### Largest stack frames of footprint_otlp ($main_target)"
echo
stack_frames "$OUT/$main_target/full/footprint_otlp"
echo
echo "(ci/footprint.sh took $((SECONDS - start)) s.)"
