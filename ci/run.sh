#!/usr/bin/env bash
# picotrace CI: the script CI (`.ci/run`) and every developer run.
#
#   ci/run.sh STEP...     run the steps in order, e.g. `ci/run.sh fmt clippy`
#   ci/run.sh all         install fmt clippy features docs loom test bench nostd firmware fuzz
#
# Steps:
#   install      ci/install.sh: Debian's Rust + lld + QEMU, rustfmt/clippy, the collector venv,
#                nginx + openssl (https end-to-end tests)
#   fmt          cargo fmt --check (workspace, tests/no-std-link, firmware crates)
#   clippy       cargo clippy --workspace --all-targets, warnings denied
#   loom         the loom model of core's slot ownership protocol (core/src/sync.rs)
#   features     clippy on core once per feature on its own, and its unit tests without
#                its default features (host)
#   docs         cargo doc --workspace --no-deps, rustdoc warnings denied
#   test         cargo test --workspace (unit, integration and doc tests), plus core's tests
#                that need a feature (critical-section, rand-core-06/-010), and the std
#                adapter's unit tests again in release
#   bench        the benchmark against opentelemetry_sdk and fastrace, one quick pass
#   nostd        core for every bare-metal target in NOSTD_TARGETS: type-checked with default
#                features, and once per feature on NOSTD_FEATURE_TARGETS; then no-std-link
#                (the firmware step builds core for each of these targets)
#   no-std-link  the host proof that core links with neither std nor an allocator
#   firmware     ci/firmware.sh: every board under examples/firmware/*/ built for its
#                target; demos with an expected-output file (src/bin/<demo>.out) run in
#                QEMU and are diffed; the QEMU demo's spans go through uart_bridge to rotel
#   e2e-firmware only that last end-to-end check
#   insn-count   instructions per W1 span on the Cortex-M3, counted in QEMU (ci/insn-count.sh;
#                the firmware step runs it too)
#   footprint    ci/footprint.sh: flash/RAM of tracing on Cortex-M, flash by module (DWARF),
#                the cost of each of core's default features (BENCHMARKS.md)
#   e2e          only the collector end-to-end tests, plain and over TLS (test runs them too)
#   fuzz         the libFuzzer targets in fuzz/, built once, each run FUZZ_SECONDS from its
#                seed corpus (fuzz/corpus/<target>/); a crash fails it (RELIABILITY.md)
#
# Environment: CI=true (set by CI) turns off incremental builds; CI_KEEP_GOING=1 runs the
# remaining steps after a failure (the script still exits non-zero); FUZZ_SECONDS is how
# long the fuzz step runs each target (default 5).
set -euo pipefail

# ---- matrix --------------------------------------------------------------------------

# Bare-metal targets core is checked for here: RP2040 (M0+), LM3S6965/QEMU (M3),
# ESP32-C3 (RISC-V).
NOSTD_TARGETS=(
    thumbv6m-none-eabi
    thumbv7m-none-eabi
    riscv32imc-unknown-none-elf
)
# (thumbv7em-none-eabihf, nRF52840/STM32F4, is not here: the firmware step builds core
# for it in the nrf52840-dk board, and it compiles what thumbv7m does.)
# Targets without atomic compare-and-swap: core's atomics go through a critical section
# there, so every build for them adds the `critical-section` feature.
NO_CAS_TARGETS=(thumbv6m-none-eabi riscv32imc-unknown-none-elf)
# Targets each of core's features is type-checked on alone: one with compare-and-swap,
# one without (its atomics go another way). riscv32imc compiles what thumbv6m does
# (32-bit, no compare-and-swap, no 64-bit atomics: the only things core's code branches
# on), so its feature checks only repeated those (about 25 s; found by review); it is
# still checked with its default features above, and built by its boards.
NOSTD_FEATURE_TARGETS=(thumbv7m-none-eabi thumbv6m-none-eabi)
# Features of core, each checked on its own (heapless-style).
CORE_FEATURES=(
    critical-section
    defmt
    tracestate
    otep235
    rand-core-06
    rand-core-010
    embedded-io
    embedded-io-async
    embassy-time
    std
)
# Profiles the no-std-link proof is built in.
NO_STD_LINK_PROFILES=(release)
# Fuzz targets (fuzz/fuzz_targets/<name>.rs) and how long CI runs each.
FUZZ_TARGETS=(traceparent tracestate baggage propagation b3_jaeger frame otlp)
FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
# What `all` runs, in order.
ALL_STEPS=(install fmt clippy features docs loom test bench nostd firmware fuzz)

