#!/bin/sh
# Runs a command beside a throwaway PostgreSQL 15 server, then stops it.
#   scripts/with-pg.sh COMMAND [ARG...]
# The server lives in a temporary folder owned by the `postgres` user
# (PostgreSQL refuses to run as root, and CI runs as root), listens on a
# free port of 127.0.0.1 only, and is stopped (-m immediate) and removed
# when the command ends, whether it passed or failed. The command finds
#   GROMO_TEST_PG   postgresql://postgres@127.0.0.1:PORT/  (a base URI: add a
#                   database name; `gromo` exists, the tests may create more)
#   GROMO_TEST_PG_PORT, GROMO_TEST_PG_BIN (initdb, pg_ctl, createdb, ...)
#   GROMO_TEST_PG_CTL  a folder with `stop` and `start` scripts, for tests
#                      that take the server away and bring it back
# If the server cannot start, this fails with the reason: tests against
# PostgreSQL are never skipped silently.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
die() { echo "with-pg: $*" >&2; exit 1; }

[ "$#" -ge 1 ] || die "usage: $0 COMMAND [ARG...]"
[ -x "$PGBIN/initdb" ] || die "no PostgreSQL 15 at $PGBIN (apt-get install postgresql-15, or make deps-test)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

dir=$(mktemp -d /tmp/gromo-pg-XXXXXX) || die "cannot make a temporary folder"
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "there is no postgres user (is postgresql-15 installed?)"
  chown postgres "$dir" || die "cannot give $dir to the postgres user"
fi

started=0
cleanup() {
  if [ "$started" = 1 ]; then
    as_pg "'$PGBIN/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port: ask the kernel for one, then let the server take it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
[ -n "$port" ] || port=$(( 20000 + $$ % 20000 ))

as_pg "'$PGBIN/initdb' -D '$dir/data' -A trust -U postgres -E UTF8 --no-sync" \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
# The server's start and stop, as scripts the postgres user runs (the
# tests that take the server away run them too, through ctl/start, ctl/stop).
mkdir -p "$dir/ctl"
cat >"$dir/ctl/start.pg" <<END
exec '$PGBIN/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 30 \
  -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start
END
cat >"$dir/ctl/stop.pg" <<END
exec '$PGBIN/pg_ctl' -D '$dir/data' -m fast -w stop
END
for verb in start stop; do
  if [ "$(id -u)" = 0 ]; then
    printf '#!/bin/sh\nexec su postgres -s /bin/sh %s\n' "'$dir/ctl/$verb.pg'" >"$dir/ctl/$verb"
  else
    printf '#!/bin/sh\nexec sh %s\n' "'$dir/ctl/$verb.pg'" >"$dir/ctl/$verb"
  fi
  chmod 755 "$dir/ctl/$verb" "$dir/ctl/$verb.pg"
done
started=1
"$dir/ctl/start" >/dev/null 2>&1 \
  || { cat "$dir/server.log" >&2 2>/dev/null; die "the PostgreSQL server did not start on port $port"; }
"$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres gromo \
  || die "createdb failed on port $port"

export GROMO_TEST_PG="postgresql://postgres@127.0.0.1:$port/"
export GROMO_TEST_PG_PORT="$port"
export GROMO_TEST_PG_BIN="$PGBIN"
export GROMO_TEST_PG_CTL="$dir/ctl"
echo "with-pg: PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
