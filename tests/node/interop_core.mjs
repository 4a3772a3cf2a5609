// A core pub/sub/request peer run by the official Node client (nats@2.29.3), driven by
// tests/interop/test_interop_core.py. Usage: node interop_core.mjs URL
// 1. subscribes interop.to_node (expects 3 messages) and answers requests on interop.node.req
//    with "node:" + payload, then prints "READY";
// 2. after the 3 messages arrive: publishes 2 messages to interop.to_py (the second with a
//    header X-From: node) and requests interop.py.req with "hello";
// 3. prints one JSON line {received: [{data, header}], reply} and waits for "bye" on
//    interop.node.bye before closing (so the Python side's request to it can complete).
import nats from "nats";

const { connect, StringCodec, headers } = nats;
const sc = StringCodec();
const [url] = process.argv.slice(2);
const nc = await connect({ servers: url, timeout: 5000 });

const received = [];
let gotAll;
const allThree = new Promise((resolve) => (gotAll = resolve));
const inbound = nc.subscribe("interop.to_node", {
  callback: (_err, msg) => {
    received.push({ data: sc.decode(msg.data), header: msg.headers?.get("X-From") ?? null });
    if (received.length === 3) gotAll();
  },
});
nc.subscribe("interop.node.req", {
  callback: (_err, msg) => msg.respond(sc.encode("node:" + sc.decode(msg.data))),
});
const bye = nc.subscribe("interop.node.bye", { max: 1 });
await nc.flush();
console.log("READY");

await allThree;
nc.publish("interop.to_py", sc.encode("from-node-1"));
const h = headers();
h.set("X-From", "node");
nc.publish("interop.to_py", sc.encode("from-node-2"), { headers: h });
const reply = await nc.request("interop.py.req", sc.encode("hello"), { timeout: 5000 });
console.log(JSON.stringify({ received, reply: sc.decode(reply.data) }));
for await (const _m of bye) break;
inbound.unsubscribe();
await nc.drain();