# ---- setup ---------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Host builds use rustup's toolchain (first on PATH). Bare-metal builds use Debian's
# compiler, whose version matches rust-web-src (see ci/install.sh).
DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo
HOST_TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

# Flags are set per step, never inherited: a RUSTFLAGS from the caller's shell would
# replace a firmware crate's own target rustflags (its linker script) and break it.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTDOCFLAGS CARGO_BUILD_RUSTFLAGS
HOST_RUSTFLAGS="-Dwarnings"

if [[ "${CI:-}" == "true" ]]; then
    export CARGO_INCREMENTAL=0
    # Full debuginfo of every test, example and dependency came to 3.6 of the run's
    # 7.5 GB (a CI run once stopped with "No space left on device"); line tables keep
    # file:line in backtraces. CI never runs a debugger.
    export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
    # Release builds too (loom, the std tests in release, fuzz, the firmware boards):
    # nothing CI runs reads their DWARF but ci/footprint.sh, which asks for it again.
    export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-line-tables-only}"
    export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
fi

# The collector binary found by ci/install.sh, for tests that start a real collector.
# (Only if it is still there: the path can point into a checkout since deleted.)
if [[ -f target/ci/rotel-agent-path && -x "$(cat target/ci/rotel-agent-path)" ]]; then
    PICOTRACE_ROTEL_AGENT="$(cat target/ci/rotel-agent-path)"
    export PICOTRACE_ROTEL_AGENT
fi

note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Echoes a command, then runs it.
run() {
    local v shown=()
    for v in RUSTC RUSTC_BOOTSTRAP RUSTFLAGS RUSTDOCFLAGS; do
        [[ -n "${!v:-}" ]] && shown+=("$v=\"${!v}\"")
    done
    printf '+ %s\n' "${shown[*]:+${shown[*]} }$*"
    "$@"
}

# Every build takes its versions from the committed Cargo.lock (`--locked`, after the
# subcommand): a manifest edited without its lock file fails instead of resolving
# against whatever crates.io holds that day (found by review).
host_cargo() { RUSTFLAGS="$HOST_RUSTFLAGS" run cargo "$1" --locked "${@:2}"; }

# host_cargo_within SECONDS ARGS...: host_cargo, stopped after SECONDS (with everything
# it started: timeout signals its process group). The test harness has no limit of its
# own, and a test waiting on a child that never answers would hold the run until CI's
# 90-minute kill, with no summary and no later step.
host_cargo_within() {
    local secs="$1"
    shift
    if [[ "${CI:-}" != "true" ]]; then
        # At a terminal, `timeout` (its own process group) would keep Ctrl-C from
        # cargo: only CI, which nobody interrupts, gets the limit (found by review).
        host_cargo "$@"
        return
    fi
    RUSTFLAGS="$HOST_RUSTFLAGS" run timeout --kill-after=30 "$secs" cargo "$1" --locked "${@:2}"
}

# Debian's cargo with build-std unlocked. With an explicit --target, RUSTFLAGS reach only
# target crates; core and compiler_builtins get --cap-lints allow, so -Dwarnings applies
# to picotrace (and other path crates) alone.
debian_cargo() {
    [[ -x "$DEBIAN_RUSTC" && -x "$DEBIAN_CARGO" ]] ||
        die "$DEBIAN_RUSTC / $DEBIAN_CARGO missing: run 'ci/install.sh firmware' first"
    RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 run "$DEBIAN_CARGO" "$1" --locked "${@:2}"
}

