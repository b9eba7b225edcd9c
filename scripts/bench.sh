#!/bin/sh
# Benchmarks of the foundation, printing figures (docs/benchmarks.md).
#   scripts/bench.sh [all|generate|sales_add|health|modes|ratelimit|store|gazetteer|train|goals|upload|predict|predict-ab|regions|insights|web|hostile|scale|pgimport|pgtrain|jsonimport|accuracy]
# Uses loopback ports only; every load is bounded in time.
set -eu
cd "$(dirname "$0")/.."
B=build/release
what=${1:-all}
# The PostgreSQL benchmarks run beside a throwaway server of their own.
case "$what" in
  scale|pgimport|pgtrain)
    if [ -z "${GROMO_TEST_PG:-}" ]; then exec scripts/with-pg.sh "$0" "$@"; fi ;;
esac
tmp=$(mktemp -d /tmp/gromo-bench-XXXXXX)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
echo

calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
need() { # need PROGRAM...: stops with a message when one is not installed
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 ||
      { echo "bench: $p is not installed (scripts/deps.sh bench installs it)" >&2; exit 2; }
  done
}

wait_port() { # wait_port LOG -> prints the port of the server's "listening" line
  for i in $(seq 1 100); do
    p=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  return 1
}

start_server() { # start_server DB [flags...] -> sets PORT, SERVER_PID
  db=$1; shift
  : > "$tmp/server.log"
  ./gromo serve --db "$db" --port 0 --log-file "$tmp/server.log" "$@" &
  SERVER_PID=$!
  pids="$pids $SERVER_PID"
  PORT=$(wait_port "$tmp/server.log") || { echo "server did not start" >&2; exit 1; }
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

bench_generate() {
  echo "== generate 1,000,000 sample records into a fresh SQLite store"
  for run in 1 2 3; do
    rm -f "$tmp/gen.db" "$tmp/gen.db-wal" "$tmp/gen.db-shm"
    t0=$(date +%s.%N)
    ./gromo generate 1000000 --seed 1 --db "$tmp/gen.db" -q
    t1=$(date +%s.%N)
    echo "generate: run $run: $(calc "$t1 - $t0") s"
  done
  echo
}

bench_sales_add() {
  echo "== POST /sales/add: 1,000,000 records in batches of 10,000"
  add_store() { # a fresh store with an admin key in GROMO_KEY
    rm -f "$tmp/add.db"*
    GROMO_KEY=$(./gromo keys create --role admin --name bench --db "$tmp/add.db" 2>/dev/null | tail -n 1)
    export GROMO_KEY
  }
  for conns in 1 2; do
    add_store
    start_server "$tmp/add.db"
    $B/bench/bench_sales_add "http://127.0.0.1:$PORT/sales/add" 1000000 10000 "$conns"
    stop_server
  done
  add_store
  start_server "$tmp/add.db"
  $B/bench/bench_sales_add "http://127.0.0.1:$PORT/sales/add" 1000000 10000 2 --ids
  stop_server
  unset GROMO_KEY
  echo
}

wrk_rps() { # wrk_rps URL -> prints requests/s
  need wrk
  wrk -t1 -c64 -d10s --latency "$1" > "$tmp/wrk.txt" 2>&1
  awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt"
}

wrk_p99() {
  awk '$1 == "99%" {print $2}' "$tmp/wrk.txt"
}

nginx_start() {
  NGINX_PORT=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 30000) }')
  mkdir -p "$tmp/nginx"
  cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes $(nproc);
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 200 '{"status":"healthy"}'; }
  }
}
CONF
  nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx"
}

