#!/usr/bin/env bash
# The sandbox's pachyderm/postgresql:13.3.0 entrypoint. It stands in for the Bitnami image's scripts
# that the Pachyderm chart's bundled postgresql subchart (10.8.0) was written for, and honours the
# environment and paths that chart renders; PostgreSQL 15 from Debian serves the tag 13.3.0.
#
# First start (no PG_VERSION under PGDATA): initdb with the superuser `postgres`, then, on a server
# that listens on its Unix socket only (so the readiness probe stays false meanwhile) and trusts
# local connections, create POSTGRES_USER and POSTGRES_DB and run /docker-entrypoint-initdb.d/
# (*.sh run if executable, else sourced, as Bitnami does; *.sql through psql). Every start: pg_hba
# asks for md5 passwords everywhere, and the server runs in the foreground with the settings the
# chart's POSTGRESQL_* variables ask for.
set -euo pipefail

PORT="${POSTGRESQL_PORT_NUMBER:-5432}"
VOLUME_DIR="${POSTGRESQL_VOLUME_DIR:-/bitnami/postgresql}"
export PGDATA="${PGDATA:-$VOLUME_DIR/data}"
# Where the server's Unix socket is and psql looks for it, as in Bitnami's build.
export PGHOST=/tmp
INITDB_DIR=/docker-entrypoint-initdb.d

log() { echo "postgresql: $*" >&2; }

# secret NAME: the variable's value, or the file its NAME_FILE twin names.
# shellcheck source=secret.sh
source "${BASH_SOURCE[0]%/*}/secret.sh"

USER_NAME="${POSTGRES_USER:-postgres}"
USER_PASSWORD="$(secret POSTGRES_PASSWORD)"
if [[ "$USER_NAME" == postgres ]]; then
    ADMIN_PASSWORD="$USER_PASSWORD"
else
    ADMIN_PASSWORD="$(secret POSTGRES_POSTGRES_PASSWORD)"
fi

for unsupported in POSTGRES_REPLICATION_MODE POSTGRESQL_ENABLE_LDAP; do
    case "${!unsupported:-no}" in
        "" | no | false) ;;
        *) log "$unsupported=${!unsupported} is not supported by this image"; exit 1 ;;
    esac
done

# The server settings the chart's variables ask for, as -c options.
settings=(
    -c "port=$PORT"
    -c "unix_socket_directories=$PGHOST"
    -c password_encryption=md5
    -c jit=off
    -c "log_hostname=${POSTGRESQL_LOG_HOSTNAME:-false}"
    -c "log_connections=${POSTGRESQL_LOG_CONNECTIONS:-false}"
    -c "log_disconnections=${POSTGRESQL_LOG_DISCONNECTIONS:-false}"
    -c "client_min_messages=${POSTGRESQL_CLIENT_MIN_MESSAGES:-error}"
    -c "shared_preload_libraries=${POSTGRESQL_SHARED_PRELOAD_LIBRARIES:-}"
)
[[ ",${POSTGRESQL_SHARED_PRELOAD_LIBRARIES:-}," == *,pgaudit,* ]] && settings+=(
    -c "pgaudit.log_catalog=${POSTGRESQL_PGAUDIT_LOG_CATALOG:-off}"
    -c "pgaudit.log=${POSTGRESQL_PGAUDIT_LOG:-none}"
)
[[ -n "${POSTGRESQL_LOG_LINE_PREFIX:-}" ]] && settings+=(-c "log_line_prefix=$POSTGRESQL_LOG_LINE_PREFIX")
[[ -n "${POSTGRESQL_LOG_TIMEZONE:-}" ]] && settings+=(-c "log_timezone=$POSTGRESQL_LOG_TIMEZONE")
[[ -n "${POSTGRESQL_MAX_CONNECTIONS:-}" ]] && settings+=(-c "max_connections=$POSTGRESQL_MAX_CONNECTIONS")
[[ -n "${POSTGRESQL_STATEMENT_TIMEOUT:-}" ]] && settings+=(-c "statement_timeout=$POSTGRESQL_STATEMENT_TIMEOUT")
[[ -n "${POSTGRESQL_TCP_KEEPALIVES_IDLE:-}" ]] && settings+=(-c "tcp_keepalives_idle=$POSTGRESQL_TCP_KEEPALIVES_IDLE")
[[ -n "${POSTGRESQL_TCP_KEEPALIVES_INTERVAL:-}" ]] \
    && settings+=(-c "tcp_keepalives_interval=$POSTGRESQL_TCP_KEEPALIVES_INTERVAL")
