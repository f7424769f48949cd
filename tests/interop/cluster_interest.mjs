// Route interest lost on reload, and its repair (dev/cluster.md, "Route
// interest"): nats-server 2.9.10 counts a SUB or UNSUB that a client sends
// while a reload moves clients to the rebuilt accounts against the old
// account's route-interest map (reload.go:1597-1616, 1759), so the other
// nodes can stop forwarding a subject to a node whose clients still want
// it.  Real nodes on loopback: a member on n1 floods SUB/UNSUB on her
// room's subject while room changes reload n1; a fresh
// subscription of carol's on n1 must then receive what bob publishes on
// n2, and n1 must have counted and logged the repair.  Keep this test: on
// a node without the repair the fresh subscription stays deaf ("got 0").
// usage: node cluster_interest.mjs MEMBERSHIPD UNIBUS
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, checker, collect, delay, meshOf, mkdirPrivate, peer, until } from "./cluster_lib.mjs";

const [membershipd, unibus] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-cluster-interest-"));
const t = checker();
const nodes = [];
const peers = [];
let skipped = false;
const FLOOD_BATCH = 200;   // SUB+UNSUB pairs between two flushes
const MAX_CHANGES = 60;    // room changes (each one reload on n1) before giving up on a loss
const BALLAST_CONNS = 20, BALLAST_SUBS = 250;
const FLOODERS = 2;        // mallory's connections on n1, each flooding
const PROBE_MS = 3000;     // a probe not received in this long: n1 may be deaf to the room
const RECHECK_MS = 10000;  // ... and is, if a fresh one after the flood is not either (n1 checks every 5 s)

const home = (who) => mkdirPrivate(join(work, "home", who));
const seedOf = (who) => join(home(who), "peer.seed");