nginx_stop() { nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" -s stop 2>/dev/null || true; }

bench_health() {
  echo "== GET /health, wrk -t1 -c64 -d10s, beside nginx returning a fixed 200"
  ./gromo generate 1000 --seed 1 --db "$tmp/h.db" -q
  start_server "$tmp/h.db"
  g=$(wrk_rps "http://127.0.0.1:$PORT/health"); gp=$(wrk_p99)
  stop_server
  nginx_start
  n=$(wrk_rps "http://127.0.0.1:$NGINX_PORT/"); np=$(wrk_p99)
  nginx_stop
  echo "health: gromo $g req/s (p99 $gp), nginx $n req/s (p99 $np), ratio $(calc "$g / $n")"
  echo
}

bench_modes() {
  echo "== libmicrohttpd threading modes: GET /health, wrk -t1 -c64 -d10s"
  [ -f "$tmp/h.db" ] || ./gromo generate 1000 --seed 1 --db "$tmp/h.db" -q
  for mode in epoll-pool poll-pool epoll-single thread-per-connection; do
    start_server "$tmp/h.db" --http-mode "$mode"
    r=$(wrk_rps "http://127.0.0.1:$PORT/health"); p=$(wrk_p99)
    stop_server
    echo "mode $mode: $r req/s (p99 $p)"
  done
  echo
}

bench_ratelimit() {
  need wrk
  echo "== rate limiting: the check itself, and GET /sales?limit=1 with it on and off"
  $B/bench/bench_ratelimit 5000000
  ./gromo generate 10000 --seed 1 --db "$tmp/r.db" -q
  key=$(./gromo keys create --role analyst --name bench --db "$tmp/r.db" 2>/dev/null | tail -n 1)
  # Alternating runs, since the machine is shared; limits high enough never
  # to refuse, so the bucket is still taken on every request.
  for run in 1 2 3; do
    start_server "$tmp/r.db" --no-rate-limit
    off=$(wrk -t1 -c64 -d5s -H "X-API-Key: $key" "http://127.0.0.1:$PORT/sales?limit=1" | awk '/Requests\/sec/ {print $2}')
    stop_server
    start_server "$tmp/r.db" --rate-limits analyst=10000000
    on=$(wrk -t1 -c64 -d5s -H "X-API-Key: $key" "http://127.0.0.1:$PORT/sales?limit=1" | awk '/Requests\/sec/ {print $2}')
    stop_server
    echo "ratelimit: run $run: off $off req/s, on $on req/s"
  done
  echo
}

# The store's insert rate and ping: SQLite, then PostgreSQL beside a
# throwaway server (scripts/with-pg.sh) when PostgreSQL 15 is installed.
bench_store() {
  echo "== the store: 200,000 sales in batches of 10,000, then 10,000 pings"
  $B/bench/bench_store
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    scripts/with-pg.sh sh -c "$B/bench/bench_store \"\${GROMO_TEST_PG}gromo\"" 2>/dev/null ||
      echo "store: the PostgreSQL run failed" >&2
  fi
  echo
}

bench_train() {
  echo "== full training (all models, holdout evaluation, calibration, refit) on 1,000,000 sample sales"
  rm -f "$tmp/train.db"*
  ./gromo generate 1000000 --seed 1 --db "$tmp/train.db" -q
  $B/bench/bench_train "$tmp/train.db"
  echo
}

# One accuracy report (docs/monitoring.md) computed without a cache: a
# version trained on 1,000,000 sample sales ending 2026-03-31, then 300,000
# more sales over the 24 months to 2026-07-31 (those after the as-of date
# are the outcomes), judged as of 2026-08-01 (all three periods complete).
bench_accuracy() {
  echo "== accuracy report of a version trained on 1,000,000 sample sales (gromo models accuracy)"
  rm -f "$tmp/acc.db"*
  ./gromo generate 1000000 --seed 1 --end 2026-03-31 --db "$tmp/acc.db" -q
  ./gromo train --rounds 30 --db "$tmp/acc.db" -q
  ./gromo generate 300000 --seed 2 --end 2026-07-31 --db "$tmp/acc.db" -q
  for run in 1 2; do
    t0=$(date +%s.%N)
    ./gromo models accuracy --as-of 2026-08-01 --json --db "$tmp/acc.db" >/dev/null
    t1=$(date +%s.%N)
    echo "accuracy: run $run: $(calc "$t1 - $t0") s (loading the version included)"
  done
  rm -f "$tmp/acc.db"*
  echo
}

# Forecast quality through the year (bench/bench_goals.c): 3 seeds of
# sample sales over three years, a model trained as of the last day of each
# of 12 months up to 30 September, its answers 1-3 periods ahead against
# what the generator sold after. GOALS_SALES sets the sales of a seed
# (1,000,000 by default, so that a month's realized sales and coverage are
# not mostly noise: docs/benchmarks.md; 300,000 for sparser data).
bench_goals() {
  echo "== forecasts through the year (3 seeds x 12 as-of dates)"
  $B/bench/bench_goals --seeds 3 --sales "${GOALS_SALES:-1000000}" --dir "$tmp"
  echo
}

# Bulk files (docs/files.md): a 1,000,000-row CSV of sample sales (written by
# gromo export) through gromo import and through POST /sales/upload, each
# into a fresh store, with the server's resident memory before the upload
# and its peak during it (VmHWM, reset first); the two halves of an import
# apart (bench_ingest); a 100,000-row XLSX through gromo import. GROMO_BIN
# and GROMO_BENCH_DIR pick another build (default ./gromo, build/release).
status_mib() { # status_mib PID FIELD -> that line of /proc/PID/status, MiB
  awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

bench_upload() {
  g=${GROMO_BIN:-./gromo}
  bd=${GROMO_BENCH_DIR:-$B/bench}
  echo "== bulk files: 1,000,000-row CSV by gromo import and POST /sales/upload; 100,000-row XLSX by gromo import"
  "$g" generate 1000000 --seed 1 --db "$tmp/src.db" -q
  "$g" export --format csv --db "$tmp/src.db" -q -o "$tmp/sales.csv"
  "$g" export --format xlsx --limit 100000 --db "$tmp/src.db" -q -o "$tmp/sales.xlsx"
  rows=$(($(wc -l < "$tmp/sales.csv") - 1))
  echo "files: CSV $rows rows, $(du -m "$tmp/sales.csv" | cut -f1) MiB; XLSX 100000 rows, $(du -m "$tmp/sales.xlsx" | cut -f1) MiB"
  for run in 1 2 3; do
    rm -f "$tmp/imp.db"*
    t0=$(date +%s.%N)
    "$g" import "$tmp/sales.csv" --db "$tmp/imp.db" -q
    t1=$(date +%s.%N)
    echo "import csv: run $run: $(calc "$t1 - $t0") s, $(calc "$rows / ($t1 - $t0)") rows/s"
  done
  for run in 1 2 3; do
    rm -f "$tmp/up.db"* "$tmp/up.log"
    key=$("$g" keys create --role admin --name bench --db "$tmp/up.db" 2>/dev/null | tail -n 1)
    "$g" serve --db "$tmp/up.db" --port 0 --log-file "$tmp/up.log" &
    up_pid=$!
    pids="$pids $up_pid"
    port=""
    for i in $(seq 1 100); do
      port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/up.log" 2>/dev/null | tail -n 1)
      [ -n "$port" ] && break
      sleep 0.1
    done
    [ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
    echo 5 > "/proc/$up_pid/clear_refs" # VmHWM from here
    rss0=$(status_mib "$up_pid" VmRSS)
    t0=$(date +%s.%N)
    code=$(curl -s -o "$tmp/up.json" -w '%{http_code}' -H "X-API-Key: $key" \
      -H 'Content-Type: text/csv' --data-binary @"$tmp/sales.csv" \
      "http://127.0.0.1:$port/sales/upload")
    t1=$(date +%s.%N)
    rss1=$(status_mib "$up_pid" VmRSS)
    hwm=$(status_mib "$up_pid" VmHWM)
    kill "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
    stored=$(sed -n 's/.*"inserted_count":\([0-9]*\).*/\1/p' "$tmp/up.json")
    if [ "$code" != 200 ] || [ "$stored" != "$rows" ]; then
      echo "upload failed: HTTP $code: $(head -c 300 "$tmp/up.json")" >&2
      exit 1
    fi
    echo "upload csv: run $run: $(calc "$t1 - $t0") s, $(calc "$rows / ($t1 - $t0)") rows/s;" \
      "server VmRSS $rss0 MiB before, peak $hwm MiB (+$(calc "$hwm - $rss0")), $rss1 MiB after"
  done
  for run in 1 2 3; do
    rm -f "$tmp/bi.db"*
    "$bd/bench_ingest" "$tmp/sales.csv" "$tmp/bi.db" | sed "s/^/halves: run $run: /"
  done
  for run in 1 2 3; do
    rm -f "$tmp/x.db"*
    t0=$(date +%s.%N)
    "$g" import "$tmp/sales.xlsx" --db "$tmp/x.db" -q
    t1=$(date +%s.%N)
    echo "import xlsx: run $run: 100000 rows in $(calc "$t1 - $t0") s"
  done
  rm -f "$tmp/src.db"* "$tmp/imp.db"* "$tmp/up.db"* "$tmp/bi.db"* "$tmp/x.db"* \
    "$tmp/sales.csv" "$tmp/sales.xlsx"
  echo
}

# Predictions (docs/benchmarks.md): a server on 200,000 sample sales, trained
# first. One query a request under wrk -t1 -c64, and batches of 10,000
# queries by curl: over pincodes with sales, with ?explain=true, and over
# pincodes of the gazetteer without sales (fallbacks).
one_query_script() { # one_query_script KEY -> $tmp/one.lua: wrk posting one query
  cat > "$tmp/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$1"
wrk.body = '{"pincode":"400001","product":"loan","channel":"online","customer_age":35,"customer_income":75000}'
LUA
}

mk_batch() { # mk_batch PINFILE -> 10,000 queries cycling over its pincodes
  awk 'BEGIN { split("loan credit_card insurance", p, " "); split("online offline", c, " ") }
       { pin[n++] = $1 }
       END { printf "["; for (i = 0; i < 10000; i++) {
               if (i) printf ","
               printf "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"", pin[i % n], p[i % 3 + 1], c[i % 2 + 1]
               if (i % 3) printf ",\"customer_age\":%d,\"customer_income\":%d", 20 + i % 50, 20000 + 97 * (i % 1000)
               printf "}" }
             printf "]" }' "$1"
}

# This build's batch of 10,000 demand answers beside another build's
# (GROMO_OTHER: its gromo), each serving its own store of the same 200,000
# sample sales trained by itself; the two are asked in turn, 10 times each,
# so that the machine's drift falls on both alike. The batch is
# bench_predict's, over the gazetteer's first 500 pincodes.
ab_serve() { # ab_serve N GROMO: a store and a server of that build -> ABPORTn, ABKEYn
  "$2" generate 200000 --seed 1 --db "$tmp/ab$1.db" -q
  "$2" train --db "$tmp/ab$1.db" -q
  eval "ABKEY$1=$("$2" keys create --role analyst --name bench --db "$tmp/ab$1.db" 2>/dev/null | tail -n 1)"
  : > "$tmp/ab$1.log"
  "$2" serve --db "$tmp/ab$1.db" --port 0 --no-rate-limit --log-file "$tmp/ab$1.log" &
  pids="$pids $!"
  p=$(wait_port "$tmp/ab$1.log") || { echo "server did not start" >&2; exit 1; }
  eval "ABPORT$1=$p"
}
bench_predict_ab() {
  need curl
  other=${GROMO_OTHER:?set GROMO_OTHER to the gromo of the build to compare}
  echo "== a batch of 10,000 demand answers: this build and $other in turn"
  awk 'NR > 1 { print $1 }' data/pincodes.tsv | head -n 500 > "$tmp/pins.txt"
  mk_batch "$tmp/pins.txt" > "$tmp/ab.json"
  ab_serve 1 ./gromo
  ab_serve 2 "$other"
  : > "$tmp/t1"
  : > "$tmp/t2"
  for run in $(seq 1 10); do
    for w in 1 2; do
      eval "port=\$ABPORT$w key=\$ABKEY$w"
      curl -s -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $key" \
        -H 'Content-Type: application/json' --data-binary @"$tmp/ab.json" \
        "http://127.0.0.1:$port/predict/demand" >> "$tmp/t$w"
    done
  done
  for w in 1 2; do
    if [ $w = 1 ]; then name="this build"; else name=$other; fi
    sort -g "$tmp/t$w" | awk -v name="$name" '{ v[++n] = $1 * 1000 }
      END { printf "%s: median %.1f ms, min %.1f, max %.1f (%d runs)\n", name,
            (v[int((n + 1) / 2)] + v[int(n / 2) + 1]) / 2, v[1], v[n], n }'
  done
  echo
}

bench_predict() {
  need wrk curl
  echo "== predictions: one query a request (wrk -t1 -c64 -d8s), batches of 10,000 (curl, wall time)"
  rm -f "$tmp/p.db"*
  ./gromo generate 200000 --seed 1 --db "$tmp/p.db" -q
  ./gromo train --db "$tmp/p.db" -q
  key=$(./gromo keys create --role analyst --name bench --db "$tmp/p.db" 2>/dev/null | tail -n 1)
  one_query_script "$key"
  one() { # one LABEL ENDPOINT
    wrk -t1 -c64 -d8s --latency -s "$tmp/one.lua" "http://127.0.0.1:$PORT/predict/$2" > "$tmp/wrk.txt" 2>&1
    bad=$(awk '/Non-2xx|Socket errors/ {print}' "$tmp/wrk.txt" | tr -s ' ')
    echo "one query: $1: /predict/$2: $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt") req/s," \
      "p99 $(wrk_p99)${bad:+, $bad}"
  }
  # Rate limiting off, then on (its bucket taken on every request) with a
  # limit the load never reaches (the default analyst limit would refuse
  # it), alternately since the machine is shared.
  for run in 1 2 3; do
    start_server "$tmp/p.db" --no-rate-limit
    one "run $run, rate limit off" demand
    stop_server
    start_server "$tmp/p.db" --rate-limits analyst=10000000
    one "run $run, rate limit on" demand
    stop_server
    # One HTTP thread leaves wrk a core of its own on a 2-core machine.
    start_server "$tmp/p.db" --rate-limits analyst=10000000 --threads 1
    one "run $run, rate limit on, one HTTP thread" demand
    stop_server
  done
  start_server "$tmp/p.db" --rate-limits analyst=10000000
  base="http://127.0.0.1:$PORT"
  one "rate limit on" demand-rise
  one "rate limit on" top-product
  # Pincodes with sales (those of the regions) and pincodes of the
  # gazetteer without.
  ./gromo regions --db "$tmp/p.db" --json | grep -o '"[0-9]\{6\}"' | tr -d '"' | sort -u > "$tmp/inreg.txt"
  awk 'NR > 1 { print $1 }' data/pincodes.tsv | sort -u > "$tmp/all.txt"
  head -n 500 "$tmp/inreg.txt" > "$tmp/known.txt"
  comm -23 "$tmp/all.txt" "$tmp/inreg.txt" | head -n 2000 > "$tmp/unseen.txt"
  mk_batch "$tmp/known.txt" > "$tmp/known.json"
  mk_batch "$tmp/unseen.txt" > "$tmp/unseen.json"
  echo "batches: $(wc -l < "$tmp/known.txt") pincodes with sales, $(wc -l < "$tmp/unseen.txt") without"
  batch() { # batch LABEL PATH FILE
    for run in 1 2 3; do
      t=$(curl -s -o "$tmp/b.json" -w '%{time_total}' -H "X-API-Key: $key" \
        -H 'Content-Type: application/json' --data-binary @"$3" "$base$2")
      n=$(grep -o '"model_version"' "$tmp/b.json" | wc -l)
      echo "batch: $1: run $run: $(calc "$t * 1000") ms, $n answers"
    done
  }
  batch "demand, 10,000" /predict/demand "$tmp/known.json"
  batch "demand-rise, 10,000" /predict/demand-rise "$tmp/known.json"
  batch "top-product, 10,000" /predict/top-product "$tmp/known.json"
  # what answers them at each horizon: the model from their place, or their
  # nearest pincodes' average (docs/models.md "Serving and fallbacks")
  ./gromo models backtest --db "$tmp/p.db" | grep -A3 'cold pincodes:' | grep -v '^--'
  batch "demand, 10,000 of pincodes without sales" /predict/demand "$tmp/unseen.json"
  batch "demand, 10,000 of pincodes without sales, horizon 3" "/predict/demand?horizon=3" "$tmp/unseen.json"
  batch "demand ?explain=true, 10,000" "/predict/demand?explain=true" "$tmp/known.json"
  stop_server
  rm -f "$tmp/p.db"*
  echo
}

# Hostile bodies: N connections each send a 30 MB POST /sales/add body and
# hold back its last bytes, against a server with default limits
# (--max-inflight 256 MiB).
bench_hostile() {
  echo "== hostile bodies: 30 MB POST /sales/add bodies held open, default limits"
  for conns in 16 64 256; do
    rm -f "$tmp/host.db"*
    GROMO_KEY=$(./gromo keys create --role admin --name bench --db "$tmp/host.db" 2>/dev/null | tail -n 1)
    export GROMO_KEY
    start_server "$tmp/host.db"
    $B/bench/bench_hostile "$PORT" "$SERVER_PID" "$conns" 30 || echo "hostile: run failed" >&2
    stop_server
  done
  unset GROMO_KEY
  echo
}

bench_web() {
  echo "== the dashboard in Chromium on a store of 1,000,000 sales"
  ./gromo generate 1000000 --seed 1 --end 2026-06-30 --db "$tmp/web.db" -q
  ./gromo train --db "$tmp/web.db" -q >/dev/null
  key=$(./gromo keys create --role admin --name bench --db "$tmp/web.db" 2>/dev/null | tail -n 1)
  start_server "$tmp/web.db"
  node bench/dashboard.mjs "http://127.0.0.1:$PORT" "$key" 5 || echo "web: run failed" >&2
  stop_server
  echo
}

# One instance against two behind nginx (docs/scaling.md), all on one
# PostgreSQL database of 200,000 sample sales with a trained model: wrk -t1
# -c64 -d10s on GET /health and on POST /predict/demand (one query a
# request), straight to one instance, through nginx to one, and through
# nginx to two; three alternating rounds. nginx runs deploy/nginx/gromo.conf
# with its ports changed and its access log off.
bench_scale() {
  need wrk
  echo "== scale: one instance against two behind nginx, one PostgreSQL database"
  g=${GROMO_BIN:-./gromo}
  "$GROMO_TEST_PG_BIN/createdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres scale
  db="${GROMO_TEST_PG}scale"
  "$g" generate 200000 --seed 1 --db "$db" -q
  "$g" train --db "$db" -q
  key=$("$g" keys create --role analyst --name bench --db "$db" 2>/dev/null | tail -n 1)
  one_query_script "$key"
  inst() { # inst N: an instance on the database -> IPORTn
    : > "$tmp/i$1.log"
    "$g" serve --db "$db" --port 0 --log-file "$tmp/i$1.log" --rate-limits analyst=10000000 \
      --trusted-proxies 127.0.0.1 --max-connections-per-ip 2048 &
    pids="$pids $!"
    eval "IPID$1=$!"
    p=$(wait_port "$tmp/i$1.log") || { echo "instance did not start" >&2; exit 1; }
    eval "IPORT$1=$p"
  }
  inst_stop() { eval "kill \$IPID$1; wait \$IPID$1" 2>/dev/null || true; }
  lb_start() { # lb_start PORT... : nginx in front of those instances -> LBPORT
    LBPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$tmp/lb"
    servers=""
    for p in "$@"; do servers="$servers    server 127.0.0.1:$p max_fails=3 fail_timeout=10s;\n"; done
    awk -v servers="$servers" '
      /server 127\.0\.0\.1:808[12] / { if (!done) { printf "%s", servers; done = 1 }; next }
      { print }' deploy/nginx/gromo.conf |
      sed -e "s/listen 8080;/listen 127.0.0.1:$LBPORT;/" \
          -e "s#access_log /var/log/nginx/gromo.access.log gromo;#access_log off;#" > "$tmp/lb/gromo.conf"
    cat > "$tmp/lb/nginx.conf" <<CONF
worker_processes $(nproc);
pid $tmp/lb/nginx.pid;
error_log $tmp/lb/error.log;
events { worker_connections 4096; }
http {
  client_body_temp_path $tmp/lb; proxy_temp_path $tmp/lb; fastcgi_temp_path $tmp/lb;
  uwsgi_temp_path $tmp/lb; scgi_temp_path $tmp/lb;
  include $tmp/lb/gromo.conf;
}
CONF
    nginx -c "$tmp/lb/nginx.conf" -p "$tmp/lb"
    for i in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$LBPORT/health" && break; sleep 0.1; done
  }
  lb_stop() { kill "$(cat "$tmp/lb/nginx.pid")" 2>/dev/null || true; sleep 0.5; }
  measure() { # measure LABEL BASEURL
    wrk -t1 -c64 -d10s --latency "$2/health" > "$tmp/wrk.txt" 2>&1
    h="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt") req/s, p99 $(wrk_p99)"
    hb=$(awk '/Non-2xx|Socket errors/ {print}' "$tmp/wrk.txt" | tr -s ' ')
    wrk -t1 -c64 -d10s --latency -s "$tmp/one.lua" "$2/predict/demand" > "$tmp/wrk.txt" 2>&1
    p="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt") req/s, p99 $(wrk_p99)"
    pb=$(awk '/Non-2xx|Socket errors/ {print}' "$tmp/wrk.txt" | tr -s ' ')
    echo "scale: $1: /health $h${hb:+ ($hb)}; /predict/demand $p${pb:+ ($pb)}; load $(cut -d' ' -f1-3 /proc/loadavg)"
  }
  inst 1
  inst 2
  for run in 1 2 3; do
    measure "run $run, one instance, direct" "http://127.0.0.1:$IPORT1"
    lb_start "$IPORT1"
    measure "run $run, nginx, one instance" "http://127.0.0.1:$LBPORT"
    lb_stop
    lb_start "$IPORT1" "$IPORT2"
    measure "run $run, nginx, two instances" "http://127.0.0.1:$LBPORT"
    lb_stop
  done
  echo "scale: requests by instance: $(grep -c '"event":"request"' "$tmp/i1.log"), $(grep -c '"event":"request"' "$tmp/i2.log")"
  inst_stop 1
  inst_stop 2
  echo
}

