// A node cut off from the rest of the bus (dev/cluster.md, "A node cut
// off"): three real nodes, each in a network namespace of its own on a
// bridge, with TLS everywhere as on a public deployment.  n1's routes to
// the others are blackholed (its peers can still reach it): after
// --max-stale it admits no peer, they reconnect to the others, a key
// revoked meanwhile on the majority side is refused on every node; writes
// on n1 answer 503 at once and its reads say how stale they are; when the
// cut heals, n1 catches up and admits peers again, but not the revoked one.
// Needs root (network namespaces); exits 77 (skipped) without.
// usage: node cluster_partition.mjs MEMBERSHIPD UNIBUS
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { checkServerIdentity } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, checker, delay, mkdirPrivate, recordSecret, until } from "./cluster_lib.mjs";
import { connect, nkeyAuthenticator } from "nats";

const [membershipd, unibus] = process.argv.slice(2);
const MAX_STALE_S = 5;
const PORTS = { http: 8470, nats: 4250, cluster: 6250, metrics: 9470 }; // each namespace has its own
const tag = `ub${process.pid % 100000}`;
const subnet = `10.${100 + (process.pid % 100)}.${Math.floor(process.pid / 100) % 250}`;
const hostIp = `${subnet}.254`;
const names = ["n1", "n2", "n3"];
const ipOf = (n) => `${subnet}.${names.indexOf(n) + 1}`;
const nsOf = (n) => `${tag}${n}`;
const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

function netUp() {
  ip("link", "add", `${tag}br`, "type", "bridge");
  ip("link", "set", `${tag}br`, "up");
  ip("addr", "add", `${hostIp}/24`, "dev", `${tag}br`);
  for (const n of names) {
    ip("netns", "add", nsOf(n));
    ip("link", "add", `${tag}h${n}`, "type", "veth", "peer", "name", "eth0", "netns", nsOf(n));
    ip("link", "set", `${tag}h${n}`, "master", `${tag}br`, "up");
    ip("-n", nsOf(n), "addr", "add", `${ipOf(n)}/24`, "dev", "eth0");
    ip("-n", nsOf(n), "link", "set", "eth0", "up");
    ip("-n", nsOf(n), "link", "set", "lo", "up");
  }
}

function netDown() {
  for (const n of names) try { ip("netns", "del", nsOf(n)); } catch { /* not made */ }
  try { ip("link", "del", `${tag}br`); } catch { /* not made */ }
}

// Node a and the others listed stop reaching each other; the host (peers,
// the test) still reaches every node.
function cut(on, a = "n1", others = ["n2", "n3"]) {
  const verb = on ? "add" : "del";
  for (const other of others) {
    ip("-n", nsOf(a), "route", verb, "blackhole", `${ipOf(other)}/32`);
    ip("-n", nsOf(other), "route", verb, "blackhole", `${ipOf(a)}/32`);
  }
}

try { netUp(); } catch (e) {
  netDown();
  console.log(`skip: network namespaces need root (CAP_NET_ADMIN): ${String(e.stderr || e).trim()}`);
  process.exit(77);
}

const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-partition-"));
const logs = process.env.UNIBUS_TEST_LOG_DIR || work;
const t = checker();
const procs = [];
const conns = [];
let bus;