[[ -n "${POSTGRESQL_TCP_KEEPALIVES_COUNT:-}" ]] && settings+=(-c "tcp_keepalives_count=$POSTGRESQL_TCP_KEEPALIVES_COUNT")
if [[ "${POSTGRESQL_ENABLE_TLS:-no}" == yes ]]; then
    settings+=(
        -c ssl=on
        -c "ssl_cert_file=$POSTGRESQL_TLS_CERT_FILE"
        -c "ssl_key_file=$POSTGRESQL_TLS_KEY_FILE"
        -c "ssl_ca_file=${POSTGRESQL_TLS_CA_FILE:-}"
        -c "ssl_crl_file=${POSTGRESQL_TLS_CRL_FILE:-}"
        -c "ssl_prefer_server_ciphers=${POSTGRESQL_TLS_PREFER_SERVER_CIPHERS:-yes}"
    )
fi

# psql as the superuser over the local socket (trusted only while initialising).
sql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username postgres --dbname postgres "$@"; }

# A failed initialisation leaves nothing behind, so the container's restart starts it again.
abandon() {
    pg_ctl --silent stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$PGDATA"
}

initialise() {
    log "initialising $PGDATA"
    trap abandon EXIT
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$ADMIN_PASSWORD" >"$pwfile"
    local waldir=()
    [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]] && waldir=(--waldir "$POSTGRES_INITDB_WALDIR")
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, split as Bitnami does
    initdb --username postgres --pwfile "$pwfile" --auth md5 --encoding UTF8 --locale C \
        "${waldir[@]}" ${POSTGRES_INITDB_ARGS:-}
    rm -f "$pwfile"
    printf 'local all all trust\n' >"$PGDATA/pg_hba.conf"
    pg_ctl --wait --silent start -o "$(printf '%q ' "${settings[@]}" -c "listen_addresses=")"
    if [[ "$USER_NAME" != postgres ]]; then
        sql --set user="$USER_NAME" --set password="$USER_PASSWORD" \
            <<<"CREATE ROLE :\"user\" LOGIN CREATEDB PASSWORD :'password';"
    fi
    if [[ -n "${POSTGRES_DB:-}" && "$POSTGRES_DB" != postgres ]]; then
        sql --set db="$POSTGRES_DB" --set user="$USER_NAME" <<<"CREATE DATABASE :\"db\" OWNER :\"user\";"
    fi
    local script
    for script in "$INITDB_DIR"/*; do
        case "$script" in
            *.sh)
                log "running $script"
                if [[ -x "$script" ]]; then "$script"; else
                    # shellcheck disable=SC1090 # the chart's scripts, known only at run time
                    . "$script"
                fi
                ;;
            *.sql)
                log "running $script"
                psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$USER_NAME" --dbname "${POSTGRES_DB:-postgres}" \
                    --file "$script"
                ;;
            "$INITDB_DIR/*") ;;  # no scripts
            *) log "ignoring $script" ;;
        esac
    done
    pg_ctl --wait --silent stop
    trap - EXIT
}

[[ -f "$PGDATA/PG_VERSION" ]] || initialise
cat >"$PGDATA/pg_hba.conf" <<'EOF'
local all all md5
host all all 0.0.0.0/0 md5
host all all ::/0 md5
EOF
exec postgres "${settings[@]}" -c "listen_addresses=*"