# ---- steps ---------------------------------------------------------------------------

# Prints, for each compiler that differs from the one CI last passed with
# (ci/tested-toolchains), a line saying so: a failure in clippy, docs, nostd or firmware
# may then be the compiler's news, not the change's. The install step warns with it, the
# summary repeats it (worked out again there: steps run in subshells).
toolchain_notes() {
    local name have tested
    for name in host debian; do
        tested="$(sed -n "s/^$name=//p" "$ROOT/ci/tested-toolchains")"
        if [[ "$name" == host ]]; then
            have="$(rustc --version 2>/dev/null)" || true
        else
            have="$("$DEBIAN_RUSTC" --version 2>/dev/null)" || true
        fi
        if [[ -n "$have" && "$have" != "$tested" ]]; then
            printf "%s compiler is '%s', CI last passed with '%s' (ci/tested-toolchains)\n" \
                "$name" "$have" "$tested"
        fi
    done
}

step_install() {
    disk_line
    # A full run writes about 6 GB (target/ and fuzz/target/): say so before a build
    # stops on "No space left on device" minutes later.
    local free_gb
    free_gb="$(df -B1G --output=avail "$ROOT" 2>/dev/null | tail -n 1 | tr -d ' ')" || true
    if [[ "$free_gb" =~ ^[0-9]+$ ]] && ((free_gb < 8)); then
        printf 'warning: only %s GB free where the build goes; a full run writes about 6 GB\n' "$free_gb" >&2
    fi
    run bash ci/install.sh all
    toolchain_notes | sed 's/^/warning: /' >&2
}

step_fmt() {
    run cargo fmt --all -- --check
    run cargo fmt --manifest-path tests/no-std-link/Cargo.toml -- --check
    run cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    local manifest
    for manifest in $(firmware_manifests); do
        run cargo fmt --manifest-path "$manifest" -- --check
    done
}

step_clippy() {
    host_cargo clippy --workspace --all-targets -- -D warnings
}

step_features() {
    host_cargo clippy -p picotrace --all-targets --no-default-features -- -D warnings
    local feature
    for feature in "${CORE_FEATURES[@]}"; do
        host_cargo clippy -p picotrace --all-targets --no-default-features --features "$feature" -- -D warnings
    done
    # Core's unit tests without its default features too (found in the forty-sixth
    # session: 65 of them assumed `tracestate` and failed so; each is gated on the
    # feature it needs now).
    host_cargo test -p picotrace --no-default-features --lib
}

step_docs() {
    RUSTDOCFLAGS="-Dwarnings" host_cargo doc --workspace --no-deps
    # picotrace-std alone, with its default features: the workspace build turns on the
    # features the examples use, which hid a link to a `tracing`-only item (found at
    # the thirty-sixth session's end).
    RUSTDOCFLAGS="-Dwarnings" host_cargo doc -p picotrace-std --no-deps
}

# `cargo test` that must run at least one test in each target it runs: a name filter
# that matches nothing (a renamed module) or a test file compiled out by a `cfg` (wrong
# features) passes with "running 0 tests" (found by review).
# ran_some COMMAND...: runs a `cargo test` command line, failing as described.
ran_some() {
    local log status=0
    log="$(mktemp)"
    "$@" 2>&1 | tee "$log" || status=$?
    if ((status == 0)) && grep -q '^running 0 tests' "$log"; then
        rm -f "$log"
        die "$*: a test target ran no test (a filter that matches nothing, or a cfg'd-out file)"
    fi
    rm -f "$log"
    return "$status"
}
host_cargo_test_some() { ran_some host_cargo_within 900 test "$@"; }

