// Compaction (dev/control-log.md, "Compaction"): once the bus log holds
// --log-compact-entries entries after its base, the stream leader appends
// its state as a new base and purges what came before.  Nothing is lost:
// every node keeps every change, a restarted node stays in the same log,
// the offline CLI still writes through it, and a node that joins with an
// empty store afterwards starts from the new base.
// usage: node cluster_compact.mjs MEMBERSHIPD UNIBUS SIGTOOL
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator } from "nats";
import { Bus, Node, checker, delay, meshOf, mkdirPrivate, peer, runScenario, until } from "./cluster_lib.mjs";

const [membershipd, unibus, sigtool] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-compact-"));
const t = checker();
const nodes = [];
const COMPACT = ["--log-compact-entries", "16"];
const seedOf = (who) => join(mkdirPrivate(join(work, "home", who)), "peer.seed");
const run = promisify(execFile);
const keygen = (who) => execFileSync(unibus, ["keygen", "--out", seedOf(who)], { encoding: "utf8" }).trim();

async function canLogIn(url, who) {
  try { const nc = await peer(url, seedOf(who)); await nc.close(); return true; } catch { return false; }
}

const users = (bus, node) => JSON.parse(bus.run(["user", "list", "--json", "--data-dir", bus.dataDir(node)])).length;
const compactions = (node) => (node.log().match(/msg=bus_log_compacted /g) || []).length;
const basesWritten = (list) => list.reduce((n, node) => n + (node.log().match(/msg=bus_log_base_written /g) || []).length, 0);

// count rooms made by alice through the API, one lane per node at once:
// a change always in flight somewhere.
// How many were refused (503 under heavy load, as under ASan: the bus
// keeps its promise by refusing, and this test is about compaction).
async function makeRoomsBusily(nodesUsed, count) {
  let refused = 0;
  const lane = async (node, l) => {
    for (let i = l; i < count; i += nodesUsed.length)
      await run(unibus, ["room", "create", `busy${i}`, "--cleartext"],
        { env: { ...process.env, HOME: join(work, "home", "alice"), UNIBUS_URL: node.http } }).catch(() => refused++);
  };
  await Promise.all(nodesUsed.map((node, l) => lane(node, l)));
  return refused;
}

// count users added through the offline CLI on node's host, one entry each.
function addUsers(bus, node, prefix, count) {
  for (let i = 0; i < count; i++)
    bus.run(["user", "add", `${prefix}${i}`, keygen(`${prefix}${i}`), "--data-dir", bus.dataDir(node)]);
}

async function singleNode() {
  const bus = new Bus(membershipd, mkdirPrivate(join(work, "single")), "single");
  bus.emptyStore("s1");
  const s1 = new Node(bus, "s1", { ports: await Node.ports(), single: true, extra: COMPACT });
  nodes.push(s1);
  await s1.start();
  addUsers(bus, "s1", "u", 40);
  t.check("a single node compacts its log past 16 entries",
    Boolean(await until(() => compactions(s1) >= 1, 60000, 100)), s1.log().slice(-1500)); /* 20 s was short under ASan */
  t.check("every user is still there", users(bus, "s1") === 40, `${users(bus, "s1")}`);
  await s1.stop();
  await s1.start();
  await until(() => /msg=listening /.test(s1.log()), 10000, 100);
  addUsers(bus, "s1", "after", 1);
  t.check("restarted, it follows the same log (no new base) and the offline CLI writes through it",
    !/msg=bus_log_other /.test(s1.log()) && users(bus, "s1") === 41 && (await canLogIn(s1.nats, "after0")),
    s1.log().slice(-1500));
  await s1.stop();
}

async function threeNodes() {
  const bus = new Bus(membershipd, mkdirPrivate(join(work, "three")), "three");
  bus.initCa("n1");
  for (const n of ["n1", "n2", "n3"]) bus.issue(n);
  bus.emptyStore("n2");
  bus.emptyStore("n3");
  const alice = execFileSync(unibus, ["keygen"], { encoding: "utf8",
    env: { ...process.env, HOME: mkdirPrivate(join(work, "home", "alice")) } }).trim();
  bus.run(["user", "add", "alice", alice, "--admin", "--data-dir", bus.dataDir("n1")]);
  const three = await meshOf(bus, ["n1", "n2", "n3"], { extra: COMPACT });
  nodes.push(...three);
  await Promise.all(three.map((n) => n.start()));
  await until(() => three.every((n) => /msg=bus_log_based /.test(n.log())), 60000, 200);
  // Changes always in flight, as a busy bus has them: the log is compacted
  // meanwhile (the fifth adversarial pass starved it so).
  const began = Date.now();
  const refused = await makeRoomsBusily(three, 150);
  const whileWriting = basesWritten(three);
  console.log(`# 150 rooms in ${Date.now() - began} ms (${refused} refused); bases written meanwhile: ${whileWriting}`);
  t.check("the stream leader writes a compaction's base while changes keep coming", whileWriting >= 1,
    three.map((n) => n.log().slice(-600)).join("\n---\n"));
  addUsers(bus, "n1", "c", 40);
  t.check("every node holds every user", ["n1", "n2", "n3"].every((n) => users(bus, n) === 41),
    ["n1", "n2", "n3"].map((n) => users(bus, n)).join(","));
  // n3 starts again with an empty store: the entries it would replay are
  // gone; it joins from the base at the log's head.
  const n3 = three[2];
  await n3.stop();
  renameSync(join(bus.dataDir("n3"), "membership.db"), join(bus.dataDir("n3"), "membership.db.old"));
  await n3.start();
  const joined = await until(() => /msg=bus_log_based /.test(n3.log()) && users(bus, "n3") === 41, 60000, 200);
  t.check("a node joining empty after the compaction starts from the new base and holds every user",
    Boolean(joined) && /msg=bus_log_compacted_skip /.test(n3.log()), n3.log().slice(-1500));
  addUsers(bus, "n2", "late", 1);
  t.check("a change after the compaction reaches the joined node",
    Boolean(await until(() => canLogIn(n3.nats, "late0"), 30000, 500)));
  await refusedPurge(bus, three);
}

// A stream that refuses purges (an insider with a node's server.seed can
// set deny_purge): the base a compaction wrote is purged again later, and
// no other is written meanwhile (the fifth adversarial pass saw a whole
// base more every few seconds, with no write at all).
async function refusedPurge(bus, three) {
  const seed = execFileSync(sigtool, ["derive", join(bus.dataDir("n2"), "server.seed"), "nats-log"], { encoding: "utf8" })
    .trim();
  const nc = await connect({ servers: three[1].nats, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
  const info = JSON.parse((await nc.request("$JS.API.STREAM.INFO.UNIBUS_LOG", "", { timeout: 5000 })).string());
  const updated = JSON.parse((await nc.request("$JS.API.STREAM.UPDATE.UNIBUS_LOG",
    JSON.stringify({ ...info.config, deny_purge: true }), { timeout: 5000 })).string());
  await nc.close();
  t.check("(set up) the stream now refuses purges", updated.config?.deny_purge === true, JSON.stringify(updated));
  const failed = () => three.reduce((n, node) => n + (node.log().match(/msg=bus_log_compact_failed /g) || []).length, 0);
  addUsers(bus, "n2", "d", 20);
  await until(() => failed() >= 1, 20000, 200);
  await delay(16000); // three compaction rounds
  const written = basesWritten(three);
  t.check("a compaction whose purge is refused writes one base, not one a round", failed() === 1,
    `${failed()} refusals, ${written} bases written in all`);
}

await runScenario(t, nodes, work, async () => {
  await singleNode();
  await threeNodes();
});
