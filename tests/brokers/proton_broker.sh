#!/usr/bin/env bash
# The Proton C example broker (Debian's libqpid-proton11-dev-examples), built
# for the msgr-tui test-suite: a small in-memory AMQP 1.0 broker, a second real
# peer beside RabbitMQ. The tests start and stop it themselves.
#
# Usage: tests/brokers/proton_broker.sh [COMMAND]
#   build     (default) install packages if missing, build if needed, print the binary's path
#   rebuild   build again even if the binary is up to date, print its path
#   path      print where the binary is (or would be) built; exit 1 if not built
#
# Run the binary as 'BROKER 127.0.0.1 PORT' (PORT 0 = any free port); it prints
# 'listening on PORT' on stdout when ready. TLS: from its working directory it
# loads ssl-certs/tserver-certificate.pem and ssl-certs/tserver-private-key.pem
# (key password tserverpw), on the same port as plain AMQP.
#
# Progress goes to stderr; stdout has only the path. Installing packages needs
# root. Safe to run concurrently (flock). Environment: PROTON_BROKER_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/msgr-tui/proton-broker).
set -euo pipefail

readonly PACKAGES=(libqpid-proton11-dev libqpid-proton11-dev-examples)
readonly SOURCE_DIR=/usr/share/proton/examples/c
readonly SOURCES=("$SOURCE_DIR/broker.c" "$SOURCE_DIR/thread.h")
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
readonly CACHE_DIR=${PROTON_BROKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/msgr-tui/proton-broker}
readonly BINARY=$CACHE_DIR/broker
readonly STAMP=$CACHE_DIR/broker.stamp
readonly LOCK_FILE=$CACHE_DIR/.lock

PROG=$(basename "$0")
readonly PROG
TMP_DIR=""

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
cleanup() { [[ -z $TMP_DIR ]] || rm -rf "$TMP_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

usage() {
    sed -n '6,9s/^# \{0,1\}//p' "$0" >&2
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_install() {
    local out rc=0
    out=$(mktemp /tmp/msgr-tui-proton-broker-apt.XXXXXX)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@" >"$out" 2>&1 9>&- || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    ((${#missing[@]} > 0)) || return 0

    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; installing needs root: run 'sudo $0' once"
    log "installing ${missing[*]} with apt-get"
    if ! apt_install "${missing[@]}"; then
        log "apt-get install failed; running apt-get update and retrying"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 9>&-
        apt_install "${missing[@]}" || die "could not install ${missing[*]}"
    fi
    for p in "${PACKAGES[@]}"; do
        pkg_installed "$p" || die "$p is still not installed"
    done
}

# What the binary was built from: the sources, the library and the compiler.
# A change in any of them (a package upgrade) means building again.
build_stamp() {
    sha256sum "${SOURCES[@]}"
    dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}"
    gcc -dumpfullversion
}

up_to_date() {
    [[ -x $BINARY && -f $STAMP ]] && [[ "$(cat "$STAMP")" == "$(build_stamp)" ]]
}

build() {
    local f flags
    for f in "${SOURCES[@]}"; do
        [[ -r $f ]] || die "$f is missing (is ${PACKAGES[1]} installed?)"
    done
    flags=$(pkg-config --cflags --libs libqpid-proton) ||
        die "pkg-config does not know libqpid-proton (is ${PACKAGES[0]} installed?)"
    log "building $BINARY from $SOURCE_DIR/broker.c"
    TMP_DIR=$(mktemp -d "$CACHE_DIR/.build.XXXXXX")
    # The shipped Makefile asks for pkg-config names Debian lacks
    # (libqpid-proton-core/-proactor): link the whole library instead.
    # shellcheck disable=SC2086 # $flags is a list of compiler options
    gcc -O2 -o "$TMP_DIR/broker" "$SOURCE_DIR/broker.c" $flags -lpthread >&2 ||
        die "gcc could not build the broker"
    build_stamp >"$TMP_DIR/broker.stamp"
    # Binary first, then its stamp: a half-done run is rebuilt next time, and
    # a reader without the lock never sees a half-written binary.
    mv -f "$TMP_DIR/broker" "$BINARY"
    mv -f "$TMP_DIR/broker.stamp" "$STAMP"
}

main() {
    local command=${1:-build}
    case $command in
    build | rebuild) ;;
    path)
        [[ -x $BINARY ]] || {
            log "not built yet: run '$0 build'"
            printf '%s\n' "$BINARY"
            exit 1
        }
        printf '%s\n' "$BINARY"
        exit 0
        ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        usage
        die "unknown command '$command'"
        ;;
    esac

    mkdir -p "$CACHE_DIR"
    exec 9>"$LOCK_FILE"
    flock -w 300 9 || die "could not lock $LOCK_FILE within 300 s (another $PROG running?)"
    install_packages
    if [[ $command == rebuild ]] || ! up_to_date; then
        build
    fi
    printf '%s\n' "$BINARY"
}

main "$@"