// The unibus CLI as `who`, without blocking this process: the flood runs
// in it meanwhile.  Resolves to stdout; a refusal rejects with stderr.
function cliOnce(who, url, args) {
  const p = spawn(unibus, args, { env: { ...process.env, HOME: home(who), UNIBUS_URL: url, UNIBUS_RETRY_SECONDS: "120" },
    stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  p.stdout.on("data", (d) => { out += d; });
  p.stderr.on("data", (d) => { err += d; });
  return new Promise((resolve, reject) => p.on("close", (code) => (code === 0 ? resolve(out.trim())
    : reject(new Error(`unibus ${args[0]} ${args[1]}: exit ${code}: ${err.trim()}`)))));
}

// The same, waiting out the per-address rate limit (429) as told.
async function cli(who, url, args) {
  for (let i = 0; ; i++) {
    try { return await cliOnce(who, url, args); } catch (e) {
      if (i === 20 || !/429 rate_limited/.test(String(e))) throw e;
      await delay(1000);
    }
  }
}

// SUB then UNSUB on subject, as fast as the connection takes them, until
// stop() is called; resolves to the number of pairs sent.
function flood(nc, subject) {
  let stopped = false, pairs = 0;
  const done = (async () => {
    try {
      while (!stopped) {
        for (let i = 0; i < FLOOD_BATCH; i++) nc.subscribe(subject).unsubscribe();
        pairs += FLOOD_BATCH;
        await nc.flush();
      }
    } catch { /* her connection closed: n1's nats-server was restarted */ }
    return pairs;
  })();
  return { stop: () => { stopped = true; return done; } };
}

const received = (c, tag) => c.got.filter((m) => m.startsWith(`${tag}-`)).length;

// Publishes one message tagged tag from nc every 200 ms until the
// collector has one (or ms pass); then n more, which must all arrive.
async function reaches(nc, subject, c, tag, n, ms) {
  let i = 0;
  const first = await until(async () => { nc.publish(subject, `${tag}-${i++}`); await nc.flush(); return received(c, tag) > 0; },
    ms, 200);
  if (!first) return false;
  const before = received(c, tag);
  for (let k = 0; k < n; k++) nc.publish(subject, `${tag}-more-${k}`);
  await nc.flush();
  return Boolean(await until(() => received(c, tag) >= before + n, 5000, 50));
}

try {
  const bus = new Bus(membershipd, work, "interest");
  bus.initCa("n1");
  for (const n of ["n1", "n2", "n3"]) bus.issue(n);
  const users = {};
  users.alice = await cli("alice", "http://127.0.0.1:1", ["keygen"]);
  for (const who of ["mallory", "bob", "carol", "dave"])
    users[who] = await cli(who, "http://127.0.0.1:1", ["keygen", "--out", seedOf(who)]);
  for (const who of Object.keys(users)) bus.run(["user", "add", who, users[who], "--data-dir", bus.dataDir("n1")]);
  for (const n of ["n2", "n3"]) bus.emptyStore(n);
  const mesh = await meshOf(bus, ["n1", "n2", "n3"]);
  nodes.push(...mesh);
  const [n1, n2, n3] = await Promise.all(mesh.map((n) => n.start()));
  t.check("three nodes: two routes on each",
    await until(async () => [await n1.routes(), await n2.routes(), await n3.routes()].every((r) => r === 2), 30000));

  const room = await cli("alice", n1.http, ["room", "create", "lobby", "--cleartext"]);
  for (const who of ["mallory", "bob", "carol"]) await cli("alice", n1.http, ["room", "add", "lobby", users[who]]);
  const subject = `unibus.room.${room}.msg`;
  const mallory = [];
  for (let i = 0; i < FLOODERS; i++) mallory.push(await peer(n1.nats, seedOf("mallory")));
  const bobOn2 = await peer(n2.nats, seedOf("bob"));
  const carolOn1 = await peer(n1.nats, seedOf("carol"));
  peers.push(...mallory, bobOn2, carolOn1);
  // Other clients of n1 with many subscriptions: nats-server checks each
  // against the new permissions between the copy of the route map and
  // mallory's move to the new account (reload.go:1752-1762), which widens
  // the window her SUB/UNSUB must fall in, as a busy node's would be.
  for (let i = 0; i < BALLAST_CONNS; i++) {
    const nc = await peer(n1.nats, seedOf("bob"));
    peers.push(nc);
    for (let k = 0; k < BALLAST_SUBS; k++) nc.subscribe(`${subject}.ballast.${i}.${k}`);
    await nc.flush();
  }
  const before = collect(carolOn1, subject);
  await carolOn1.flush();
  t.check("before: carol on n1 receives what bob publishes on n2", await reaches(bobOn2, subject, before, "before", 10, 10000));
  before.sub.unsubscribe();

  // One subscription of a member's to a long subject of her room, kept: it
  // is held across the routes like any (the fifth adversarial pass: n1
  // cut it short when comparing, and bounced its routes every 15 s).
  const long = mallory[0].subscribe(`unibus.room.${room}.${"x".repeat(2000)}`);
  await mallory[0].flush();
  await delay(16000); // three periodic checks
  t.check("a member's long subscription costs no route bounce", (await n1.metric("unibus_cluster_interest_repairs_total")) === 0,
    `${await n1.metric("unibus_cluster_interest_repairs_total")} repairs`);
  long.unsubscribe();
  // And one holding a NUL byte, kept through what follows: every server
  // quotes it as \u0000 in its monitoring answers, which the check must
  // still read (the sixth adversarial pass: it stopped on every node, and
  // the loss below went unrepaired).
  mallory[0].subscribe(`unibus.room.${room}.a\u0000b`);
  await mallory[0].flush();

  // Mallory floods while dave goes in and out of the room: every change
  // is one reload of n1's nats-server (each node applies the bus log),
  // with her SUB/UNSUB arriving during it.  Made through n2, which waits
  // for n1 to run each change: the same race can also cost n1's bus log
  // its own connection's interest (seen once, under load), and a change
  // made through n1 would then wait for it.  After each change carol
  // subscribes afresh and bob sends her a probe from n2; the flood stops
  // once n1 is deaf to the room (which an old node stays), once n1 has
  // repaired a lost interest, or after MAX_CHANGES changes.
  const repairs = async () => (await n1.metric("unibus_cluster_interest_repairs_total")) || 0;
  // A fresh subscription of carol's on n1 gets one of bob's messages from n2
  // within ms (he publishes again every 100 ms: her interest crosses the
  // routes meanwhile).
  const hears = async (tag, ms) => {
    const probe = collect(carolOn1, subject);
    await carolOn1.flush();
    const ok = await until(async () => {
      bobOn2.publish(subject, `${tag}-`);
      await bobOn2.flush();
      return received(probe, tag) > 0;
    }, ms, 100);
    probe.sub.unsubscribe();
    return Boolean(ok);
  };
  let floods = mallory.map((nc) => flood(nc, subject));
  let changes = 0, deaf = false, pairs = 0;
  const refused = [];
  const stopFloods = async () => { for (const f of floods) pairs += await f.stop(); };
  while (changes < MAX_CHANGES && !deaf && (await repairs()) === 0) {
    // Only the reload matters here: a change answered with an error (seen:
    // 500 "appended but not applied here within 10 s" under load) is noted.
    await cli("alice", n2.http, ["room", changes % 2 ? "remove" : "add", "lobby", users.dave])
      .catch((e) => { refused.push(e.message); });
    changes++;
    if (await hears(`probe${changes}`, PROBE_MS)) continue;
    // Missed: deaf for good only if a fresh subscription still misses once
    // the flood stopped (a loaded machine can delay one probe).
    await stopFloods();
    deaf = !(await hears(`again${changes}`, RECHECK_MS));
    if (!deaf) floods = mallory.map((nc) => flood(nc, subject));
  }
  if (!deaf) await stopFloods();
  for (const r of refused) console.log(`# a change was refused: ${r}`);
  console.log(`# ${pairs} SUB/UNSUB pairs from mallory on n1 during ${changes} room changes; ` +
    `n1 deaf to the room: ${deaf}; repairs so far: ${await repairs()}`);
  if (!deaf && (await repairs()) === 0) {
    // The race is a race: a run that never lost an interest proves nothing
    // either way (seen in about one run of six; the old code failed 3 of 3).
    console.log(`# skipped: no interest lost in ${changes} changes`);
    skipped = true;
    throw new Error("skip");
  }

  const after = collect(carolOn1, subject);
  await carolOn1.flush();
  t.check("after the flood: a fresh subscription on n1 receives what bob publishes on n2",
    await reaches(bobOn2, subject, after, "after", 10, 40000), `got ${received(after, "after")}`);
  const repaired = await repairs();
  t.check("n1 counted the repair of a lost interest", repaired >= 1, `unibus_cluster_interest_repairs_total=${repaired}`);
  // Counted when the routes bounced; logged once the other nodes are seen
  // to hold the interest again (up to 5 s later, or 30 s while a flooded
  // node answers no reading).
  t.check("n1 logged it in one line",
    Boolean(await until(() => /msg=cluster_interest_repaired ok=yes missing=/.test(n1.log()), 35000, 100)));
  console.log(`# n1 repaired route interest ${repaired} time(s):`);
  for (const line of n1.log().split("\n").filter((l) => /cluster_interest_repaired/.test(l)).slice(0, 5)) console.log(`#   ${line}`);
} catch (e) {
  if (!skipped) t.check("the scenario ran", false, String(e && e.stack || e));
} finally {
  for (const p of peers) await p.close().catch(() => {});
  for (const n of nodes) await n.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed === 0 && skipped ? 77 : t.failed === 0 && t.passed > 0 ? 0 : 1);