# gromo import of a 1,000,000-row CSV into a fresh PostgreSQL database
# (binary COPY; the indexes of the empty table built once at the end), three
# runs, beside the same into SQLite.
bench_pgimport() {
  g=${GROMO_BIN:-./gromo}
  echo "== gromo import of 1,000,000 CSV rows: PostgreSQL against SQLite"
  "$g" generate 1000000 --seed 1 --db "$tmp/src.db" -q
  "$g" export --format csv --db "$tmp/src.db" -q -o "$tmp/sales.csv"
  rm -f "$tmp/src.db"*
  for run in 1 2 3; do
    "$GROMO_TEST_PG_BIN/createdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres "imp$run"
    t0=$(date +%s.%N)
    "$g" import "$tmp/sales.csv" --db "${GROMO_TEST_PG}imp$run" -q
    t1=$(date +%s.%N)
    echo "pgimport: postgresql run $run: $(calc "$t1 - $t0") s, $(calc "1000000 / ($t1 - $t0)") rows/s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$GROMO_TEST_PG_BIN/dropdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres "imp$run"
    rm -f "$tmp/imp.db"*
    t0=$(date +%s.%N)
    "$g" import "$tmp/sales.csv" --db "$tmp/imp.db" -q
    t1=$(date +%s.%N)
    echo "pgimport: sqlite run $run: $(calc "$t1 - $t0") s, $(calc "1000000 / ($t1 - $t0)") rows/s"
  done
  rm -f "$tmp/imp.db"* "$tmp/sales.csv"
  echo
}

