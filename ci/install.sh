#!/usr/bin/env bash
# Installs what picotrace's CI needs beyond rustup's stable toolchain.
#
#   ci/install.sh              everything CI runs (not footprint: CI does not run it)
#   ci/install.sh base         a C compiler and linker, binutils, file, python3 with venv
#   ci/install.sh rust         rustfmt + clippy (rustup components)
#   ci/install.sh firmware     Debian's rustc/cargo/rust-src (for -Z build-std), lld, QEMU,
#                              LLVM tools
#   ci/install.sh footprint    ci/footprint.sh's extras: ARM binutils, pyelftools
#   ci/install.sh collector    .venv-collector with the rotel OTLP collector
#   ci/install.sh tls          nginx (TLS proxy) and openssl, for tests/tests/tls_e2e.rs
#   ci/install.sh fuzz         a C++ compiler, for libfuzzer-sys (it builds libFuzzer)
#
# Idempotent: each part checks first and installs only what is missing, so a second
# run takes a second or two. CI starts from a fresh machine, which has rustup's stable
# toolchain (host target only; rustup cannot download other targets there) and apt-get
# (as root), and can reach crates.io, PyPI and Debian's archive; `base` installs what
# the builds and scripts take for granted (found by review: the image happened to
# have them).
#
# Why Debian's Rust for bare-metal targets: rustup cannot add targets on our machines,
# but rustc-web + rust-web-src (same version) can build `core` for any LLVM target with
# `-Z build-std=core`. See ci/run.sh (nostd, firmware) and shared/notes/firmware-toolchain.md.
set -euo pipefail

# ---- what gets installed -------------------------------------------------------------

