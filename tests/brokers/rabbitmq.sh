#!/usr/bin/env bash
# Local RabbitMQ 3.10 (Debian package) with the AMQP 1.0 plugin, for the
# msgr-tui test-suite. Loopback only; guest:guest; TLS with a local CA.
#
# Usage: tests/brokers/rabbitmq.sh COMMAND
#   install   install packages, write config, enable plugin, make TLS files
#   start     install if needed, start, wait until ready (no stdout)
#   stop      stop the node and epmd (exit 0 if not running)
#   restart   stop, then start
#   status    exit 0 if running and ready, 1 otherwise
#   paths     print CA=, AMQP_PORT=, AMQPS_PORT=, TLS_HOST= lines on stdout
#
# Progress goes to stderr. install/start/stop/restart need root (the
# rabbitmq-server and rabbitmqctl wrappers switch to the rabbitmq user).
# Environment: RABBITMQ_START_TIMEOUT (seconds, default 90).
set -euo pipefail

readonly NODENAME=rabbit@localhost
readonly AMQP_PORT=5672
readonly AMQPS_PORT=5671
readonly TLS_HOST=localhost
readonly ETC_DIR=/etc/rabbitmq
readonly ENV_CONF=$ETC_DIR/rabbitmq-env.conf
readonly RABBIT_CONF=$ETC_DIR/rabbitmq.conf
readonly PLUGINS_FILE=$ETC_DIR/enabled_plugins
readonly TLS_DIR=$ETC_DIR/msgr-tui-tls
readonly CA_CERT=$TLS_DIR/ca.pem
readonly CA_KEY=$TLS_DIR/ca.key
readonly SERVER_CERT=$TLS_DIR/server.pem
readonly SERVER_KEY=$TLS_DIR/server.key
readonly PID_FILE=/var/lib/rabbitmq/mnesia/$NODENAME.pid
readonly LOG_DIR=/var/log/rabbitmq
readonly LOCK_FILE=/run/lock/msgr-tui-rabbitmq.lock
readonly START_TIMEOUT=${RABBITMQ_START_TIMEOUT:-90}
readonly CERT_DAYS=3650
readonly RENEW_SECONDS=$((30 * 24 * 3600))

PROG=$(basename "$0")
readonly PROG
CONFIG_CHANGED=0
CLEANUP=()

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

run_cleanup() {
    local i
    for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUP[i]}" || true
    done
    CLEANUP=()
}
trap run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

usage() {
    sed -n '5,15s/^# \{0,1\}//p' "$0" >&2
}

is_root() { [[ $EUID -eq 0 ]]; }

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

require_root() {
    is_root && return 0
    if ! pkg_installed rabbitmq-server; then
        die "RabbitMQ is not installed and installing it needs root: run 'sudo $0 install' (or 'sudo $0 start') once"
    fi
    die "'$1' needs root (rabbitmq-server/rabbitmqctl switch to the rabbitmq user): run 'sudo $0 $1'"
}

# Lock fd 9 serialises install/start/stop/restart. Every rabbit tool is run
# with 9>&-: they may spawn long-lived daemons (beam, epmd) that would
# otherwise inherit the descriptor and hold the lock until they exit.
take_lock() {
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec 9>"$LOCK_FILE"
    flock -w 300 9 || die "could not lock $LOCK_FILE within 300 s (another $PROG running?)"
}

# ---------------------------------------------------------------- install

