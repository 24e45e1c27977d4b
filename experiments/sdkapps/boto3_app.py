"""A DynamoDB client application on stock boto3 (Debian's python3-boto3), as a
team would write one: it reads one item after another at about 20 per second,
and with FAILOVER=1 moves to the next region after a failure and tries its
primary again after BACK_AFTER_S. It knows nothing of faultline beyond the
environment every application gets (FAULTLINE_REGIONS, FAULTLINE_TABLE) and
prints one JSON outcome line per request; /health on HEALTH_PORT answers 200
while its latest request succeeded."""
import datetime, http.server, json, os, sys, threading, time

import boto3
from botocore.config import Config

regions = os.environ["FAULTLINE_REGIONS"].split(",")
table = os.environ["FAULTLINE_TABLE"]
items = int(os.environ.get("FAULTLINE_ITEMS", "100"))
failover = os.environ.get("FAILOVER") == "1"
back_after = float(os.environ.get("BACK_AFTER_S", "1"))
# Stock retries (botocore's legacy mode: up to 4 retries with back-off) and
# short timeouts, as services set them.
config = Config(connect_timeout=1, read_timeout=1)
clients = {r: boto3.client("dynamodb", region_name=r, config=config) for r in regions}
healthy = True


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if healthy else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


if os.environ.get("HEALTH_PORT"):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["HEALTH_PORT"])), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()

current, away_since, i = 0, 0.0, 0
while True:
    if current != 0 and time.time() - away_since >= back_after:
        current = 0  # try the primary again
    region = regions[current]
    start = time.time()
    try:
        clients[region].get_item(TableName=table, Key={"pk": {"S": "item-%04d" % (i % items)}})
        ok, error = True, ""
    except Exception as e:  # botocore's exceptions, after its own retries
        ok, error = False, "%s: %s" % (type(e).__name__, e)
    end = time.time()
    healthy = ok
    print(json.dumps({"time": end, "operation": "GetItem", "region": region, "ok": ok, "error": error,
                      "latency_ms": round((end - start) * 1000, 3)}), flush=True)
    if not ok and failover and len(regions) > 1:
        current, away_since = (current + 1) % len(regions), time.time()
    i += 1
    time.sleep(max(0.0, 0.05 - (end - start)))