# rust-web-llvm is a Recommends of rustc-web; it is listed so that it is there even where
# apt skips recommends: it provides rust-lld, the default linker of the thumbv* targets.
APT_PACKAGES=(
    rustc-web cargo-web rust-web-src rust-web-llvm
    lld
    qemu-system-arm
    qemu-system-misc   # qemu-system-riscv32: the RISC-V footprint binaries (ci/firmware.sh)
    llvm        # llvm-size/llvm-nm for the RISC-V firmware (ci/firmware.sh)
)
# The host's linker and C compiler (cargo links with `cc`; `ring` compiles C), `nm`,
# `size` and `file` (ci/run.sh's no-std link check), python3 with venv and tomllib
# (3.11: ci/firmware.sh, the venvs, free ports in tests).
BASE_APT_PACKAGES=(gcc libc6-dev binutils file python3 python3-venv)
# ci/footprint.sh only: objdump/nm for Cortex-M (the module table).
FOOTPRINT_APT_PACKAGES=(binutils-arm-none-eabi)
# The https end-to-end tests put nginx (TLS, and mTLS) in front of the collector, with
# certificates that openssl makes during the test. nginx-light has the ssl and proxy
# modules; the tests start it themselves (foreground, in a temp dir), never as a service.
TLS_APT_PACKAGES=(nginx-light openssl)
RUSTUP_COMPONENTS=(rustfmt clippy)
# libfuzzer-sys compiles libFuzzer's C++ sources (the fuzz step in ci/run.sh); nothing
# else is needed: the targets build with plain cargo on stable (no cargo-fuzz, no nightly).
FUZZ_APT_PACKAGES=(g++)
# ci/footprint.sh reads the firmware's DWARF (which module owns each byte of flash) with
# pyelftools, in its own small venv.
FOOTPRINT_PACKAGES=(pyelftools==0.33)
COLLECTOR_PACKAGES=(
    rotel==0.0.1a15          # OTLP collector; ships the `rotel-agent` binary
    typing-extensions==4.16.0  # rotel's one dependency, pinned too
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COLLECTOR_VENV="$ROOT/.venv-collector"
FOOTPRINT_VENV="$ROOT/target/ci/footprint-venv"
ROTEL_PATH_FILE="$ROOT/target/ci/rotel-agent-path"
PYTHON="${PYTHON:-python3}"

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

# ---- rust: rustfmt, clippy -----------------------------------------------------------

install_rust() {
    command -v cargo >/dev/null || die "cargo not found: install rustup's stable toolchain first"
    local missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    if ((${#missing[@]} == 0)); then
        log "rust: $(cargo --version), $(cargo fmt --version), $(cargo clippy --version)"
        return
    fi
    command -v rustup >/dev/null || die "missing ${missing[*]} and no rustup to add them"
    log "rust: adding components: ${missing[*]}"
    rustup component add "${missing[@]}" ||
        die "rustup could not add ${missing[*]}; this machine cannot download toolchain parts"
    cargo fmt --version >/dev/null && cargo clippy --version >/dev/null ||
        die "${RUSTUP_COMPONENTS[*]} still missing after rustup component add"
}

# ---- firmware: Debian's Rust, lld, QEMU ----------------------------------------------

deb_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

apt_get() {
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "apt-get needs root (or sudo) to install: $*"
        sudo=(sudo)
    fi
    # Retries for a mirror that blips; keep the old config file where an upgraded
    # package asks (stdin is /dev/null: dpkg's own prompt would abort the install).
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -o Acquire::Retries=5 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
}

APT_UPDATED=

# apt_install PART PACKAGE...: installs the packages that are not installed yet.
apt_install() {
    local part="$1" missing=() p
    shift
    command -v dpkg-query >/dev/null || die "not a Debian-based machine: install $* by hand"
    for p in "$@"; do
        deb_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} > 0)); then
        log "$part: apt-get install ${missing[*]}"
        # `apt-get update` can warn about a mirror it could not read and still exit 0;
        # the install then finds no package. Up to three tries of both.
        # Without Recommends (found by review): QEMU's (a GUI, block drivers, firmware
        # images) made a first install pull 363 packages; rustc-web's are listed here
        # anyway. (Bookworm's QEMU still replaces an image's newer qemu-utils, which
        # nothing here uses: apt's log of 2026-12-06 shows it removed.)
        # The package lists are read once per run of this script (found by review:
        # each part read them again), and again only after a failed try.
        local try
        for try in 1 2 3; do
            if [[ -z "$APT_UPDATED" ]]; then
                apt_get update -qq || log "$part: apt-get update failed; installing from the lists there are"
                APT_UPDATED=1
            fi
            apt_get install -y -q --no-install-recommends "${missing[@]}" && return 0
            APT_UPDATED=
            ((try < 3)) && { log "$part: apt-get failed (try $try of 3); again in 10 s"; sleep 10; }
        done
        die "$part: apt-get install ${missing[*]} failed three times"
    fi
}

install_firmware() {
    apt_install firmware "${APT_PACKAGES[@]}"

    # The standard library's source must be the compiler's own version, or
    # -Z build-std fails in confusing ways. apt may offer several rust-web-src versions.
    local rustc_v src_v
    rustc_v="$(deb_version rustc-web)"
    src_v="$(deb_version rust-web-src)"
    if [[ "$rustc_v" != "$src_v" ]]; then
        log "firmware: rust-web-src $src_v does not match rustc-web $rustc_v; installing rust-web-src=$rustc_v"
        apt_get install -y -q --allow-downgrades "rust-web-src=$rustc_v"
    fi

    [[ -x /usr/bin/rustc && -x /usr/bin/cargo ]] || die "/usr/bin/rustc or /usr/bin/cargo missing after install"
    [[ -f /usr/lib/rustlib/src/rust/library/core/Cargo.toml ]] ||
        die "rust-web-src installed but /usr/lib/rustlib/src/rust/library is missing"
    command -v ld.lld >/dev/null || die "ld.lld missing after installing lld"
    command -v qemu-system-arm >/dev/null || die "qemu-system-arm missing after install"
    command -v qemu-system-riscv32 >/dev/null || die "qemu-system-riscv32 missing after installing qemu-system-misc"
    log "firmware: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version | cut -d' ' -f1-2)," \
        "$(ld.lld --version | head -n1 | cut -d' ' -f1-3), $(qemu-system-arm --version | head -n1)"
}

# Creates the venv at $1, or makes it again when it has no pip: one made while
# python3-venv was missing has a python but no pip, and was then never made again
# (found by review). Installs python3-venv when the interpreter cannot make venvs.
make_venv() {
    local dir="$1"
    if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -m pip --version >/dev/null 2>&1; then
        return
    fi
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed for $dir)"
    "$PYTHON" -c 'import ensurepip' 2>/dev/null || apt_install venv python3-venv
    log "creating ${dir#"$ROOT"/}"
    "$PYTHON" -m venv --clear "$dir" || die "$PYTHON -m venv $dir failed"
}

