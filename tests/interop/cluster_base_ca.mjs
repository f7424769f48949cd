// Only the bus CA's state becomes the bus (dev/control-log.md, "A node
// joins"; dev/threat-model.md): a node holding the route secret and a bus
// node certificate, whose store has a CA of its own and a user of its own,
// must not become an empty joiner's state by offering it: its CA is not
// the route CA.  (The joiner also refuses a base whose CA is not its route
// CA; an unmodified node cannot offer one: unit.test_store_log.)
// usage: node cluster_base_ca.mjs MEMBERSHIPD UNIBUS
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, Node, checker, delay, mkdirPrivate, peer, until } from "./cluster_lib.mjs";

const [membershipd, unibus] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-baseca-"));
const t = checker();
const nodes = [];
const seed = join(mkdirPrivate(join(work, "mallory")), "peer.seed");

async function canLogIn(url) {
  try { const nc = await peer(url, seed); await nc.close(); return true; } catch { return false; }
}

try {
  const bus = new Bus(membershipd, work, "baseca");
  bus.initCa("ca");
  for (const n of ["r1", "j1"]) bus.issue(n);
  const mallory = execFileSync(unibus, ["keygen", "--out", seed], { encoding: "utf8", env: { ...process.env, HOME: work } })
    .trim();

  // r1's store holds a CA and a user of its own, not the route CA.
  mkdirPrivate(bus.dataDir("r1"));
  bus.run(["ca", "init", "--trust-domain", "rogue.test", "--data-dir", bus.dataDir("r1")]);
  bus.run(["user", "add", "mallory", mallory, "--data-dir", bus.dataDir("r1")]);
  bus.emptyStore("j1");
  const ports = { r1: await Node.ports(), j1: await Node.ports() };
  const r1 = new Node(bus, "r1", { ports: ports.r1, routes: [ports.j1.cluster] });
  const j1 = new Node(bus, "j1", { ports: ports.j1, routes: [ports.r1.cluster] });
  nodes.push(r1, j1);
  await r1.start();
  await j1.start();
  t.check("a node whose store holds another CA waits for the bus's base instead of offering its own",
    Boolean(await until(() => /msg=bus_log_waiting .*--route-tls-ca/.test(r1.log()), 30000, 100)), r1.log().slice(-1500));
  await delay(8000); // what an offer would have taken: its joiner based, mallory admitted
  t.check("nobody offered or took a base", ![r1, j1].some((n) => /msg=bus_log_base(d|_offered) /.test(n.log())),
    j1.log().slice(-1500));
  t.check("the rogue store's user is admitted on neither node", !(await canLogIn(j1.nats)) && !(await canLogIn(r1.nats)));
} catch (e) {
  t.check("the scenario ran", false, e.stack);
} finally {
  for (const n of nodes) await n.stop("SIGKILL");
  if (!t.failed) rmSync(work, { recursive: true, force: true });
}
console.log(`# ${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed ? 1 : 0);
