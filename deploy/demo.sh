#!/bin/sh
# The scale-out of docs/scaling.md on this machine: a throwaway PostgreSQL 15
# (scripts/with-pg.sh), sample sales and a trained model in it, two
# `gromo serve` instances on it and nginx in front (deploy/nginx/gromo.conf,
# its ports changed). Prints the URL and an admin key, then runs until
# Ctrl-C, which stops everything and removes it.
#   deploy/demo.sh [--sales N] [--check]
#     --sales N  sample sales to generate (default 100000)
#     --check    instead of waiting: requests through nginx (sales stored
#                through one instance read through the other, predictions,
#                one instance stopped), then stop; exits non-zero on failure
# Needs ./gromo (make) and nginx (scripts/deps.sh demo, or make demo).
set -eu
cd "$(dirname "$0")/.."

if [ -z "${GROMO_DEMO_PG:-}" ]; then
  export GROMO_DEMO_PG=1
  exec scripts/with-pg.sh "$0" "$@"
fi

die() { echo "demo: $*" >&2; exit 1; }
sales=100000
check=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sales) sales=${2:?}; shift 2 ;;
    --check) check=1; shift ;;
    *) die "usage: deploy/demo.sh [--sales N] [--check]" ;;
  esac
done
G=${GROMO_BIN:-./gromo}
[ -x "$G" ] || die "no $G: run make first"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed: scripts/deps.sh demo (or make demo)"

tmp=$(mktemp -d /tmp/gromo-demo-XXXXXX)
chmod 755 "$tmp"
pids=""
cleanup() {
  set +e
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

"$GROMO_TEST_PG_BIN/createdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres demo
DB="${GROMO_TEST_PG}demo"
key=$("$G" keys create --role admin --name demo --db "$DB" 2>/dev/null | tail -n 1)
echo "demo: $sales sample sales and a model (a minute at most)..." >&2
"$G" generate "$sales" --seed 1 --db "$DB" -q
"$G" train --rounds 40 --db "$DB" -q

# The instances: every one the same, on the same database.
start_instance() { # start_instance N -> PORTn, pid in $pids
  port=$(free_port)
  "$G" serve --db "$DB" --port "$port" --log-file "$tmp/gromo-$1.log" \
    --trusted-proxies 127.0.0.1 --max-connections-per-ip 2048 &
  pids="$pids $!"
  eval "PID$1=$!"
  for i in $(seq 1 100); do
    grep -q '"event":"listening"' "$tmp/gromo-$1.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '"event":"listening"' "$tmp/gromo-$1.log" || die "instance $1 did not start"
  eval "PORT$1=$port"
}
start_instance 1
start_instance 2

PORTN=$(free_port)
sed -e "s/127\.0\.0\.1:8081/127.0.0.1:$PORT1/; s/127\.0\.0\.1:8082/127.0.0.1:$PORT2/" \
    -e "s/listen 8080;/listen 127.0.0.1:$PORTN;/" \
    -e "s#/var/log/nginx/gromo.access.log#$tmp/nginx-access.log#" \
    deploy/nginx/gromo.conf > "$tmp/gromo.conf"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  include $tmp/gromo.conf;
}
CONF
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp" -t -q || die "nginx refused its configuration"
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp"
URL="http://127.0.0.1:$PORTN"
for i in $(seq 1 50); do
  curl -fs -o /dev/null "$URL/health" && break
  sleep 0.1
done

if [ "$check" = 0 ]; then
  cat <<MSG

  Gromo on two instances behind nginx:   $URL
  dashboard, signed in:                  $URL/#key=$key
  admin key:                             $key
  instances:                             127.0.0.1:$PORT1, 127.0.0.1:$PORT2
  database:                              $DB
  logs:                                  $tmp (nginx-access.log names the instance of each request)

  Try: curl -H "X-API-Key: $key" -X POST $URL/predict/demand \\
         -d '{"pincode":"400001","product":"loan","channel":"online"}'
  Ctrl-C stops everything.
MSG
  while :; do sleep 3600 & wait $! || true; done
fi

# --check: a few things through nginx, then stop.
fail() { echo "demo check: FAILED: $*" >&2; exit 1; }
req() { # req METHOD PATH [BODY] -> body in $tmp/out, prints the status
  curl -s -o "$tmp/out" -w '%{http_code}' -X "$1" -H "X-API-Key: $key" \
    -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$URL$2"
}
for i in $(seq 1 20); do
  [ "$(req GET /health)" = 200 ] || fail "GET /health: $(cat "$tmp/out")"
done
n1=$(grep -c '"path":"/health"' "$tmp/gromo-1.log" || true)
n2=$(grep -c '"path":"/health"' "$tmp/gromo-2.log" || true)
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "nginx did not use both instances ($n1 and $n2 of 20)"
echo "demo check: 20 GET /health through nginx: $n1 on instance 1, $n2 on instance 2"
sale='[{"date":"2026-01-15","pincode":"560001","product":"loan","channel":"online","customer_age":30,"customer_income":60000,"id":"demo-check-1"}]'
[ "$(req POST /sales/add "$sale")" = 200 ] || fail "POST /sales/add: $(cat "$tmp/out")"
for i in 1 2 3 4 5 6; do
  [ "$(req GET '/sales?pincode=560001&from=2026-01-15&to=2026-01-15')" = 200 ] || fail "GET /sales: $(cat "$tmp/out")"
  grep -q '"demo-check-1"' "$tmp/out" || fail "a sale stored through one instance is missing from another"
done
echo "demo check: a sale stored through one instance read through both"
q='{"pincode":"400001","product":"loan","channel":"online"}'
for i in 1 2 3 4; do
  [ "$(req POST /predict/demand "$q")" = 200 ] || fail "POST /predict/demand: $(cat "$tmp/out")"
done
echo "demo check: predictions through both instances"
kill "$PID1"
wait "$PID1" 2>/dev/null || true
for i in $(seq 1 10); do
  [ "$(req GET /health)" = 200 ] || fail "GET /health with instance 1 stopped: $(cat "$tmp/out")"
  [ "$(req POST /predict/demand "$q")" = 200 ] || fail "a prediction with instance 1 stopped"
done
echo "demo check: instance 1 stopped, 10 health checks and 10 predictions answered by instance 2"
echo "demo check: passed"
