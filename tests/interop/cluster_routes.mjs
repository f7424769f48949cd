// Routes between membershipd nodes (dev/cluster.md): real nodes on
// loopback with route mutual TLS, the route secret and pinned keys; nats.js
// peers.  Cross-node delivery in the 2- and 3-node shapes; a node with the
// wrong secret, one with another CA's certificate and one with a revoked
// certificate get no route, seen from both sides; no anonymous login on any
// node; and the reload trap (FACTS.md, trap 1): after a connected peer on
// one node is revoked, or removed from a room, the other peers there still
// receive what is published on another node, on old and new
// subscriptions.  Keep that last test forever.
// usage: node cluster_routes.mjs MEMBERSHIPD UNIBUS
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, Node, anonymousAnswer, checker, collect, delay, mkdirPrivate, peer, until } from "./cluster_lib.mjs";

const [membershipd, unibus] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-cluster-"));
const t = checker();
const nodes = [];
const peers = [];

const home = (who) => mkdirPrivate(join(work, "home", who));
const cli = (who, url, args) => execFileSync(unibus, args, {
  env: { ...process.env, HOME: home(who), UNIBUS_URL: url }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
}).trim();
const seedOf = (who) => join(home(who), "peer.seed");

async function sendAll(nc, subject, tag, n) {
  for (let i = 0; i < n; i++) nc.publish(subject, `${tag}-${i}`);
  await nc.flush();
}
const received = (c, tag) => c.got.filter((m) => m.startsWith(`${tag}-`)).length;

// Publishes n messages tagged tag from nc and waits until each collector
// has them all (or a few seconds pass); true when every one did.
async function delivered(nc, subject, tag, n, collectors) {
  await sendAll(nc, subject, tag, n);
  return Boolean(await until(() => collectors.every((c) => received(c, tag) === n), 5000, 50));
}

