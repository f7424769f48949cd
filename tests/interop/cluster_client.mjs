// libunibus against several nodes of one bus (dev/client-library.md,
// "Several nodes"), through the unibus CLI: real nodes on loopback (each
// with its real nats-server), route mutual TLS and the route secret on.
// UNIBUS_URL=dead,n1 works; a node killed between two commands: the next
// goes through another node, and a subscriber carries on through another
// node's data plane; two nodes killed (no quorum): a room create is refused
// with one line once its retry bound is spent, and succeeds when a node
// comes back within it; a node presenting another node's key at a URL
// whose key was recorded is refused, also when it is not the first URL.
// usage: node cluster_client.mjs MEMBERSHIPD UNIBUS
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, checker, freePort, meshOf, mkdirPrivate, until } from "./cluster_lib.mjs";

const [membershipd, unibus] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-cluster-client-"));
const t = checker();
const nodes = [];
const running = [];

const home = (who) => mkdirPrivate(join(work, "home", who));

// The CLI as `who`, asynchronously: the relay below lives in this process.
function cli(who, url, args, env = {}) {
  const p = spawn(unibus, args, { env: { ...process.env, HOME: home(who), UNIBUS_URL: url, ...env },
    stdio: ["ignore", "pipe", "pipe"] });
  running.push(p);
  const out = { stdout: "", stderr: "", code: null };
  p.stdout.on("data", (d) => { out.stdout += d; });
  p.stderr.on("data", (d) => { out.stderr += d; });
  out.done = new Promise((resolve) => p.on("close", (code) => { out.code = code; resolve(out); }));
  out.proc = p;
  return out;
}
const run = async (who, url, args, env) => cli(who, url, args, env).done;
const ok = (r) => r.code === 0;
const said = (r) => `exit ${r.code}: ${r.stderr.trim()}`;

// A TCP relay standing at one URL for whichever node `to` names: another
// node's server at a URL whose key was recorded.
async function relay(to) {
  const port = await freePort();
  const r = { to, url: `http://127.0.0.1:${port}` };
  r.server = createServer((down) => {
    const up = tcpConnect(r.to, "127.0.0.1");
    down.pipe(up).pipe(down);
    up.on("error", () => down.destroy());
    down.on("error", () => up.destroy());
  });
  await new Promise((resolve) => r.server.listen(port, "127.0.0.1", resolve));
  return r;
}

const noQuorumRefusals = (node) => (node.log().match(/code=cluster_no_quorum/g) || []).length;