# Test files of picotrace-std compiled only with a feature (`tower`, `tracing`) that the
# workspace run gets from another member (examples/server) turning it on: each must run
# tests there (found by review: a feature the examples crate dropped would have left
# them at "running 0 tests", which a workspace run, where some targets have none,
# cannot refuse as a whole).
GATED_TEST_FILES=(server_layer client_layer known_methods tracing_last_exit tracing_tls_exit
    tracing_reentrant tracing_reentrant_extensions)

# gated_ran LOG: every `Running tests/<file>.rs` of those files in a `cargo test` log is
# followed by a run of at least one test.
gated_ran() {
    local log="$1" name
    for name in "${GATED_TEST_FILES[@]}"; do
        awk -v file="tests/$name.rs" '
            $1 == "Running" && $2 == file {
                seen = 1
                while ((getline line) > 0 && line !~ /^running /) {}
                split(line, word, " ")
                if (word[2] + 0 == 0) empty = 1
            }
            END { exit !(seen && !empty) }' "$log" ||
            die "tests/$name.rs ran no test in the workspace run (its feature is off?)"
    done
}

step_test() {
    # About 7 minutes from a clean target/ on 2 cores.
    local log status=0
    log="$(mktemp)"
    # No colours: `gated_ran` reads cargo's `Running` lines.
    host_cargo_within 1800 test --workspace --color never 2>&1 | tee "$log" || status=$?
    ((status == 0)) || { rm -f "$log"; return "$status"; }
    gated_ran "$log"
    rm -f "$log"
    # The tracer shared by a main loop and interrupts (feature `critical-section`).
    host_cargo_test_some -p picotrace --features critical-section --test critical_section
    # The same unit tests with the list heads in a critical section (as on a Cortex-M).
    host_cargo_test_some -p picotrace --features critical-section --lib
    # Core without the default `tracestate` feature (firmware that leaves it out).
    host_cargo_test_some -p picotrace --no-default-features --test without_tracestate
    # With `tracestate` but without `otep235`: the `ot` entry passed on untouched.
    host_cargo_test_some -p picotrace --no-default-features --features tracestate --test without_otep235
    # Filters below name only tests their feature gates, so that a gate that drifts
    # leaves "running 0 tests" (found by review: `--lib random` also ran ungated tests).
    # The rand_core 0.6 / 0.10 adapters (unit tests and doc examples).
    local rand=(-p picotrace --features rand-core-06,rand-core-010)
    host_cargo_test_some "${rand[@]}" --lib random::compat::tests::v06::
    host_cargo_test_some "${rand[@]}" --lib random::compat::tests::v010::
    host_cargo_test_some "${rand[@]}" --doc RandCore06
    host_cargo_test_some "${rand[@]}" --doc RandCore010
    # `time::EmbassyClock` against embassy-time's mock driver (feature `embassy-time`).
    host_cargo_test_some -p picotrace --features embassy-time --lib time::embassy::
    # `FrameExporter` and `FrameQueue` over `embedded_io::Write` (feature `embedded-io`;
    # found by review: these ran in no step once the filter below was narrowed).
    # One run per filter: with several in one run, a gate that drifted under one of
    # them still left the others running (found by review). They share one build.
    local io
    for io in export::frame::tests::io:: a_frame_cut_by_a_busy_ring a_frame_refused_in_pieces \
        a_busy_ring_counts a_failed_flush_reports_the_export_s_spans_lost; do
        host_cargo_test_some -p picotrace --features embedded-io --lib "$io"
    done
    # `FrameQueue::write_to`, the async UART sender (feature `embedded-io-async`).
    host_cargo_test_some -p picotrace --features embedded-io-async --lib \
        export::frame::tests::a_send_error_is_counted_while_a_writer_holds_the_queue
    host_cargo_test_some -p picotrace --features embedded-io-async --lib \
        export::frame::tests::a_failed_flush_of_the_sending_side_is_counted
    # The std adapter's unit tests in release as well: inlining there changes stack
    # frames (a provider built on a 2 MiB thread overflowed its stack only in release).
    # With the `tracing` layer, whose tests (deep nesting among them) are in the lib
    # (found by review: the release run left them out).
    host_cargo_test_some --release -p picotrace-std --features tracing --lib
    # What the board examples share, on the host (its SysTick arithmetic, for one).
    host_cargo_test_some --manifest-path examples/firmware/common/Cargo.toml --target-dir target --lib
}

