// A DynamoDB client application on the stock AWS SDK for JavaScript v3
// (@aws-sdk/client-dynamodb from npm), as a team would write one: one item
// after another at about 20 per second; with FAILOVER=1 it moves to the next
// region after a failure and tries its primary again after BACK_AFTER_S. It
// prints one JSON outcome line per request; /health on HEALTH_PORT answers
// 200 while its latest request succeeded. NODE_PATH finds the SDK.
"use strict";
const http = require("http");
const { DynamoDBClient, GetItemCommand } = require("@aws-sdk/client-dynamodb");

const regions = process.env.FAULTLINE_REGIONS.split(",");
const table = process.env.FAULTLINE_TABLE;
const items = Number(process.env.FAULTLINE_ITEMS || "100");
const failover = process.env.FAILOVER === "1";
const backAfter = Number(process.env.BACK_AFTER_S || "1") * 1000;
// Stock retries (the SDK's standard mode, 3 attempts); a request timeout as
// services set one.
const clients = Object.fromEntries(regions.map((r) => [r, new DynamoDBClient({ region: r,
  requestHandler: { requestTimeout: 1000, connectionTimeout: 1000 } })]));
let healthy = true;

if (process.env.HEALTH_PORT) {
  http.createServer((req, res) => { res.writeHead(healthy ? 200 : 503); res.end(); })
    .listen(Number(process.env.HEALTH_PORT), "127.0.0.1");
}

let current = 0, awaySince = 0, i = 0;
async function loop() {
  for (;;) {
    if (current !== 0 && Date.now() - awaySince >= backAfter) current = 0;
    const region = regions[current];
    const start = Date.now();
    let ok = true, error = "";
    try {
      await clients[region].send(new GetItemCommand({ TableName: table,
        Key: { pk: { S: "item-" + String(i % items).padStart(4, "0") } } }));
    } catch (e) {
      ok = false;
      error = `${e.name}: ${e.code || ""} ${e.message}`;
    }
    const end = Date.now();
    healthy = ok;
    process.stdout.write(JSON.stringify({ time: end / 1000, operation: "GetItem", region, ok, error,
      latency_ms: end - start }) + "\n");
    if (!ok && failover && regions.length > 1) { current = (current + 1) % regions.length; awaySince = Date.now(); }
    i++;
    await new Promise((r) => setTimeout(r, Math.max(0, 50 - (end - start))));
  }
}
process.on("SIGTERM", () => process.exit(0));
loop();
