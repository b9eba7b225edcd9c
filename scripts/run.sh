#!/bin/sh
# `make run`: a store with sample data and trained models on first start,
# then the server, with a link that signs in to the dashboard.
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
# A sign-in link for the dashboard at every start, the way Jupyter prints
# its token URL: a new admin key named make-run-TIME, the previous ones
# revoked (their links stop working). The key is in the link's fragment,
# which never reaches the server or its logs.
for old in $(./gromo keys list --db "$DB" | awk '$2 ~ /^make-run-/ && $NF == "-" {print $2}'); do
  ./gromo keys revoke "$old" --db "$DB" >/dev/null 2>&1 || true
done
KEY=$(./gromo keys create --role admin --name "make-run-$(date -u +%Y%m%dT%H%M%S)" --db "$DB" 2>/dev/null | tail -n 1)
URL="http://127.0.0.1:$PORT"
echo
echo "Gromo Demand Analyzer"
echo "  dashboard: $URL/#key=$KEY"
echo "             (signs you in as admin; a new key at every start, the last one revoked)"
echo "  API docs:  $URL/docs"
echo "  admin key: $KEY"
echo "  try:       curl $URL/health"
echo "             curl -H \"X-API-Key: $KEY\" '$URL/sales?pincode=400001&limit=5'"
echo "             curl -H \"X-API-Key: $KEY\" -H 'Content-Type: application/json' \\"
echo "               -d '{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\"}' $URL/predict/demand"
echo "             curl -H \"X-API-Key: $KEY\" '$URL/insights/pincodes?product=loan&limit=5'"
echo "  store:     $DB ($(./gromo sales --count --db "$DB") sales)"
echo "  stop:      Ctrl-C (in-flight requests finish first)"
echo
exec ./gromo serve --db "$DB" --port "$PORT"