# The side-by-side benchmark (BENCHMARKS.md), as a quick pass: CI checks that it builds
# and runs, not its figures. The dev profile reuses what `test` built.
step_bench() {
    # --strict: a W7 that could not reach the collector fails the step (without it, a
    # skipped or failed W7 is only a note in the report).
    host_cargo_within 900 run -p picotrace-bench -- --quick --strict
}

step_nostd() {
    local target feature base
    for target in "${NOSTD_TARGETS[@]}"; do
        base=""
        [[ " ${NO_CAS_TARGETS[*]} " == *" $target "* ]] && base="critical-section"
        # Type-checked, not built: the firmware step builds core through code generation
        # and linking for each of these targets (a board per target), so a build here
        # would only repeat that (about 20 s per target).
        RUSTFLAGS="-Dwarnings" debian_cargo check --release -Z build-std=core \
            --target "$target" --target-dir target/nostd -p picotrace ${base:+--features "$base"}
        # Each feature on its own, on the targets that differ in what core compiles.
        [[ " ${NOSTD_FEATURE_TARGETS[*]} " == *" $target "* ]] || continue
        for feature in "${CORE_FEATURES[@]}"; do
            # `std` is for hosted targets only (picotrace-std turns it on).
            [[ "$feature" == std ]] && continue
            RUSTFLAGS="-Dwarnings" debian_cargo check --release -Z build-std=core \
                --target "$target" --target-dir target/nostd -p picotrace \
                --no-default-features --features "${base:+$base,}$feature"
        done
    done
    step_no_std_link
}

# The loom model checks of core's one `unsafe` module (slot ownership: claim, write,
# end, drain, release, the ABA case, on a model and on the real slot pool with its
# shard refills; the exporter's try-lock). Bounded to 3 preemptions
# per execution, which finds a weakened memory ordering and a missing ABA tag (both
# were tried) in seconds.
step_loom() {
    # opt-level 1: the models run as fast as at 3 here, and the build takes 10 s less.
    # Bounded in CI like the test harnesses (found by review: a model whose state
    # space grew after a change would have held the run until CI's 90-minute kill).
    local limit=()
    [[ "${CI:-}" == "true" ]] && limit=(timeout --kill-after=30 900)
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" \
        ran_some run "${limit[@]}" cargo test --locked -p picotrace --release --lib \
        --target-dir target/loom sync::loom
}

# Links core into a #![no_std] #![no_main] host binary with no allocator and no C
# library (tests/no-std-link). std anywhere in the graph fails with "duplicate lang
# item", alloc with "no global memory allocator found", a libc call with an undefined
# symbol. core and compiler_builtins are built from source (build-std) because the host's
# prebuilt compiler_builtins has no memcpy/memset: on Linux those come from libc.
step_no_std_link() {
    local profile flags bin undefined
    flags="-Dwarnings -C link-arg=-nostartfiles -C link-arg=-nostdlib -C link-arg=-static"
    for profile in "${NO_STD_LINK_PROFILES[@]}"; do
        RUSTFLAGS="$flags" debian_cargo build --profile "$profile" \
            -Z build-std=core,alloc -Z build-std-features=compiler-builtins-mem \
            --manifest-path tests/no-std-link/Cargo.toml \
            --target "$HOST_TRIPLE" --target-dir target/no-std-link
        [[ "$profile" == dev ]] && bin=debug || bin="$profile"
        bin="target/no-std-link/$HOST_TRIPLE/$bin/picotrace-no-std-link"
        [[ -f "$bin" ]] || die "no-std-link: $bin was not produced"
        # Statically linked, no interpreter, no libc: nothing undefined may remain.
        # (Read whole, not piped into `grep -q`: under pipefail that failed when it
        # matched, and the check passed.)
        undefined="$(nm -u "$bin")" || die "no-std-link: nm could not read $bin"
        if [[ -n "$undefined" ]]; then
            printf '%s\n' "$undefined" >&2
            die "no-std-link: $bin has undefined symbols"
        fi
        note "no-std-link ($profile): $(file -b "$bin" | cut -d, -f1-4)"
        note "$(size "$bin" | tail -n1 | awk '{print "text " $1 " B, data " $2 " B, bss " $3 " B"}')"
    done
}