const home = (who) => mkdirPrivate(join(work, "home", who));
const seedOf = (who) => join(home(who), "peer.seed");
const caFile = () => join(bus.certDir("n1"), "ca.crt");
// One node's URL, and no retrying of 503s: what that node answers is the point.
const cli = (who, node, args, env = {}) => execFileSync(unibus, args, {
  env: { ...process.env, HOME: home(who), UNIBUS_URL: `https://${ipOf(node)}:${PORTS.http}`, UNIBUS_CA: caFile(),
         UNIBUS_RETRY_SECONDS: "1", ...env },
  encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

function start(n) {
  const certs = bus.certDir(n), logPath = join(logs, `membershipd-partition-${n}-${process.pid}.log`);
  const others = names.filter((o) => o !== n);
  const args = ["netns", "exec", nsOf(n), membershipd, "serve", "--data-dir", bus.dataDir(n), "--bind", ipOf(n),
    "--http-port", String(PORTS.http), "--nats-port", String(PORTS.nats), "--metrics-addr", `${ipOf(n)}:${PORTS.metrics}`,
    "--tls-cert", join(certs, `${n}.crt`), "--tls-key", join(certs, `${n}.key`),
    "--cluster-name", "part", "--server-name", n, "--cluster-port", String(PORTS.cluster),
    "--routes", others.map((o) => `nats-route://${ipOf(o)}:${PORTS.cluster}`).join(","),
    "--cluster-secret-file", bus.secret, "--max-stale", String(MAX_STALE_S),
    "--route-tls-cert", join(certs, `${n}.crt`), "--route-tls-key", join(certs, `${n}.key`),
    "--route-tls-ca", join(certs, "ca.crt")];
  const proc = spawn("ip", args, { stdio: ["ignore", "ignore", openSync(logPath, "w")] });
  const node = { name: n, proc, logPath, log: () => readFileSync(logPath, "utf8"),
                 exited: new Promise((r) => proc.on("exit", r)) };
  procs.push(node);
  return node;
}

async function stop(node) {
  node.proc.kill("SIGTERM");
  await Promise.race([node.exited, delay(15000)]);
  node.proc.kill("SIGKILL");
}

// GET over TLS verified against the bus CA: { status, headers, body }, or null.
function get(n, port, path) {
  return new Promise((resolve) => {
    const req = request({ host: ipOf(n), port, path, ca: readFileSync(caFile()), timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", () => resolve(null));
    req.on("timeout", () => { req.destroy(); resolve(null); });
    req.end();
  });
}

async function metric(n, name) {
  const r = await get(n, PORTS.metrics, "/metrics");
  const m = r && r.body.match(new RegExp(`^${name} (\\S+)$`, "m"));
  return m ? Number(m[1]) : undefined;
}

const natsUrl = (n) => `tls://${ipOf(n)}:${PORTS.nats}`;
// nats.js gives Node's TLS no name to check for an IP address: the
// certificate is checked here instead, for the address of a node of ours
// (a reconnect may land on any of them).
const nodeIdentity = (_, cert) =>
  names.some((n) => !checkServerIdentity(ipOf(n), cert)) ? undefined : new Error("not a certificate of a bus node");
async function peer(who, servers, opts = {}) {
  const text = readFileSync(seedOf(who), "utf8").trim();
  recordSecret(`seed-${text.slice(2, 10)}`, text);
  const nc = await connect({ servers, authenticator: nkeyAuthenticator(new TextEncoder().encode(text)),
    tls: { ca: readFileSync(caFile(), "utf8"), checkServerIdentity: nodeIdentity }, reconnect: false, ...opts });
  conns.push(nc);
  return nc;
}
async function canLogIn(who, n) {
  try { const nc = await peer(who, natsUrl(n)); await nc.close(); return true; } catch { return false; }
}

try {
  bus = new Bus(membershipd, work, "part");
  bus.initCa("n1");
  for (const n of names) bus.issue(n, "node", ipOf(n));
  const keys = {};
  keys.alice = cli("alice", "n1", ["keygen"]);
  for (const who of ["bob", "carol", "dave"]) keys[who] = cli(who, "n1", ["keygen", "--out", seedOf(who)]);
  for (const who of ["alice", "bob", "carol", "dave"])
    bus.run(["user", "add", who, keys[who], "--data-dir", bus.dataDir("n1")]);
  bus.emptyStore("n2");
  bus.seedStore("n3");

  const nodes = names.map(start);
  for (const node of nodes) {
    const up = await until(() => /msg=listening /.test(node.log()), 30000, 100);
    if (!up) throw new Error(`${node.name} did not start: ${node.log().slice(-2000)}`);
  }
  t.check("three nodes in namespaces: two routes each",
    await until(async () => (await Promise.all(names.map((n) => metric(n, "unibus_cluster_routes")))).every((r) => r === 2), 20000, 250));
  t.check("each node admits peers once it hears the others and has caught up",
    await until(async () => (await Promise.all(names.map((n) => metric(n, "unibus_cluster_peers_closed")))).every((c) => c === 0), 20000, 250));
  t.check("bob and carol log in on n1", await canLogIn("bob", "n1") && await canLogIn("carol", "n1"));

  // Carol on n1, knowing every node (as /v1/info's nats_urls gives them), able to fail over.
  const carol = await peer("carol", names.map(natsUrl),
    { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, noRandomize: true });
  let reconnectedTo = "";
  (async () => { for await (const s of carol.status()) if (s.type === "reconnect") reconnectedTo = s.data; })().catch(() => {});

  cut(true);
  const openAt = Date.now();
  t.check("cut off: n1 says it has no quorum (metric)",
    await until(async () => (await metric("n1", "unibus_cluster_quorum")) === 0, 10000, 200));
  const read = await get("n1", PORTS.http, "/v1/info");
  t.check("cut off: n1 still answers reads, saying how stale they may be (X-Unibus-Stale-Ms)",
    read && read.status === 200 && Number(read.headers["x-unibus-stale-ms"]) > 0, JSON.stringify(read && read.headers));
  let refusal = "";
  const tried = Date.now();
  try { cli("alice", "n1", ["room", "create", "cutoff"]); } catch (e) { refusal = `${e.status} ${e.stdout} ${e.stderr}`; }
  t.check("cut off: a write on n1 is refused with cluster_no_quorum, at once", /cluster_no_quorum|quorum/.test(refusal) &&
    Date.now() - tried < 5000, `${Date.now() - tried} ms: ${refusal}`);
  t.check("cut off: after --max-stale n1 admits no peer (metric, log line)",
    await until(async () => (await metric("n1", "unibus_cluster_peers_closed")) === 1, 20000, 200) &&
    /msg=cluster_peers_closed /.test(nodes[0].log()));
  // Counted from the last report heard from most nodes: up to a second
  // (the report period) before the cut.
  t.check("cut off: not before --max-stale", Date.now() - openAt >= (MAX_STALE_S - 1) * 1000, `${Date.now() - openAt} ms`);
  t.check("cut off: n1 refuses a login of a peer it knows", !(await canLogIn("bob", "n1")));
  t.check("cut off: carol's connection to n1 is closed and she reconnects to another node",
    Boolean(await until(() => reconnectedTo && !reconnectedTo.includes(ipOf("n1")), 20000, 100)), `reconnected to ${reconnectedTo}`);
  t.check("the majority side still admits peers: bob logs in on n2 and n3", await canLogIn("bob", "n2") && await canLogIn("bob", "n3"));

  // Revoked on the majority side while n1 is cut off.
  bus.run(["user", "revoke", keys.bob, "--data-dir", bus.dataDir("n2")]);
  t.check("bob revoked on n2's host: refused on n2 and n3", !(await canLogIn("bob", "n2")) && !(await canLogIn("bob", "n3")));
  t.check("bob revoked meanwhile: refused on the cut-off n1 too", !(await canLogIn("bob", "n1")));
  let whoami = "";
  try { cli("bob", "n1", ["whoami"], { UNIBUS_IDENTITY: seedOf("bob") }); } catch (e) { whoami = String(e.stderr); }
  t.check("cut off: n1's control plane serves no signed request either (503 cluster_stale), not even bob's",
    /cluster_stale/.test(whoami), whoami);

  // Restarted while cut off, n1 starts closed: its store may be stale.
  await stop(nodes[0]);
  nodes[0] = start("n1");
  t.check("restarted while cut off: n1 comes up", Boolean(await until(() => /msg=listening /.test(nodes[0].log()), 30000, 100)));
  let admitted = false;
  for (const until_ = Date.now() + MAX_STALE_S * 1000 + 3000; Date.now() < until_ && !admitted;)
    admitted = await canLogIn("bob", "n1") || await canLogIn("carol", "n1");
  t.check("restarted while cut off: n1 admits nobody, the revoked bob least of all", !admitted);

  cut(false);
  t.check("healed: n1 catches up and admits peers again",
    await until(async () => (await metric("n1", "unibus_cluster_peers_closed")) === 0, 60000, 250) &&
    /msg=cluster_peers_open /.test(nodes[0].log()));
  t.check("healed: carol logs in on n1 again", await until(() => canLogIn("carol", "n1"), 10000, 250));
  t.check("healed: bob, revoked while n1 was cut off, is refused on n1", !(await canLogIn("bob", "n1")));
  t.check("healed: n1 takes writes again", Boolean(await until(() => {
    try { return cli("alice", "n1", ["room", "create", "healed"]); } catch (e) { console.log(`# ${e.stderr}`); return false; }
  }, 20000, 500)));

  // A node cut off from the bus log's leader alone: it hears the third node,
  // so it has "quorum", but cannot read the log: behind, it must close.
  const leader = await until(async () => JSON.parse((await get("n2", PORTS.http, "/v1/info"))?.body || "{}").bus_log_leader, 15000, 500);
  const victim = names.find((n) => n !== leader), third = names.find((n) => n !== leader && n !== victim);
  await until(() => canLogIn("dave", victim), 20000, 250);
  const daveOnVictim = await peer("dave", [natsUrl(victim)]);
  cut(true, victim, [leader]);
  const revoke = spawnSync(membershipd, ["user", "revoke", keys.dave, "--data-dir", bus.dataDir(third)], { encoding: "utf8" });
  const revokedAt = Date.now();
  // Either the victim still reads the log (the leader may move) and runs the
  // revocation when the command returns, or it is named as not running it
  // and closes once behind for --max-stale.
  const named = new RegExp(`not yet in force on [^ ]*${victim}`).test(revoke.stderr);
  t.check(`cut from the leader (${leader}) alone: the revocation through ${third} succeeds`, revoke.status === 0,
    `${revoke.status} ${revoke.stderr}`);
  if (named)
    t.check(`cut from the leader alone: ${victim}, named as behind, closes within --max-stale and a few seconds`,
      await until(async () => (await metric(victim, "unibus_cluster_peers_closed")) === 1, (MAX_STALE_S + 8) * 1000, 200),
      `${Date.now() - revokedAt} ms`);
  console.log(`# partial cut: ${victim} ${named ? "was named and closed" : "ran the revocation"}`);
  t.check(`cut from the leader alone: dave, revoked meanwhile, is refused on ${victim}`,
    Boolean(await until(async () => !(await canLogIn("dave", victim)) && daveOnVictim.isClosed(), named ? 2000 : 1000, 100)));
  cut(false, victim, [leader]);
  t.check(`healed: ${victim} admits peers again, dave still refused`,
    await until(async () => (await metric(victim, "unibus_cluster_peers_closed")) === 0, 60000, 250) &&
    !(await canLogIn("dave", victim)));

  // The leader itself cut off: the other two keep hearing each other and
  // never close (their reports do not wait for a stream leader).
  const leader2 = await until(async () => JSON.parse((await get(third, PORTS.http, "/v1/info"))?.body || "{}").bus_log_leader, 15000, 500);
  const rest = names.filter((n) => n !== leader2);
  cut(true, leader2, rest);
  const lapses = [];
  for (const end = Date.now() + (MAX_STALE_S + 5) * 1000; Date.now() < end; await delay(250))
    for (const n of rest) {
      const q = await metric(n, "unibus_cluster_quorum"), c = await metric(n, "unibus_cluster_peers_closed");
      if (q === 0 || c === 1) lapses.push(`${n}:q=${q},closed=${c}`);
    }
  t.check(`the leader (${leader2}) cut off: the other two keep quorum and stay open throughout`, lapses.length === 0,
    lapses.join(" "));
  cut(false, leader2, rest);
} catch (e) {
  t.check("partition test ran to the end", false, e.stack || String(e));
} finally {
  for (const nc of conns) await nc.close().catch(() => {});
  for (const p of procs) { p.proc.kill("SIGTERM"); }
  await Promise.race([Promise.all(procs.map((p) => p.exited)), delay(15000)]);
  for (const p of procs) p.proc.kill("SIGKILL");
  netDown();
  if (t.failed === 0) rmSync(work, { recursive: true, force: true });
}
console.log(`# ${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed === 0 && t.passed > 0 ? 0 : 1);
