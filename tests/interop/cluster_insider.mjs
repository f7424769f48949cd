// What an insider holding one node's files (its route key, the route
// secret, its server.seed, its store) cannot do to the bus
// (dev/threat-model.md, the third cluster pass):
// - make a store with a CA of its own the bus's state by starting it first:
//   a node offers its store as the log's base only when its CA is the
//   route CA (a guard against a wrong data directory: an insider who
//   pastes the bus's CA certificate into its store, or writes the log,
//   gets past it; dev/threat-model.md);
// - be dialled by a node joining with route-pins from before its
//   revocation: a joining node dials no route;
// - delete the bus log with the node's log user (derived from server.seed);
// - close a healthy cluster for good with forged reports on
//   unibus.inforce.<node>: a node's latest report replaces the one before,
//   and a name counts once heard for a while.
// usage: node cluster_insider.mjs MEMBERSHIPD UNIBUS SIGTOOL
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator } from "nats";
import { Bus, Node, checker, delay, meshOf, mkdirPrivate, peer, rogueNode, runScenario, until } from "./cluster_lib.mjs";

const [membershipd, unibus, sigtool] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-insider-"));
const t = checker();
const nodes = [];
const seedOf = (who) => join(mkdirPrivate(join(work, "home", who)), "peer.seed");
const keygen = (who) => execFileSync(unibus, ["keygen", "--out", seedOf(who)], { encoding: "utf8" }).trim();

async function canLogIn(url, who) {
  try { const nc = await peer(url, seedOf(who)); await nc.close(); return true; } catch { return false; }
}

// Nodes routed to each other, started in order.
async function start(bus, names, extra = []) {
  const mesh = await meshOf(bus, names, { extra });
  nodes.push(...mesh);
  for (const node of mesh) await node.start();
  return mesh;
}

async function foreignBase(bus) {
  const mallory = keygen("mallory");
  // r1's store holds a CA and a user of its own, not the route CA; b1's is
  // a copy of the bus's; j1 joins empty.  r1 and j1 start first.
  mkdirPrivate(bus.dataDir("r1"));
  bus.run(["ca", "init", "--trust-domain", "rogue.test", "--data-dir", bus.dataDir("r1")]);
  bus.run(["user", "add", "mallory", mallory, "--data-dir", bus.dataDir("r1")]);
  bus.emptyStore("j1");
  bus.seedStore("b1");
  const [r1, j1, b1] = await start(bus, ["r1", "j1", "b1"]);
  // r1 reaches the log's end before b1's base is there (it waits) or after
  // (it refuses it): which one is a race; offering its own is never right.
  t.check("the joiner takes the bus's base, which the node holding it offered",
    Boolean(await until(() => /msg=bus_log_based /.test(j1.log()), 60000, 100)) &&
    /msg=bus_log_base_offered /.test(b1.log()), j1.log().slice(-1500));
  t.check("the node holding another CA never offered its store, and refuses the bus's (it holds rows of its own)",
    !/msg=bus_log_base_offered /.test(r1.log()) &&
    Boolean(await until(() => /msg=bus_log_diverged /.test(r1.log()), 30000, 100)), r1.log().slice(-1500));
  t.check("the rogue store's user is admitted nowhere",
    !(await canLogIn(j1.nats, "mallory")) && !(await canLogIn(b1.nats, "mallory")) && !(await canLogIn(r1.nats, "mallory")));
  for (const n of [r1, j1, b1]) await n.stop();
}