try {
  const bus = new Bus(membershipd, work);
  bus.initCa("n1");
  for (const n of ["n1", "n2", "n3", "wrongsecret", "revoked"]) bus.issue(n);
  const foreign = new Bus(membershipd, mkdirPrivate(join(work, "foreign")), "other");
  foreign.initCa("f1");
  foreign.issue("f1");
  bus.run(["cert", "revoke", "revoked", "--data-dir", bus.dataDir("n1")]);

  const users = {};
  users.alice = cli("alice", "http://127.0.0.1:1", ["keygen"]);
  for (const who of ["bob", "carol", "dave", "frank"])
    users[who] = cli(who, "http://127.0.0.1:1", ["keygen", "--out", seedOf(who)]);
  for (const [who, key] of Object.entries(users))
    bus.run(["user", "add", who, key, "--data-dir", bus.dataDir("n1")]);

  const ports = {};
  for (const n of ["n1", "n2", "n3", "wrongsecret", "revoked", "f1"]) ports[n] = await Node.ports();
  const routesTo = (...names) => names.map((n) => ports[n].cluster);
  const make = (name, others, opts = {}) => {
    const node = new Node(opts.bus || bus, name, { ports: ports[name], routes: routesTo(...others), ...opts });
    nodes.push(node);
    return node;
  };

  const n1 = await make("n1", ["n2", "n3"]).start();
  const room = cli("alice", n1.http, ["room", "create", "lobby", "--cleartext"]);
  for (const who of ["bob", "carol", "dave", "frank"]) cli("alice", n1.http, ["room", "add", "lobby", users[who]]);
  const subject = `unibus.room.${room}.msg`;
  for (const n of ["n2", "n3", "wrongsecret"]) bus.seedStore(n);

  // Two nodes.
  const n2 = await make("n2", ["n1", "n3"]).start();
  t.check("two nodes: a route each way", await until(async () => (await n1.routes()) === 1 && (await n2.routes()) === 1),
    `n1=${await n1.routes()} n2=${await n2.routes()}`);
  const bobOn2 = await peer(n2.nats, seedOf("bob"));
  const carolOn1 = await peer(n1.nats, seedOf("carol"));
  peers.push(bobOn2, carolOn1);
  const bobGets = collect(bobOn2, subject);
  await bobOn2.flush();
  await delay(200); // the subscription's interest crosses the route
  t.check("two nodes: published on n1, received on n2", await delivered(carolOn1, subject, "two", 10, [bobGets]),
    `got ${received(bobGets, "two")}`);

  // Three nodes.
  const n3 = await make("n3", ["n1", "n2"]).start();
  t.check("three nodes: two routes on each",
    await until(async () => [await n1.routes(), await n2.routes(), await n3.routes()].every((r) => r === 2)),
    `n1=${await n1.routes()} n2=${await n2.routes()} n3=${await n3.routes()}`);
  const daveOn3 = await peer(n3.nats, seedOf("dave"));
  peers.push(daveOn3);
  const daveGets = collect(daveOn3, subject);
  await daveOn3.flush();
  await delay(200);
  t.check("three nodes: published on n1, received on n3 and n2",
    await delivered(carolOn1, subject, "three", 10, [daveGets, bobGets]),
    `n3 got ${received(daveGets, "three")}, n2 got ${received(bobGets, "three")}`);

  for (const node of [n1, n2, n3])
    t.check(`${node.name}: an anonymous login is refused`, /Authorization Violation/.test(await anonymousAnswer(node.ports.nats)));

  // Nodes that must get no route: seen from both sides.
  const wrong = join(work, "wrong.secret");
  execFileSync("sh", ["-c", `umask 077; head -c 48 /dev/urandom | base64 > ${wrong}`]);
  const intruders = [
    ["a node with the wrong secret", make("wrongsecret", ["n1", "n2", "n3"], { secret: wrong })],
    ["a node with another CA's certificate", make("f1", ["n1", "n2", "n3"], { bus: foreign, clusterName: bus.name })],
    ["a node with a revoked certificate", make("revoked", ["n1", "n2", "n3"])],
  ];
  mkdirPrivate(bus.dataDir("revoked")); // a store that does not know: the others do
  for (const [, node] of intruders) await node.start();
  await delay(3000); // several route attempts each way
  for (const [what, node] of intruders) {
    t.check(`${what}: has no route`, (await node.routes()) === 0, `routes=${await node.routes()}`);
  }
  t.check("the bus keeps its own routes only",
    [await n1.routes(), await n2.routes(), await n3.routes()].every((r) => r === 2),
    `n1=${await n1.routes()} n2=${await n2.routes()} n3=${await n3.routes()}`);
  t.check("n1 refused the unpinned keys", /certificate not pinned/.test(n1.log()));
  t.check("n1 refused the wrong secret", /authentication error|Authorization Violation/.test(n1.log()));
  for (const [, node] of intruders) await node.stop();

  // The reload trap (FACTS.md, trap 1): carol is n1's only subscriber to
  // a subject and is revoked there; frank, on n1 too, must then receive
  // what bob publishes on n2, on a subscription made after the revocation.
  const frankOn1 = await peer(n1.nats, seedOf("frank"));
  peers.push(frankOn1);
  const trap = `unibus.room.${room}.trap`;
  const frankShared = collect(frankOn1, subject); // a subject he shares with carol
  const carolGets = collect(carolOn1, trap);
  await carolOn1.flush();
  await frankOn1.flush();
  await delay(200);
  t.check("trap: before, carol on n1 receives from n2", await delivered(bobOn2, trap, "before", 10, [carolGets]));
  bus.run(["user", "revoke", "carol", "--data-dir", bus.dataDir("n1")]);
  t.check("trap: the revoked peer's connection is closed", await until(() => carolOn1.isClosed(), 10000, 50));
  const frankAfter = collect(frankOn1, trap);
  await frankOn1.flush();
  await delay(200);
  t.check("trap: a subscription on n1 made after the revocation receives from n2",
    await delivered(bobOn2, trap, "after-revoke", 10, [frankAfter]), `got ${received(frankAfter, "after-revoke")}`);
  t.check("trap: a subscriber on n1 that shared carol's subject still receives from n2",
    await delivered(bobOn2, subject, "shared", 10, [frankShared]), `got ${received(frankShared, "shared")}`);

  // The same when n1's only subscriber to a subject is removed from the room.
  const daveOn1 = await peer(n1.nats, seedOf("dave"));
  peers.push(daveOn1);
  const trap2 = `unibus.room.${room}.trap2`;
  const daveOn1Gets = collect(daveOn1, trap2);
  await daveOn1.flush();
  await delay(200);
  t.check("trap: before the removal, dave on n1 receives", await delivered(bobOn2, trap2, "pre-remove", 10, [daveOn1Gets]));
  cli("alice", n1.http, ["room", "remove", "lobby", users.dave]);
  const frankAfterRemoval = collect(frankOn1, trap2);
  await frankOn1.flush();
  await delay(200);
  t.check("trap: after dave's removal from the room, a new subscription on n1 receives from n2",
    await delivered(bobOn2, trap2, "post-remove", 10, [frankAfterRemoval]),
    `got ${received(frankAfterRemoval, "post-remove")}`);
  t.check("trap: dave got nothing after his removal", received(daveOn1Gets, "post-remove") === 0);
} catch (e) {
  t.check("the scenario ran", false, String(e && e.stack || e));
} finally {
  for (const p of peers) await p.close().catch(() => {});
  for (const n of nodes) await n.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed === 0 && t.passed > 0 ? 0 : 1);
