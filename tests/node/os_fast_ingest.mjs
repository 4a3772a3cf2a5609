// nats.js v3 (@nats-io/obj 3.4.0) object store puts through fast ingest (ADR-50).
//
// usage: node os_fast_ingest.mjs <url> <bucket> <size> [<size> ...]
// Creates <bucket> with { allowBatched: true } (nats.js's opt-in: it needs INFO api_lvl >= 4 and
// a stream that echoes allow_batched), puts one object "obj-<size>" of each size (bytes
// i*31 % 251), and prints one JSON line: the server's api_lvl, the bucket's allow_batched, and per
// object its info (size, chunks, digest) and the sha256 of what was put. It also checks that
// opening an existing bucket without allow_batched for batched puts is refused.
import { connect } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { jetstreamManager } from "@nats-io/jetstream";
import { createHash } from "node:crypto";

const [url, bucket, ...sizes] = process.argv.slice(2);
const nc = await connect({ servers: url });
const out = { api_lvl: nc.info?.api_lvl ?? 0, objects: [] };
try {
  const objm = new Objm(nc);
  const os = await objm.create(bucket, { allowBatched: true });
  const jsm = await jetstreamManager(nc);
  out.allow_batched = (await jsm.streams.info(`OBJ_${bucket}`)).config.allow_batched === true;
  for (const s of sizes) {
    const size = Number(s);
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31) % 251;
    const info = await os.putBlob({ name: `obj-${size}` }, data);
    out.objects.push({
      name: info.name,
      size: info.size,
      chunks: info.chunks,
      digest: info.digest,
      sha256: createHash("sha256").update(data).digest("hex"),
    });
  }
  // A bucket without allow_batched cannot be opened for batched puts.
  await objm.create(`${bucket}plain`);
  try {
    await objm.open(`${bucket}plain`, { check: true, allowBatched: true });
    out.plain = "opened";
  } catch (err) {
    out.plain = err.message;
  }
} finally {
  await nc.close();
}
console.log(JSON.stringify(out));
