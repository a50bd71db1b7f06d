#!/usr/bin/env bash
# The sandbox's pachyderm/pgbouncer:1.16.2 entrypoint. It stands in for the Bitnami image's scripts
# that the Pachyderm chart's pg-bouncer Deployment was written for: it writes pgbouncer.ini and the
# user list from the chart's POSTGRESQL_* and PGBOUNCER_* variables into the chart's writable mounts
# (/opt/bitnami/pgbouncer/{conf,tmp}) and runs pgbouncer in the foreground, logging to stdout.
# Debian's pgbouncer 1.18 serves the tag 1.16.2.
set -euo pipefail

BASE="${PGBOUNCER_BASE_DIR:-/opt/bitnami/pgbouncer}"
CONF="$BASE/conf/pgbouncer.ini"
USERLIST="$BASE/conf/userlist.txt"

log() { echo "pgbouncer: $*" >&2; }

# secret NAME: the variable's value, or the file its NAME_FILE twin names.
# shellcheck source=secret.sh
source "${BASH_SOURCE[0]%/*}/secret.sh"

is_yes() {
    case "${1,,}" in
        yes | true | 1) return 0 ;;
        *) return 1 ;;
    esac
}

: "${POSTGRESQL_HOST:?is required: the PostgreSQL server to forward to}"
USERNAME="${POSTGRESQL_USERNAME:-postgres}"
PASSWORD="$(secret POSTGRESQL_PASSWORD)"
DATABASE="${PGBOUNCER_DATABASE:-${POSTGRESQL_DATABASE:-postgres}}"

# The one database entry. "*" forwards every database name the client asks for; any other name goes
# to POSTGRESQL_DATABASE. PGBOUNCER_SET_USER (the chart's name; Bitnami's PGBOUNCER_SET_DATABASE_USER)
# makes every server connection log in as POSTGRESQL_USERNAME.
target="host=$POSTGRESQL_HOST port=${POSTGRESQL_PORT:-5432}"
[[ "$DATABASE" != "*" ]] && target+=" dbname=${POSTGRESQL_DATABASE:-$DATABASE}"
if is_yes "${PGBOUNCER_SET_USER:-${PGBOUNCER_SET_DATABASE_USER:-no}}"; then
    target+=" user=$USERNAME"
fi
if is_yes "${PGBOUNCER_SET_DATABASE_PASSWORD:-no}"; then
    target+=" password=$PASSWORD"
fi

# The [pgbouncer] settings: a chart variable's value where it set one.
settings=(
    "listen_addr = ${PGBOUNCER_LISTEN_ADDRESS:-0.0.0.0}"
    "listen_port = ${PGBOUNCER_PORT:-6432}"
    "unix_socket_dir = ${PGBOUNCER_UNIX_SOCKET_DIR:-/tmp}"
    "auth_type = ${PGBOUNCER_AUTH_TYPE:-md5}"
    "auth_file = $USERLIST"
    "pidfile = $BASE/tmp/pgbouncer.pid"
    "admin_users = $USERNAME"
)
optional() {
    local value="${!1:-}"
    [[ -z "$value" ]] || settings+=("$2 = $value")
}
optional PGBOUNCER_MAX_CLIENT_CONN max_client_conn
optional PGBOUNCER_DEFAULT_POOL_SIZE default_pool_size
optional PGBOUNCER_POOL_MODE pool_mode
optional PGBOUNCER_IDLE_TRANSACTION_TIMEOUT idle_transaction_timeout
optional PGBOUNCER_IGNORE_STARTUP_PARAMETERS ignore_startup_parameters
optional PGBOUNCER_SERVER_TLS_SSLMODE server_tls_sslmode
optional PGBOUNCER_SERVER_TLS_CERT_FILE server_tls_cert_file
optional PGBOUNCER_SERVER_TLS_KEY_FILE server_tls_key_file
optional PGBOUNCER_SERVER_TLS_CA_FILE server_tls_ca_file

umask 077
{
    echo "[databases]"
    echo "$DATABASE = $target"
    echo
    echo "[pgbouncer]"
    printf '%s\n' "${settings[@]}"
} >"$CONF"
q='"' # a double quote inside a user list's field is written twice
printf '"%s" "%s"\n' "${USERNAME//$q/$q$q}" "${PASSWORD//$q/$q$q}" >"$USERLIST"
# The pidfile's directory is the pod's emptyDir, kept when the container restarts (as every container
# does when a node comes back): a pidfile left by the last run names PID 1, which is this container's
# own pgbouncer, and pgbouncer would refuse to start as "another instance". None runs here yet.
rm -f "$BASE/tmp/pgbouncer.pid"
log "forwarding $DATABASE to $POSTGRESQL_HOST"
exec pgbouncer "$CONF"
