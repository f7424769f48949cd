// What an insider holding one node's files (its route key, the route
// secret, its server.seed, its store) cannot do to the bus
// (dev/threat-model.md, the third cluster pass):
// - make a store with a CA of its own the bus's state: a node offers its
//   store as the log's base only when its CA is the route CA (a joiner
//   also refuses any other base; an unmodified node cannot offer one, so
//   that side is unit.test_store_log's);
// - close a healthy cluster with forged reports on unibus.inforce.<node>:
//   a report beyond the stream's last entry is not counted, and a node's
//   latest report replaces the one before.
// usage: node cluster_insider.mjs MEMBERSHIPD UNIBUS SIGTOOL
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator } from "nats";
import { Bus, Node, checker, delay, mkdirPrivate, peer, until } from "./cluster_lib.mjs";

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
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await Node.ports()])));
  const started = [];
  for (const name of names) {
    const routes = names.filter((o) => o !== name).map((o) => ports[o].cluster);
    const node = new Node(bus, name, { ports: ports[name], routes, extra });
    nodes.push(node);
    started.push(await node.start());
  }
  return started;
}

async function foreignBase(bus) {
  const mallory = keygen("mallory");
  // r1's store holds a CA and a user of its own, not the route CA.
  mkdirPrivate(bus.dataDir("r1"));
  bus.run(["ca", "init", "--trust-domain", "rogue.test", "--data-dir", bus.dataDir("r1")]);
  bus.run(["user", "add", "mallory", mallory, "--data-dir", bus.dataDir("r1")]);
  bus.emptyStore("j1");
  const [r1, j1] = await start(bus, ["r1", "j1"]);
  t.check("a node whose store holds another CA waits for the bus's base instead of offering its own",
    Boolean(await until(() => /msg=bus_log_waiting .*--route-tls-ca/.test(r1.log()), 30000, 100)), r1.log().slice(-1500));
  await delay(8000); // what an offer took on the old code: its joiner based, mallory admitted
  t.check("nobody offered or took a base", ![r1, j1].some((n) => /msg=bus_log_base(d|_offered) /.test(n.log())),
    j1.log().slice(-1500));
  t.check("the rogue store's user is admitted on neither node",
    !(await canLogIn(j1.nats, "mallory")) && !(await canLogIn(r1.nats, "mallory")));
  await r1.stop();
  await j1.stop();
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
  const forge = () => nc.publish("unibus.inforce.n1", JSON.stringify({ seq: 1e15, time_ms: Date.now() }));
  forge();
  await nc.flush();
  await delay((maxStale + 5) * 1000);
  t.check("one forged report of entries beyond the log closes no node", await allAdmit());
  const flood = setInterval(forge, 100);
  await delay((maxStale + 5) * 1000);
  const underFlood = await allAdmit();
  clearInterval(flood);
  await nc.close();
  t.check("forged reports sent ten times a second close no node either", underFlood,
    three.map((n) => (n.log().match(/msg=cluster_peers_closed.*/) || [""])[0].slice(0, 200)).join(" | "));
  bus.run(["user", "add", "carol", keygen("carol"), "--data-dir", bus.dataDir("n2")]);
  t.check("and writes go on: a user added on n2 logs in on every node", Boolean(await until(async () =>
    (await Promise.all(three.map((n) => canLogIn(n.nats, "carol")))).every(Boolean), 15000, 500)));
}

try {
  const bus = new Bus(membershipd, work, "insider");
  bus.initCa("n1");
  for (const n of ["r1", "j1", "n1", "n2", "n3"]) bus.issue(n);
  await foreignBase(bus);
  await forgedReports(bus);
} catch (e) {
  t.check("the scenario ran", false, e.stack);
} finally {
  for (const n of nodes) await n.stop("SIGKILL");
  if (!t.failed) rmSync(work, { recursive: true, force: true });
}
console.log(`# ${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed ? 1 : 0);
