#!/usr/bin/env bash
# rhea (npm), an AMQP 1.0 implementation in JavaScript that is not Proton, for
# the msgr-tui test-suite (tests/brokers/test_rhea.py runs rhea_peer.js on it).
#
# Usage: tests/brokers/rhea.sh
#   Installs rhea RHEA_VERSION, with its dependencies at exact versions, into a
#   cache directory outside the source tree unless it is already there, and
#   prints that node_modules directory on stdout (use it as NODE_PATH).
#
# Progress and errors go to stderr. Safe to run repeatedly and concurrently
# (flock); quick when already installed. Needs node and npm (the npm registry).
# Environment: MSGR_TUI_RHEA_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/msgr-tui/rhea).
set -euo pipefail

readonly RHEA_VERSION=3.0.5
# rhea 3.0.5 depends on debug ^4.3.3 (which depends on ms ^2.1.3): pinned too,
# so a new release of either cannot change what the tests run on.
readonly DEBUG_VERSION=4.4.3
readonly MS_VERSION=2.1.3
readonly BASE=${MSGR_TUI_RHEA_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/msgr-tui/rhea}
readonly DIR=$BASE/rhea-$RHEA_VERSION
readonly MODULES=$DIR/node_modules
readonly MARKER=$DIR/.installed
readonly LOCK_FILE=$BASE/.lock

PROG=$(basename "$0")
readonly PROG
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

if [[ $# -gt 0 ]]; then
    sed -n '5,13s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi

installed() {
    [[ -f $MARKER && "$(cat "$MARKER")" == "rhea@$RHEA_VERSION debug@$DEBUG_VERSION ms@$MS_VERSION" ]] &&
        [[ -f $MODULES/rhea/package.json ]]
}

# The quick path takes no lock: the marker is written only after the
# directory is complete, and the directory is put in place by a rename.
if installed; then
    printf '%s\n' "$MODULES"
    exit 0
fi

command -v node >/dev/null 2>&1 || die "node is not installed (rhea needs Node.js; apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm)"

mkdir -p "$BASE"
exec 9>"$LOCK_FILE"
flock -w 300 9 || die "could not lock $LOCK_FILE within 300 s (another $PROG running?)"

if ! installed; then
    log "installing rhea@$RHEA_VERSION into $DIR"
    tmp=$(mktemp -d "$BASE/.new.XXXXXX")
    chmod 755 "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    cat >"$tmp/package.json" <<EOF
{
  "name": "msgr-tui-rhea-peer",
  "private": true,
  "description": "rhea for the msgr-tui tests (made by tests/brokers/rhea.sh)",
  "dependencies": {
    "rhea": "$RHEA_VERSION",
    "debug": "$DEBUG_VERSION",
    "ms": "$MS_VERSION"
  }
}
EOF
    out=$tmp/npm.log
    if ! (cd "$tmp" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
        --save-exact >"$out" 2>&1 9>&-); then
        tail -n 30 "$out" >&2
        die "npm install rhea@$RHEA_VERSION failed"
    fi
    got=$(cd "$tmp" && NODE_PATH=$tmp/node_modules node -e 'process.stdout.write(require("rhea/package.json").version)') ||
        die "rhea does not load after npm install"
    [[ $got == "$RHEA_VERSION" ]] || die "npm installed rhea $got, not $RHEA_VERSION"
    rm -f "$out"
    rm -rf "$DIR"
    mv "$tmp" "$DIR"
    trap - EXIT
    printf '%s\n' "rhea@$RHEA_VERSION debug@$DEBUG_VERSION ms@$MS_VERSION" >"$MARKER.tmp"
    mv -f "$MARKER.tmp" "$MARKER"
    log "installed rhea@$RHEA_VERSION"
fi

printf '%s\n' "$MODULES"
