// Object-store steps run by the official Node client (nats@2.29.3, js.views.os), for the
// interop tests in tests/interop/. Usage: node interop_objects.mjs URL STEPS_JSON
// STEPS_JSON is a list of {op, bucket, name, file?, target?}; ops: put (bytes from file),
// get (sha-256 hex + size; bytes written to `out` when given), info, headers (the object's
// headers as {key: [values]}), link, delete, list.
// Prints one JSON line: a list of {op, name, ok, value | error}. Exits 0 unless it cannot
// connect; a failing step is reported, and later steps still run. NATS_USER / NATS_PASS or
// NATS_CREDS (a .creds file) in the environment are the credentials, when the server requires
// some; NATS_CA (with NATS_CERT / NATS_KEY for a client certificate) turns TLS on.
import nats from "nats";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const { connect, credsAuthenticator } = nats;
const [url, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);

function infoJson(info) {
  if (info === null || info === undefined) return null;
  return {
    name: info.name,
    bucket: info.bucket,
    nuid: info.nuid ?? "",
    size: info.size ?? 0,
    chunks: info.chunks ?? 0,
    digest: info.digest ?? "",
    deleted: Boolean(info.deleted),
    options: info.options ?? null,
  };
}

// Credentials, when the server asks for them, come from NATS_USER / NATS_PASS or NATS_CREDS.
const env = process.env;
const auth = env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASS ?? "" } : {};
if (env.NATS_CREDS) auth.authenticator = credsAuthenticator(readFileSync(env.NATS_CREDS));
if (env.NATS_CA) {
  auth.tls = { caFile: env.NATS_CA };
  if (env.NATS_CERT) Object.assign(auth.tls, { certFile: env.NATS_CERT, keyFile: env.NATS_KEY });
}
const nc = await connect({ servers: url, timeout: 5000, ...auth });
const js = nc.jetstream({ timeout: 10000 });
const stores = new Map();
async function store(bucket) {
  if (!stores.has(bucket)) stores.set(bucket, await js.views.os(bucket));
  return stores.get(bucket);
}

async function runStep(step) {
  const os = await store(step.bucket);
  switch (step.op) {
    case "put":
      return infoJson(await os.putBlob({ name: step.name }, new Uint8Array(readFileSync(step.file))));
    case "get": {
      const data = await os.getBlob(step.name);
      if (data === null) return null;
      if (step.out) writeFileSync(step.out, data);
      return { size: data.length, sha256: createHash("sha256").update(data).digest("hex") };
    }
    case "info":
      return infoJson(await os.info(step.name));
    case "headers": {
      const info = await os.info(step.name);
      return info === null ? null : (info.headers?.toRecord?.() ?? {});
    }
    case "link": {
      const targetStore = await store(step.target_bucket ?? step.bucket);
      const target = await targetStore.info(step.target);
      return infoJson(await os.link(step.name, target));
    }
    case "delete":
      return await os.delete(step.name);
    case "list":
      return (await os.list()).map(infoJson);
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

const results = [];
for (const step of steps) {
  try {
    results.push({ op: step.op, name: step.name, ok: true, value: await runStep(step) });
  } catch (err) {
    results.push({ op: step.op, name: step.name, ok: false, error: String(err?.message ?? err) });
  }
}
console.log(JSON.stringify(results));
await nc.close();