# ---- base: what builds and scripts take for granted -----------------------------------

install_base() {
    apt_install base "${BASE_APT_PACKAGES[@]}"
    "$PYTHON" -c 'import sys, tomllib; assert sys.version_info >= (3, 11)' 2>/dev/null ||
        die "$PYTHON 3.11 or later is needed (tomllib)"
    log "base: $(cc --version | head -n1), $("$PYTHON" --version)"
}

# ---- footprint: ARM binutils and the venv ci/footprint.sh runs ci/footprint-modules.py in

install_footprint() {
    apt_install footprint "${FOOTPRINT_APT_PACKAGES[@]}"
    install_footprint_venv
}

install_footprint_venv() {
    local py="$FOOTPRINT_VENV/bin/python" stamp="$FOOTPRINT_VENV/.picotrace-ci-packages" wanted
    wanted="$(printf '%s\n' "${FOOTPRINT_PACKAGES[@]}")"
    if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]] && "$py" -c 'import elftools' 2>/dev/null; then
        return
    fi
    make_venv "$FOOTPRINT_VENV"
    log "footprint: pip install ${FOOTPRINT_PACKAGES[*]} into ${FOOTPRINT_VENV#"$ROOT"/}"
    "$py" -m pip install --disable-pip-version-check --no-input -q "${FOOTPRINT_PACKAGES[@]}"
    printf '%s\n' "$wanted" >"$stamp"
}

# ---- tls: nginx and openssl for the https end-to-end tests ----------------------------

install_tls() {
    apt_install tls "${TLS_APT_PACKAGES[@]}"
    [[ -x /usr/sbin/nginx ]] || die "/usr/sbin/nginx missing after installing nginx-light"
    command -v openssl >/dev/null || die "openssl missing after install"
    log "tls: $(/usr/sbin/nginx -v 2>&1), $(openssl version)"
}

# ---- fuzz: a C++ compiler for libFuzzer ----------------------------------------------

install_fuzz() {
    if command -v c++ >/dev/null; then
        log "fuzz: $(c++ --version | head -n1)"
        return
    fi
    # With apt_install's retries (a mirror that fails once).
    apt_install fuzz "${FUZZ_APT_PACKAGES[@]}"
    command -v c++ >/dev/null || die "c++ missing after installing ${FUZZ_APT_PACKAGES[*]}"
}

# ---- collector: rotel in a venv ------------------------------------------------------

install_collector() {
    local py="$COLLECTOR_VENV/bin/python"
    local stamp="$COLLECTOR_VENV/.picotrace-ci-packages"
    local wanted
    wanted="$(printf '%s\n' "${COLLECTOR_PACKAGES[@]}")"

    if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]] && "$py" -c 'import rotel' 2>/dev/null; then
        log "collector: $COLLECTOR_VENV is up to date"
    else
        make_venv "$COLLECTOR_VENV"
        log "collector: pip install ${COLLECTOR_PACKAGES[*]}"
        "$py" -m pip install --disable-pip-version-check --no-input -q "${COLLECTOR_PACKAGES[@]}"
        printf '%s\n' "$wanted" >"$stamp"
    fi

    local bin
    bin="$("$py" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
    [[ -f "$bin" ]] || die "rotel is installed but $bin is missing"
    [[ -x "$bin" ]] || chmod +x "$bin"
    mkdir -p "$(dirname "$ROTEL_PATH_FILE")"
    printf '%s\n' "$bin" >"$ROTEL_PATH_FILE"
    log "collector: rotel-agent at $bin (path written to ${ROTEL_PATH_FILE#"$ROOT"/})"
}

# ---- main ----------------------------------------------------------------------------

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    (($# > 0)) || set -- all
    local part
    for part in "$@"; do
        case "$part" in
            all) install_base; install_rust; install_firmware; install_collector; install_tls; install_fuzz ;;
            base) install_base ;;
            rust) install_rust ;;
            firmware) install_firmware ;;
            footprint) install_footprint ;;
            collector) install_collector ;;
            tls) install_tls ;;
            fuzz) install_fuzz ;;
            -h | --help | help) usage ;;
            *) usage >&2; die "unknown part: $part" ;;
        esac
    done
}

main "$@"