# gromo train on the same 1,000,000 sample sales in SQLite and in
# PostgreSQL (docs/scaling.md): SQLite streams every sale, PostgreSQL
# aggregates the period cells on the server. Three alternating rounds, each
# the wall time and the peak resident memory (VmHWM, from GNU time's
# maximum resident set) of the whole command; then the median of each and
# their ratio (the goal: PostgreSQL within 1.5x SQLite). PGTRAIN_SALES sets
# the number of sales.
bench_pgtrain() {
  g=${GROMO_BIN:-./gromo}
  n=${PGTRAIN_SALES:-1000000}
  echo "== gromo train on $n sample sales: PostgreSQL (cells aggregated by the database) against SQLite (every sale)"
  "$g" generate "$n" --seed 1 --db "$tmp/train.db" -q
  "$g" export --format csv --db "$tmp/train.db" -q -o "$tmp/sales.csv"
  "$GROMO_TEST_PG_BIN/createdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres train
  "$g" import "$tmp/sales.csv" --db "${GROMO_TEST_PG}train" -q
  rm -f "$tmp/sales.csv"
  : > "$tmp/pgtrain.times"
  for run in 1 2 3; do
    for backend in sqlite postgresql; do
      if [ "$backend" = sqlite ]; then db="$tmp/train.db"; else db="${GROMO_TEST_PG}train"; fi
      t0=$(date +%s.%N)
      /usr/bin/time -f "%M" -o "$tmp/pgtrain.rss" "$g" train --db "$db" -q
      t1=$(date +%s.%N)
      s=$(calc "$t1 - $t0")
      hwm=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp/pgtrain.rss")
      echo "$backend $s $hwm" >> "$tmp/pgtrain.times"
      echo "pgtrain: $backend run $run: $s s, VmHWM $hwm MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
  med() { grep "^$1 " "$tmp/pgtrain.times" | sort -k"$2" -n | sed -n 2p | cut -d' ' -f"$2"; }
  sq=$(med sqlite 2); pg=$(med postgresql 2)
  echo "pgtrain: median sqlite $sq s ($(med sqlite 3) MiB), postgresql $pg s ($(med postgresql 3) MiB): postgresql/sqlite $(calc "$pg / $sq")x (goal <= 1.5x)"
  "$GROMO_TEST_PG_BIN/dropdb" -h 127.0.0.1 -p "$GROMO_TEST_PG_PORT" -U postgres train
  rm -f "$tmp/train.db"* "$tmp/pgtrain."*
  echo
}