firmware_manifests() {
    local manifest
    for manifest in examples/firmware/*/Cargo.toml; do
        [[ -f "$manifest" ]] && printf '%s\n' "$manifest"
    done
    return 0
}

# Board builds, QEMU runs diffed against their expected output, and the end-to-end check
# (QEMU demo -> UART -> uart_bridge -> rotel): all in ci/firmware.sh.
step_firmware() {
    run bash ci/firmware.sh build run e2e
    # Instructions per W1 span on the Cortex-M3 (BENCHMARKS.md); reuses the build above.
    run bash ci/insn-count.sh
}

# Only the Cortex-M3 instruction count.
step_insn_count() {
    run bash ci/insn-count.sh
}

# Only the end-to-end part (builds what it needs).
step_e2e_firmware() {
    run bash ci/firmware.sh e2e
}

# Flash/RAM footprint table of the footprint_* binaries (see BENCHMARKS.md).
step_footprint() {
    run bash ci/footprint.sh
}

step_e2e() {
    # The collector tests start rotel themselves (PICOTRACE_ROTEL_AGENT tells them where
    # it is); `test` already runs them. This hook is for slower scenarios, once they exist.
    if [[ -f tests/tests/collector_e2e.rs || -f tests/collector_e2e.rs ]]; then
        [[ -x "${PICOTRACE_ROTEL_AGENT:-}" ]] || run bash ci/install.sh collector
        run bash ci/install.sh tls
        # Each target must run tests (found by review: run alone, this step had no
        # zero-test guard, and left the provider's end-to-end test out).
        host_cargo_test_some -p picotrace-tests --test collector_e2e --test tls_e2e \
            --test provider_e2e
    else
        note "no end-to-end tests yet: nothing to run"
    fi
}

# The rustc flags `cargo fuzz build -O -s none` passes (cargo-fuzz's src/project.rs):
# libFuzzer's coverage instrumentation without a sanitizer, which stable rustc accepts,
# so plain cargo builds the targets and neither cargo-fuzz nor nightly is needed. Debug
# assertions stay on: an integer overflow is a finding too.
FUZZ_RUSTFLAGS=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    -Cllvm-args=-sanitizer-coverage-stack-depth
    --cfg fuzzing
    -Clink-dead-code
    -Ccodegen-units=1
    -Cdebug-assertions
    -Dwarnings
)

# Builds every fuzz target (libfuzzer-sys compiles libFuzzer itself: a C++ compiler).
fuzz_build() {
    command -v c++ >/dev/null || run bash ci/install.sh fuzz
    RUSTFLAGS="${FUZZ_RUSTFLAGS[*]}" run cargo build --release --locked \
        --manifest-path fuzz/Cargo.toml --target "$HOST_TRIPLE" --bins
}

# Each target from its seed corpus for FUZZ_SECONDS. New inputs go to target/fuzz/,
# never into the repository; a crashing input is kept as target/fuzz/<target>-crash-*.
step_fuzz() {
    fuzz_build
    local target scratch log
    for target in "${FUZZ_TARGETS[@]}"; do
        scratch="target/fuzz/corpus-$target"
        log="target/fuzz/$target.log"
        rm -rf "$scratch"
        mkdir -p "$scratch"
        if ! run "fuzz/target/$HOST_TRIPLE/release/$target" \
            -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="target/fuzz/$target-" \
            "$scratch" "fuzz/corpus/$target" >"$log" 2>&1; then
            tail -n 80 "$log" >&2
            # What reproduces it where target/fuzz/ is gone (a CI machine): the seed,
            # and each input kept (at most -max_len bytes), as base64.
            grep -m1 'INFO: Seed:' "$log" >&2 || true
            local input
            for input in "target/fuzz/$target-"{crash,timeout,oom,leak,slow-unit}-*; do
                [[ -f "$input" ]] || continue
                printf 'input %s, base64 (replay: base64 -d > in && %s in):\n' \
                    "$input" "fuzz/target/$HOST_TRIPLE/release/$target" >&2
                base64 -w0 "$input" >&2
                printf '\n' >&2
            done
            die "fuzz target $target failed (log and input in target/fuzz/)"
        fi
        # A target that ran no input (found by review: only a note said so).
        local runs
        runs="$(grep -m1 -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || true)"
        ((${runs:-0} > 0)) || die "fuzz target $target ran no input (log in $log)"
        note "$target: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), $(grep -o 'cov: [0-9]*' "$log" | tail -n1)"
    done
}

# ---- driver --------------------------------------------------------------------------

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
FAILED=0

summary() {
    ((${#STEP_NAMES[@]} > 1)) || return 0
    local i total=0
    printf '\n==== summary ====\n'
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-12s %-6s %5ss\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
        total=$((total + STEP_SECONDS[i]))
    done
    printf '  %-12s %-6s %5ss\n' total "" "$total"
    disk_line
    toolchain_notes | sed 's/^/note: /'
    if ((FAILED)); then
        printf 'summary: FAILED (%s)\n' "$(failed_names)"
    else
        printf 'summary: all %s steps ok\n' "${#STEP_NAMES[@]}"
    fi
}

# Free space where the build goes and what target/ takes: a step that fails for want of
# disk says "No space left on device" somewhere in a long log; this says it at the end.
disk_line() {
    local free used
    free="$(df -h --output=avail "$ROOT" 2>/dev/null | tail -n 1 | tr -d ' ')" || true
    used="$(du -sh "$ROOT/target" 2>/dev/null | cut -f1)" || true
    printf '  disk: %s free, target/ %s\n' "${free:-?}" "${used:-0}"
}

failed_names() {
    local i out=()
    for i in "${!STEP_NAMES[@]}"; do
        [[ "${STEP_RESULTS[$i]}" == ok ]] || out+=("${STEP_NAMES[$i]}")
    done
    echo "${out[*]}"
}

run_step() {
    local name="$1" fn="step_${1//-/_}" start rc
    declare -F "$fn" >/dev/null || die "unknown step '$name' (see the top of ci/run.sh)"
    printf '\n==== %s ==== (%s)\n' "$name" "$(date -u +%H:%M:%S)"
    start=$SECONDS
    # A subshell with its own errexit, not in an `if`: bash would ignore set -e there.
    set +e
    (set -e; "$fn")
    rc=$?
    set -e
    STEP_NAMES+=("$name")
    STEP_SECONDS+=($((SECONDS - start)))
    if ((rc == 0)); then
        STEP_RESULTS+=(ok)
        printf '==== %s: ok in %ss\n' "$name" "$((SECONDS - start))"
    else
        STEP_RESULTS+=(FAILED)
        FAILED=1
        printf '==== %s: FAILED (exit %s) after %ss\n' "$name" "$rc" "$((SECONDS - start))"
        if [[ "${CI_KEEP_GOING:-0}" != 1 ]]; then
            summary
            exit "$rc"
        fi
    fi
}

main() {
    if (($# == 0)); then
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
        exit 2
    fi
    local steps=() arg
    for arg in "$@"; do
        case "$arg" in
            all) steps+=("${ALL_STEPS[@]}") ;;
            -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
            *) steps+=("$arg") ;;
        esac
    done
    local step
    for step in "${steps[@]}"; do
        run_step "$step"
    done
    summary
    ((FAILED == 0))
}

main "$@"