apt_install() {
    local out rc=0
    out=$(mktemp /tmp/msgr-tui-rabbitmq-apt.XXXXXX)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@" >"$out" 2>&1 9>&- || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

install_packages() {
    local missing=()
    pkg_installed rabbitmq-server || missing+=(rabbitmq-server)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    ((${#missing[@]} > 0)) || return 0

    log "installing ${missing[*]} with apt-get"
    # The package's postinst would start the broker (default node name)
    # through invoke-rc.d; a policy-rc.d that exits 101 forbids that.
    local policy=/usr/sbin/policy-rc.d backup=""
    if [[ -e $policy ]]; then
        backup=$(mktemp "$policy.msgr-tui.XXXXXX")
        cp -p "$policy" "$backup"
        CLEANUP+=("mv -f '$backup' '$policy'")
    else
        CLEANUP+=("rm -f '$policy'")
    fi
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"

    if ! apt_install "${missing[@]}"; then
        log "apt-get install failed; running apt-get update and retrying"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        apt_install "${missing[@]}" || die "could not install ${missing[*]}"
    fi
    run_cleanup
    pkg_installed rabbitmq-server || die "rabbitmq-server is still not installed"
}

# write_file PATH MODE OWNER CONTENT: replace PATH only if its content differs.
write_file() {
    local path=$1 mode=$2 owner=$3 content=$4 tmp
    if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then
        chmod "$mode" "$path"
        chown "$owner" "$path"
        return 0
    fi
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
    CONFIG_CHANGED=1
    log "wrote $path"
}

write_config() {
    write_file "$ENV_CONF" 644 root:root "# Managed by msgr-tui tests/brokers/rabbitmq.sh (local test broker).
NODENAME=$NODENAME
# Keep epmd and Erlang distribution on loopback.
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS
SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\""

    write_file "$RABBIT_CONF" 644 root:root "# Managed by msgr-tui tests/brokers/rabbitmq.sh (local test broker).
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
listeners.ssl.default = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $CA_CERT
ssl_options.certfile = $SERVER_CERT
ssl_options.keyfile = $SERVER_KEY
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
# guest may log in from loopback only (the default, made explicit).
loopback_users.guest = true"
}

enable_plugin() {
    if [[ -f $PLUGINS_FILE ]] && grep -q 'rabbitmq_amqp1_0' "$PLUGINS_FILE"; then
        return 0
    fi
    log "enabling rabbitmq_amqp1_0"
    local out
    if ! out=$(rabbitmq-plugins -q enable --offline rabbitmq_amqp1_0 2>&1 9>&-); then
        printf '%s\n' "$out" >&2
        die "could not enable rabbitmq_amqp1_0"
    fi
    CONFIG_CHANGED=1
}

cert_valid() { # cert_valid CERT: exists and valid for at least 30 more days
    [[ -s $1 ]] && openssl x509 -noout -checkend "$RENEW_SECONDS" -in "$1" >/dev/null 2>&1
}

key_matches() { # key_matches CERT KEY
    [[ -s $2 ]] || return 1
    local a b
    a=$(openssl x509 -noout -pubkey -in "$1" 2>/dev/null) || return 1
    b=$(openssl pkey -pubout -in "$2" 2>/dev/null) || return 1
    [[ -n $a && $a == "$b" ]]
}

openssl_cnf() {
    cat <<'EOF'
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
}

tls_perms() { # tls_perms DIR
    chown root:root "$1/ca.pem" "$1/ca.key"
    chmod 644 "$1/ca.pem" # tests (maybe non-root) must read the CA
    chmod 600 "$1/ca.key" # the broker never needs the CA key
    chown rabbitmq:rabbitmq "$1/server.pem" "$1/server.key"
    chmod 640 "$1/server.pem" "$1/server.key"
}

make_tls() {
    local new_ca=0 tmp
    mkdir -p "$TLS_DIR"
    chown root:root "$TLS_DIR"
    chmod 755 "$TLS_DIR"
    if ! cert_valid "$CA_CERT" || ! key_matches "$CA_CERT" "$CA_KEY"; then
        new_ca=1
    elif cert_valid "$SERVER_CERT" && key_matches "$SERVER_CERT" "$SERVER_KEY" &&
        openssl verify -CAfile "$CA_CERT" "$SERVER_CERT" >/dev/null 2>&1; then
        tls_perms "$TLS_DIR"
        return 0
    fi

    tmp=$(mktemp -d "$TLS_DIR/.new.XXXXXX")
    CLEANUP+=("rm -rf '$tmp'")
    openssl_cnf >"$tmp/openssl.cnf"
    if ((new_ca)); then
        log "generating test CA in $TLS_DIR"
        openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days "$CERT_DAYS" \
            -subj "/CN=msgr-tui test CA" -config "$tmp/openssl.cnf" -extensions v3_ca \
            -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
    else
        cp -p "$CA_CERT" "$tmp/ca.pem"
        cp -p "$CA_KEY" "$tmp/ca.key"
    fi
    log "generating server certificate for localhost/127.0.0.1"
    openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -config "$tmp/openssl.cnf" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
    openssl x509 -req -sha256 -days "$CERT_DAYS" -in "$tmp/server.csr" \
        -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -extfile "$tmp/openssl.cnf" -extensions v3_server -out "$tmp/server.pem" 2>/dev/null
    openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null ||
        die "generated server certificate does not verify"

    tls_perms "$tmp"
    # Server files first, CA last: a half-done run is repaired next time.
    mv -f "$tmp/server.key" "$SERVER_KEY"
    mv -f "$tmp/server.pem" "$SERVER_CERT"
    mv -f "$tmp/ca.key" "$CA_KEY"
    mv -f "$tmp/ca.pem" "$CA_CERT"
    rm -rf "$tmp"
    CONFIG_CHANGED=1
}

do_install() {
    install_packages
    write_config
    enable_plugin
    make_tls
    # The CA must be reachable by non-root users.
    chmod o+x "$ETC_DIR"
}

# ---------------------------------------------------------------- runtime

# pid_alive PID: exists and is not a zombie (PID 1 here may not reap
# daemons promptly, and kill -0 succeeds on zombies).
pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

node_pid() { # prints the pid of our live beam process
    local pid
    [[ -r $PID_FILE ]] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE")
    [[ -n $pid ]] && pid_alive "$pid" || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == beam* ]] || return 1
    printf '%s\n' "$pid"
}

port_open() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

ports_open() { port_open "$AMQP_PORT" && port_open "$AMQPS_PORT"; }

epmd_has_rabbit() {
    epmd -names 2>/dev/null | grep -q '^name rabbit at port'
}

node_ready() { # needs root; quick check
    timeout -k 5 30 rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1 9>&- && ports_open
}

show_logs() {
    local f
    for f in "$LOG_DIR/$NODENAME.log" "$LOG_DIR/${NODENAME}_upgrade.log" "$LOG_DIR/startup_err" "$LOG_DIR/startup_log"; do
        [[ -s $f ]] || continue
        printf -- '----- tail of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
    printf -- '-----\n' >&2
}

wait_ready() { # wait_ready [LAUNCHER_PID]: the foreground server process
    local launcher=${1:-} deadline=$((SECONDS + START_TIMEOUT)) seen_pid=0 remaining t
    while :; do
        remaining=$((deadline - SECONDS))
        ((remaining > 0)) || {
            log "error: RabbitMQ not ready within ${START_TIMEOUT} s"
            return 1
        }
        if [[ -n $launcher ]] && ! pid_alive "$launcher"; then
            log "error: rabbitmq-server exited during startup"
            return 1
        fi
        if node_pid >/dev/null; then
            seen_pid=1
        elif ((seen_pid)) || ((SECONDS > deadline - START_TIMEOUT + 20)); then
            if ! epmd_has_rabbit; then
                log "error: the RabbitMQ node process is gone"
                return 1
            fi
        fi
        t=$((remaining < 60 ? remaining : 60))
        if timeout -k 5 $((t + 15)) rabbitmqctl -q await_startup --timeout "$t" >/dev/null 2>&1 9>&-; then
            ports_open && return 0
        fi
        sleep 1
    done
}

do_start() {
    local pid launcher="" t0=$SECONDS
    if pid=$(node_pid) || epmd_has_rabbit; then
        if node_ready; then
            log "already running${pid:+ (pid $pid)}"
            if ((CONFIG_CHANGED)); then
                log "warning: configuration or TLS files changed; run '$0 restart' to apply"
            fi
            return 0
        fi
        log "node process exists but is not ready yet; waiting"
    else
        local p
        for p in "$AMQP_PORT" "$AMQPS_PORT"; do
            if port_open "$p"; then
                ss -ltnp "sport = :$p" >&2 || true
                die "port $p is already in use by another process"
            fi
        done
        log "starting RabbitMQ ($NODENAME)"
        # Like 'rabbitmq-server -detached', but as user rabbitmq the Debian
        # wrapper keeps the boot output in startup_log/startup_err (with
        # -detached, early errors such as a bad rabbitmq.conf are lost).
        # (The files must be writable by rabbitmq, or the wrapper fails.)
        rm -f "$LOG_DIR/startup_log" "$LOG_DIR/startup_err"
        setsid runuser -u rabbitmq -- /usr/sbin/rabbitmq-server \
            </dev/null >/dev/null 2>&1 9>&- &
        launcher=$!
        disown
    fi
    if ! wait_ready "$launcher"; then
        show_logs
        log "cleaning up after the failed start"
        do_stop
        die "RabbitMQ did not start (logs in $LOG_DIR)"
    fi
    log "ready in $((SECONDS - t0)) s (amqp 127.0.0.1:$AMQP_PORT, amqps $TLS_HOST:$AMQPS_PORT)"
}

wait_pid_gone() { # wait_pid_gone PID SECONDS
    local pid=$1 n=$(($2 * 10))
    while ((n-- > 0)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    ! pid_alive "$pid"
}

do_stop() {
    local pid="" p
    pid=$(node_pid) || pid=""
    if [[ -n $pid ]] || epmd_has_rabbit; then
        log "stopping RabbitMQ${pid:+ (pid $pid)}"
        if ! timeout -k 5 60 rabbitmqctl -q shutdown >/dev/null 2>&1 9>&-; then
            log "rabbitmqctl shutdown failed"
        fi
        if [[ -n $pid ]] && ! wait_pid_gone "$pid" 30; then
            log "node still alive; sending SIGTERM to $pid"
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_pid_gone "$pid" 15; then
                log "sending SIGKILL to $pid"
                kill -KILL "$pid" 2>/dev/null || true
                wait_pid_gone "$pid" 5 || die "could not stop pid $pid"
            fi
        fi
    else
        log "not running"
    fi
    rm -f "$PID_FILE"
    # epmd refuses -kill while any node is registered, and for a moment
    # after the last one died: retry for a few seconds.
    if epmd -names >/dev/null 2>&1; then
        local epmds n=0
        epmds=$(pgrep -u rabbitmq -x epmd || true)
        until epmd -kill >/dev/null 2>&1 9>&-; do
            if ((++n >= 20)); then
                log "epmd -kill refused (other Erlang nodes registered?): $(epmd -names 2>&1 | tr '\n' ' ')"
                break
            fi
            sleep 0.25
        done
        for p in $epmds; do wait_pid_gone "$p" 5 || true; done
    fi
    # Leftovers of the broker (all run as the rabbitmq system user).
    local left=""
    for p in $(pgrep -u rabbitmq -x 'beam.smp|epmd|erl_child_setup|inet_gethost' || true); do
        if pid_alive "$p"; then left+="$p "; fi
    done
    if [[ -n $left ]]; then
        log "terminating leftover rabbitmq processes: $left"
        for p in $left; do kill -TERM "$p" 2>/dev/null || true; done
        for p in $left; do
            wait_pid_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
        done
    fi
}

do_status() {
    if is_root && pkg_installed rabbitmq-server; then
        if { node_pid >/dev/null || epmd_has_rabbit; } && node_ready; then
            log "running"
            return 0
        fi
    elif ports_open; then # non-root: the ports are all we can check
        log "running (ports open)"
        return 0
    fi
    log "not running"
    return 1
}

do_paths() {
    printf 'CA=%s\nAMQP_PORT=%s\nAMQPS_PORT=%s\nTLS_HOST=%s\n' \
        "$CA_CERT" "$AMQP_PORT" "$AMQPS_PORT" "$TLS_HOST"
}

main() {
    local cmd=${1:-}
    case $cmd in
    install)
        require_root install
        take_lock
        do_install
        ;;
    start)
        require_root start
        take_lock
        do_install
        do_start
        ;;
    stop)
        if ! pkg_installed rabbitmq-server; then
            log "not installed; nothing to stop"
            return 0
        fi
        require_root stop
        take_lock
        do_stop
        ;;
    restart)
        require_root restart
        take_lock
        do_stop
        do_install
        do_start
        ;;
    status) do_status ;;
    paths) do_paths ;;
    -h | --help | help) usage ;;
    *)
        usage
        exit 2
        ;;
    esac
}

main "$@"