// s1 was a node when j2's certificate was issued (j2's route-pins pin it)
// and is revoked since; its holder runs a nats-server with s1's key that
// takes any route.  j2 joins listing it: it must not dial it (the dial
// would hand it the route secret, and the route a state to feed j2).
async function stalePins(bus) {
  bus.run(["cert", "revoke", "s1", "--data-dir", bus.dataDir("n1")]);
  const rogue = await rogueNode(bus, work, "s1", { certDir: bus.certDir("s1") });
  bus.emptyStore("j2");
  const j2 = new Node(bus, "j2", { ports: await Node.ports(), routes: [rogue.cluster] });
  nodes.push(j2);
  await j2.start();
  await delay(6000); // nats-server dials its routes at once, then every second
  t.check("a joining node dials no route, not even to a key its route-pins name", (await j2.routes()) === 0,
    `routes=${await j2.routes()}`);
  rogue.proc.kill("SIGKILL");
  await j2.stop();
}

async function forgedReports(bus) {
  bus.run(["user", "add", "bob", keygen("bob"), "--data-dir", bus.dataDir("n1")]);
  bus.emptyStore("n2");
  bus.emptyStore("n3");
  const maxStale = 3;
  const three = await start(bus, ["n1", "n2", "n3"], ["--max-stale", String(maxStale)]);
  const allAdmit = async () => (await Promise.all(three.map((n) => canLogIn(n.nats, "bob")))).every(Boolean);
  t.check("the three nodes admit bob", Boolean(await until(allAdmit, 90000, 500)));
  // n3's CTRL user, derived from its server.seed as membershipd does.
  const seed = execFileSync(sigtool, ["derive", join(bus.dataDir("n3"), "server.seed"), "nats-log"], { encoding: "utf8" })
    .trim();
  const nc = await connect({ servers: three[2].nats, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
  const deleted = await nc.request("$JS.API.STREAM.DELETE.UNIBUS_LOG", "", { timeout: 2000 })
    .then((m) => m.string(), (e) => `refused: ${e.message}`);
  t.check("the node's log user cannot delete the bus log", !/"success":\s*true/.test(deleted), deleted);
  const forge = () => nc.publish("unibus.inforce.n1", JSON.stringify({ seq: 1e15, time_ms: Date.now() }));
  forge();
  await nc.flush();
  await delay((maxStale + 5) * 1000);
  t.check("one forged report closes no node", await allAdmit());
  // Sent without pause, forged reports are the insider's to keep nodes
  // closed (dev/threat-model.md); once they stop, nothing of them lasts.
  const flood = setInterval(forge, 100);
  await delay((maxStale + 5) * 1000);
  clearInterval(flood);
  await nc.close();
  t.check("once forged reports stop, every node admits peers again", Boolean(await until(allAdmit, 20000, 500)),
    three.map((n) => (n.log().match(/msg=cluster_peers_closed.*/) || [""])[0].slice(0, 200)).join(" | "));
  bus.run(["user", "add", "carol", keygen("carol"), "--data-dir", bus.dataDir("n2")]);
  t.check("and writes go on: a user added on n2 logs in on every node", Boolean(await until(async () =>
    (await Promise.all(three.map((n) => canLogIn(n.nats, "carol")))).every(Boolean), 15000, 500)));
  // Purging what a compaction would (allowed to the log user: compaction
  // needs it) leaves no base of this log at the head: every node says the
  // log was tampered with, not that it fell behind a compaction.
  const purger = await connect({ servers: three[2].nats, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
  await purger.request("$JS.API.STREAM.PURGE.UNIBUS_LOG", JSON.stringify({ seq: 1e9 }), { timeout: 5000 });
  await purger.close();
  t.check("a purge that is no compaction is called tampering on every node", Boolean(await until(() =>
    three.every((n) => /msg=bus_log_diverged .*not a compaction/.test(n.log())), 20000, 200)),
    three.map((n) => (n.log().match(/msg=bus_log_diverged.*/) || [""])[0].slice(0, 200)).join(" | "));
}

await runScenario(t, nodes, work, async () => {
  const bus = new Bus(membershipd, work, "insider");
  bus.initCa("n1");
  for (const n of ["r1", "j1", "b1", "n1", "n2", "n3", "s1", "j2"]) bus.issue(n);
  await foreignBase(bus);
  await stalePins(bus);
  await forgedReports(bus);
});
