#!/bin/sh
# A DynamoDB client application that is a shell loop around the stock AWS
# CLI (Debian's awscli): one `aws dynamodb get-item` after another, each its
# own process (so a new connection and a DNS lookup each time), with the
# CLI's own retries. With FAILOVER=1 a failed call is followed by calls to
# the next region for BACK_AFTER_S. One JSON outcome line per call, written
# to the events pipe faultline names in FAULTLINE_EVENTS (the CLI's own
# output goes to stdout, as usual).
set -u
primary=${FAULTLINE_REGIONS%%,*}
rest=${FAULTLINE_REGIONS#*,}
secondary=${rest%%,*}
region=$primary
away_until=0
i=0
trap 'exit 0' TERM INT
while :; do
  now=$(date +%s)
  if [ "$region" != "$primary" ] && [ "$now" -ge "$away_until" ]; then region=$primary; fi
  start=$(date +%s.%N)
  if out=$(aws dynamodb get-item --region "$region" --table-name "$FAULTLINE_TABLE" \
      --key "{\"pk\":{\"S\":\"item-$(printf %04d $((i % ${FAULTLINE_ITEMS:-100})))\"}}" \
      --cli-connect-timeout 1 --cli-read-timeout 1 --output json 2>&1); then
    ok=true; err=""
  else
    ok=false; err=$(printf %s "$out" | tr -d '"\\\n' | tail -c 300)
  fi
  end=$(date +%s.%N)
  printf '{"time":%s,"operation":"GetItem","region":"%s","ok":%s,"error":"%s","latency_ms":%s}\n' \
    "$end" "$region" "$ok" "$err" "$(echo "($end - $start) * 1000" | bc)" > "$FAULTLINE_EVENTS"
  if [ "$ok" = false ] && [ "${FAILOVER:-0}" = 1 ] && [ -n "$secondary" ] && [ "$secondary" != "$primary" ]; then
    if [ "$region" = "$primary" ]; then region=$secondary; else region=$primary; fi
    away_until=$(( $(date +%s) + ${BACK_AFTER_S:-1} ))
  fi
  i=$((i + 1))
done