try {
  const bus = new Bus(membershipd, work, "multi");
  bus.initCa("n1");
  for (const n of ["n1", "n2", "n3"]) bus.issue(n);
  const keyOut = await run("alice", "http://127.0.0.1:1", ["keygen"]);
  const bobOut = await run("bob", "http://127.0.0.1:1", ["keygen"]);
  bus.run(["user", "add", "alice", keyOut.stdout.trim(), "--data-dir", bus.dataDir("n1")]);
  bus.run(["user", "add", "bob", bobOut.stdout.trim(), "--data-dir", bus.dataDir("n1")]);
  for (const n of ["n2", "n3"]) bus.seedStore(n);
  const mesh = await meshOf(bus, ["n1", "n2", "n3"]);
  nodes.push(...mesh);
  const [n1, n2, n3] = await Promise.all(mesh.map((n) => n.start()));
  t.check("three nodes: two routes on each",
    await until(async () => [await n1.routes(), await n2.routes(), await n3.routes()].every((r) => r === 2)));
  const all = `${n1.http},${n2.http},${n3.http}`;
  const patient = { UNIBUS_RETRY_SECONDS: "300" }; // elections take 4-9 s, longer on a loaded machine

  // A URL nobody answers, then n1: the command goes to n1, whose key is recorded for n1's URL.
  const dead = `http://127.0.0.1:${await freePort()}`;
  const first = await run("alice", `${dead},${n1.http}`, ["whoami"]);
  t.check("UNIBUS_URL=dead,n1: whoami answers through n1", ok(first) && /alice/.test(first.stdout), said(first));
  t.check("UNIBUS_URL=dead,n1: n1's key is trusted on first use for n1's URL, not the dead one's",
    first.stderr.includes(`for ${n1.http} on first use`) && !first.stderr.includes(dead), first.stderr);
  let r = await run("alice", `${dead},http://127.0.0.1:${await freePort()}`, ["whoami"]);
  t.check("no URL answers: one line naming how many were tried",
    r.code !== 0 && /none of the 2 control URLs answers/.test(r.stderr) && r.stderr.trim().split("\n").length === 1,
    said(r));
  const keys = { n1: (first.stderr.match(/trusting server key (\S+)/) || [])[1] };
  for (const n of [n2, n3]) {
    r = await run("alice", n.http, ["whoami"]);
    keys[n.name] = (r.stderr.match(/trusting server key (\S+)/) || [])[1];
  }
  t.check("each node signs with its own key, recorded for its URL",
    new Set([keys.n1, keys.n2, keys.n3, undefined]).size === 4, JSON.stringify(keys));

  // A server key recorded for a URL is that URL's: n2 (whose own key is
  // recorded for n2's URL) answering at a URL recorded with n1's key is refused.
  const front = await relay(n1.ports.http);
  r = await run("alice", front.url, ["whoami"]);
  t.check("through a relay to n1: its key is recorded for the relay's URL", ok(r) && /on first use/.test(r.stderr),
    said(r));
  front.to = n2.ports.http;
  r = await run("alice", front.url, ["whoami"]);
  t.check("n2 at a URL recorded with n1's key: refused, both keys named",
    r.code !== 0 && r.stderr.includes(keys.n2) && /the key recorded before/.test(r.stderr) &&
    r.stderr.trim().split("\n").length === 1, said(r));
  r = await run("alice", `${front.url},${n3.http}`, ["whoami"]);
  t.check("the same as the first of two URLs: refused, not passed over for the next",
    r.code !== 0 && r.stderr.includes(keys.n2), said(r));
  r = await run("alice", `${dead},${front.url},${n3.http}`, ["whoami"]);
  t.check("the same met after a dead URL: refused, not passed over for the next",
    r.code !== 0 && r.stderr.includes(keys.n2), said(r));
  front.server.close();
  r = await run("alice", all, ["whoami"], { UNIBUS_RETRY_SECONDS: "0" });
  t.check("a retry bound of 0 s is refused with one line", r.code !== 0 && /retry seconds "0"/.test(r.stderr), said(r));

  // A room with a subscriber on n3's data plane (n3 first in its list), then n3 killed.
  const n3first = `${n3.http},${n1.http},${n2.http}`;
  const room = (await run("alice", n3first, ["room", "create", "lobby"], patient)).stdout.trim();
  r = await run("alice", n3first, ["room", "add", "lobby", bobOut.stdout.trim()], patient);
  t.check("a room made and shared through the list", /^[0-9a-f]{32}$/.test(room) && ok(r), said(r));
  const sub = cli("bob", n3first, ["sub", "--count", "1", "lobby"]);
  await until(() => /listening on lobby/.test(sub.stderr) || sub.code !== null, 30000, 50);
  t.check("bob subscribes through n3", /listening on lobby/.test(sub.stderr), sub.stderr);
  await n3.stop("SIGKILL");
  r = await run("alice", n3first, ["rooms"]);
  t.check("n3 killed: the next command answers through another node", ok(r) && r.stdout.includes(room), said(r));
  r = await run("alice", n3first, ["room", "create", "after-n3"], patient);
  t.check("n3 killed: a change goes through another node (retried while the log elects a leader)", ok(r), said(r));
  const heard = await until(async () => {
    if (sub.code !== null) return true;
    await run("alice", n3first, ["pub", "lobby", "across"]);
    return sub.code !== null;
  }, 60000, 500);
  t.check("n3 killed: bob's subscriber reconnects to another node and receives",
    heard && sub.code === 0 && /alice: across/.test(sub.stdout), `${sub.stdout} / ${sub.stderr}`);

  // No quorum: n3 back, then n2 and n3 killed; n1, never restarted, is left.
  await n3.start();
  t.check("n3 back: routes again",
    await until(async () => [await n1.routes(), await n2.routes(), await n3.routes()].every((x) => x === 2), 30000));
  await n2.stop("SIGKILL");
  await n3.stop("SIGKILL");
  r = await run("alice", all, ["room", "create", "refused"], { UNIBUS_RETRY_SECONDS: "3" });
  t.check("two nodes killed: a room create is refused after its retry bound, in one line",
    r.code !== 0 && /cluster_no_quorum/.test(r.stderr) && /still refused after retrying for 3 s/.test(r.stderr) &&
    r.stderr.trim().split("\n").length === 1, said(r));
  const refusedBefore = noQuorumRefusals(n1);
  // Started with n1 the only node up; each retry goes to the next URL.
  const create = cli("alice", all, ["room", "create", "comeback"], patient);
  await until(() => noQuorumRefusals(n1) > refusedBefore || create.code !== null, 60000, 50);
  t.check("two nodes killed: the create is refused and waits (no quorum)", create.code === null,
    said(create));
  await n2.start();
  r = await create.done;
  t.check("a node restarted within the retry bound: the same create succeeds",
    ok(r) && /^[0-9a-f]{32}$/.test(r.stdout.trim()),
    said(r));
  r = await run("alice", n2.http, ["rooms"]);
  t.check("the room it made is on the restarted node", ok(create) && r.stdout.includes(create.stdout.trim()), said(r));
} catch (e) {
  t.check("the scenario ran", false, String(e && e.stack || e));
} finally {
  for (const p of running) if (p.exitCode === null) p.kill("SIGTERM");
  for (const n of nodes) await n.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed === 0 && t.passed > 0 ? 0 : 1);
