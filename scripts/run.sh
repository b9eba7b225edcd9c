#!/bin/sh
# `make run`: a store with sample data and trained models on first start,
# then the server.
#   GROMO_DB      store (default var/gromo.db)
#   GROMO_PORT    port (default 8080)
#   GROMO_SAMPLE  records generated into an empty store (default 200000)
set -eu
cd "$(dirname "$0")/.."
DB=${GROMO_DB:-var/gromo.db}
PORT=${GROMO_PORT:-8080}
SAMPLE=${GROMO_SAMPLE:-200000}
case "$DB" in
  postgres://*|postgresql://*) ;;
  *) mkdir -p "$(dirname "$DB")" ;;
esac
rows=$(./gromo sales --count --db "$DB")
if [ "$rows" = 0 ]; then
  echo "first start: generating $SAMPLE sample sales into $DB"
  ./gromo generate "$SAMPLE" --seed 42 --db "$DB"
fi
if ! ./gromo models list --db "$DB" | grep -q '^[0-9]'; then
  echo "training the demand models and regions on the stored sales"
  ./gromo train --db "$DB" || echo "training failed: the server starts without models (POST /models/train retries)"
fi
key_line="  admin key: (kept from an earlier start; make another with: ./gromo keys create --role admin --name NAME --db $DB)"
if ! ./gromo keys list --db "$DB" | grep -Eq '^[0-9]+ +[^ ]+ +admin .* -$'; then
  key=$(./gromo keys create --role admin --name admin --db "$DB" 2>/dev/null | tail -n 1)
  key_line="  admin key: $key   (shown once: keep it)"
  KEY=$key
fi
echo
echo "Gromo Demand Analyzer"
echo "  URL:       http://127.0.0.1:$PORT/"
echo "$key_line"
echo "  try:       curl http://127.0.0.1:$PORT/health"
echo "             curl -H \"X-API-Key: ${KEY:-<admin key>}\" 'http://127.0.0.1:$PORT/sales?pincode=400001&limit=5'"
echo "             curl -H \"X-API-Key: ${KEY:-<admin key>}\" -H 'Content-Type: application/json' \\"
echo "               -d '{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\"}' http://127.0.0.1:$PORT/predict/demand"
echo "             curl -H \"X-API-Key: ${KEY:-<admin key>}\" http://127.0.0.1:$PORT/regions"
echo "  store:     $DB ($(./gromo sales --count --db "$DB") sales)"
echo "  stop:      Ctrl-C (in-flight requests finish first)"
echo
exec ./gromo serve --db "$DB" --port "$PORT"