# gromo import of 1,000,000 sample sales (JSONIMPORT_RECORDS) as a JSON
# array and as NDJSON (written by gromo export), three runs of each into a
# fresh SQLite store, with the peak resident memory of the import (when
# /usr/bin/time is there). GROMO_BIN is the gromo timed (default ./gromo);
# with GROMO_BIN_BEFORE set too, each run times that one first, then
# GROMO_BIN, on the same files, so that the two meet the same load.
bench_jsonimport() {
  g=${GROMO_BIN:-./gromo}
  n=${JSONIMPORT_RECORDS:-1000000}
  echo "== gromo import of $n records: JSON array and NDJSON"
  "$g" generate "$n" --seed 1 --db "$tmp/src.db" -q
  "$g" export --format json --db "$tmp/src.db" -q -o "$tmp/sales.json"
  "$g" export --format ndjson --db "$tmp/src.db" -q -o "$tmp/sales.ndjson"
  rm -f "$tmp/src.db"*
  echo "files: JSON $(du -m "$tmp/sales.json" | cut -f1) MiB, NDJSON $(du -m "$tmp/sales.ndjson" | cut -f1) MiB"
  for f in json ndjson; do
    for run in 1 2 3; do
      for which in before after; do
        bin=$g
        label=import
        if [ -n "${GROMO_BIN_BEFORE:-}" ]; then
          label=$which
          [ "$which" = before ] && bin=$GROMO_BIN_BEFORE
        elif [ "$which" = before ]; then
          continue
        fi
        rm -f "$tmp/imp.db"* "$tmp/rss"
        t0=$(date +%s.%N)
        if [ -x /usr/bin/time ]; then
          /usr/bin/time -f %M -o "$tmp/rss" "$bin" import "$tmp/sales.$f" --db "$tmp/imp.db" -q
        else
          "$bin" import "$tmp/sales.$f" --db "$tmp/imp.db" -q
        fi
        t1=$(date +%s.%N)
        stored=$("$bin" sales --db "$tmp/imp.db" --count)
        [ "$stored" = "$n" ] || { echo "jsonimport: $label stored $stored of $n records" >&2; exit 1; }
        rss=""
        [ -s "$tmp/rss" ] && rss=", peak RSS $(calc "$(cat "$tmp/rss") / 1024") MiB"
        echo "jsonimport: $f run $run: $label $(calc "$t1 - $t0") s, $(calc "$n / ($t1 - $t0)") records/s$rss"
      done
    done
  done
  rm -f "$tmp/imp.db"* "$tmp/sales.json" "$tmp/sales.ndjson"
  echo
}

