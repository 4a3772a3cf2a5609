// Object store round trip with the official Node client (nats@2.29.3, js.views.os), run by
// tests/jetstream/test_node_object_store.py against Orlop and nats-server.
// Usage: node os_roundtrip.mjs URL SIZE
// Steps: put a SIZE-byte object and an empty one, get both back, link to the big one and get
// through the link, list, watch (history, then live updates), delete, get after delete.
// Prints one JSON object with what each step observed; exits non-zero on an unexpected error.
import nats from "nats";
import { createHash } from "node:crypto";

const { connect } = nats;
const [url, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);

function sha(data) {
  return createHash("sha256").update(data).digest("hex");
}

function pattern(n) {
  const data = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    data[i] = x >> 16;
  }
  return data;
}

async function nextWithin(iter, ms) {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("watch timeout")), ms));
  return Promise.race([iter.next(), timeout]);
}

const out = {};
const nc = await connect({ servers: url, timeout: 5000 });
const js = nc.jetstream({ timeout: 20000 });
const os = await js.views.os("nodeos");

const big = pattern(size);
out.put = await os.putBlob({ name: "big.bin" }, big);
out.putEmpty = await os.putBlob({ name: "empty" }, new Uint8Array(0));

let t0 = Date.now();
const gotBig = await os.getBlob("big.bin");
out.getMillis = Date.now() - t0;
out.get = { size: gotBig.length, sha: sha(gotBig), want: sha(big) };
const gotEmpty = await os.getBlob("empty");
out.getEmpty = { size: gotEmpty.length };

const target = await os.info("big.bin");
out.link = await os.link("link.bin", target);
const viaLink = await os.getBlob("link.bin");
out.getLink = { size: viaLink.length, sha: sha(viaLink) };

out.list = (await os.list()).map((i) => i.name).sort();

const watcher = await os.watch({ includeHistory: true });
const iter = watcher[Symbol.asyncIterator]();
const history = [];
for (;;) {
  const { value } = await nextWithin(iter, 10000);
  if (value === null) break;
  history.push(value.name);
}
out.watchHistory = history.sort();
await os.putBlob({ name: "late.txt" }, new TextEncoder().encode("late"));
out.watchUpdate = (await nextWithin(iter, 10000)).value.name;

out.delete = await os.delete("big.bin");
const deleted = (await nextWithin(iter, 10000)).value;
out.watchDelete = { name: deleted.name, deleted: Boolean(deleted.deleted) };
watcher.stop();
out.getAfterDelete = await os.getBlob("big.bin");
out.listAfterDelete = (await os.list()).map((i) => i.name).sort();

await nc.close();
console.log(JSON.stringify(out));