case "$what" in
  generate) bench_generate ;;
  sales_add) bench_sales_add ;;
  health) bench_health ;;
  modes) bench_modes ;;
  ratelimit) bench_ratelimit ;;
  store) bench_store ;;
  gazetteer) $B/bench/bench_gazetteer ;;
  train) bench_train ;;
  goals) bench_goals ;;
  upload) bench_upload ;;
  predict) bench_predict ;;
  predict-ab) bench_predict_ab ;;
  regions) $B/bench/bench_cluster ;;
  insights) $B/bench/bench_insights "$tmp" ;;
  web) bench_web ;;
  hostile) bench_hostile ;;
  scale) bench_scale ;;
  pgimport) bench_pgimport ;;
  pgtrain) bench_pgtrain ;;
  jsonimport) bench_jsonimport ;;
  accuracy) bench_accuracy ;;
  all) bench_generate; bench_sales_add; bench_health; bench_modes; bench_ratelimit; bench_store; $B/bench/bench_gazetteer; bench_train; bench_goals; bench_upload; bench_predict; $B/bench/bench_cluster; $B/bench/bench_insights "$tmp"; bench_web; bench_hostile ;;
  *) echo "usage: $0 [all|generate|sales_add|health|modes|ratelimit|store|gazetteer|train|goals|upload|predict|regions|insights|web|hostile|scale|pgimport|pgtrain|jsonimport|accuracy]" >&2; exit 2 ;;
esac
