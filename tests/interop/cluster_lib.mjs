// Helpers for the cluster tests: real membershipd nodes (each supervising
// its real nats-server) on loopback ports, the bus PKI made with the real
// CLI, and nats.js peers.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync, copyFileSync, chmodSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { connect, nkeyAuthenticator } from "nats";

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export function checker() {
  const t = { passed: 0, failed: 0 };
  t.check = (name, ok, detail = "") => {
    if (ok) { t.passed++; console.log(`ok - ${name}`); } else { t.failed++; console.log(`not ok - ${name} ${detail}`); }
  };
  return t;
}

// A port free on 127.0.0.1 right now, below Linux's ephemeral range
// (32768-60999): a node restarted on its ports must not find one taken by
// another test's outgoing connection meanwhile. Never the same port twice
// in one run: nodes are given their ports before any of them listens.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    const free = await new Promise((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) { handedOut.add(port); return port; }
  }
}

// A bare nats-server posing as a node of bus, as one who holds a node's
// files would run it: the certificate and key in certDir (name.crt/.key,
// ca.crt), the route password when given (none: it takes any route),
// dialling routes (cluster ports), pinning nothing.  Kill it with SIGKILL.
// Returns { proc, cluster (its port), routes() (how many it has) }.
export async function rogueNode(bus, work, name, { certDir, password, routes = [] }) {
  const conf = join(work, `${name}.conf`), cluster = await freePort(), monitor = await freePort();
  const auth = password ? `  authorization { user: "unibus-route", password: "${password}" }\n` : "";
  const creds = password ? `unibus-route:${password}@` : "";
  writeFileSync(conf, `port: ${await freePort()}\nhttp: "127.0.0.1:${monitor}"\nserver_name: ${name}\n` +
    `cluster {\n  name: "${bus.name}"\n` +
    `  listen: "127.0.0.1:${cluster}"\n${auth}` +
    `  tls { cert_file: "${join(certDir, `${name}.crt`)}", key_file: "${join(certDir, `${name}.key`)}",` +
    ` ca_file: "${join(certDir, "ca.crt")}", verify: true }\n` +
    `  routes = [${routes.map((p) => `"nats-route://${creds}127.0.0.1:${p}"`).join(", ")}]\n}\n`, { mode: 0o600 });
  const routesUp = async () => {
    try { return (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()).routes; } catch { return undefined; }
  };
  return { proc: spawn("nats-server", ["-c", conf], { stdio: "ignore" }), cluster, routes: routesUp };
}

// Nodes named names, each routed to all the others, on fresh ports (not
// started); opts go to every one.
export async function meshOf(bus, names, opts = {}) {
  const ports = {};
  for (const n of names) ports[n] = await Node.ports();
  return names.map((name) => new Node(bus, name, { ...opts, ports: ports[name],
    routes: names.filter((o) => o !== name).map((o) => ports[o].cluster) }));
}

// Runs a test's scenario; whatever happens, its nodes are killed, its work
// directory goes when it passed, and the process exits with its verdict.
export async function runScenario(t, nodes, work, scenario) {
  try {
    await scenario();
  } catch (e) {
    t.check("the scenario ran", false, `${e.stack}${e.stderr ? `\n${e.stderr}` : ""}`);
  } finally {
    for (const n of nodes) await n.stop("SIGKILL");
    if (!t.failed) rmSync(work, { recursive: true, force: true });
  }
  console.log(`# ${t.passed} passed, ${t.failed} failed`);
  process.exit(t.failed ? 1 : 0);
}

// Polls fn until it returns a truthy value or ms pass; returns the last value.
export async function until(fn, ms = 15000, step = 100) {
  let v;
  for (let waited = 0; waited <= ms; waited += step) {
    if ((v = await fn())) return v;
    await delay(step);
  }
  return v;
}

// What every node derives from the route secret (dev/cluster.md).
export const routePassword = (secret) =>
  createHash("sha256").update("unibus-route-password-v1\n").update(secret.replace(/[\r\n]+$/, "")).digest("hex");

// Notes a secret for logs.secrets, which proves no log line ever held it.
export function recordSecret(tag, text) {
  if (process.env.UNIBUS_TEST_SECRETS_DIR)
    writeFileSync(join(process.env.UNIBUS_TEST_SECRETS_DIR, `secrets-cluster-${tag}-${process.pid}.txt`), `${text}\n`,
                  { mode: 0o600 });
}

export function mkdirPrivate(path) {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  return path;
}

// The bus: a CA in the first node's data dir, node certificates issued
// there, one route secret; the other nodes start empty (or from a copy of
// the first's store) and take the bus log's base (dev/control-log.md).
export class Bus {
  constructor(membershipd, work, name = "bus") {
    this.m = membershipd;
    this.work = work;
    this.name = name;
    this.secret = join(work, "route.secret");
    this.logs = process.env.UNIBUS_TEST_LOG_DIR || work;
    const secret = execFileSync("head", ["-c", "48", "/dev/urandom"]).toString("base64");
    writeFileSync(this.secret, secret, { mode: 0o600 });
    recordSecret(`route-${name}`, secret);
    recordSecret(`route-password-${name}`, routePassword(secret));
  }

  run(args) {
    return execFileSync(this.m, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 }).trim();
  }

  dataDir(node) { return join(this.work, `data-${node}`); }
  certDir(node) { return join(this.work, `certs-${node}`); }

  initCa(node) {
    mkdirPrivate(this.dataDir(node));
    this.caNode = node;
    this.run(["ca", "init", "--trust-domain", `${this.name}.test`, "--data-dir", this.dataDir(node)]);
  }

  // Nodes started together pin each other: every node issued so far gets
  // the newest route-pins (what the bus pins now), as an operator would.
  issue(node, role = "node", ip = "127.0.0.1") {
    this.run(["cert", "issue", node, "--role", role, "--ip", ip, "--out", this.certDir(node),
              "--data-dir", this.dataDir(this.caNode)]);
    if (role !== "node") return;
    this.issued = [...(this.issued || []), node];
    for (const other of this.issued)
      copyFileSync(join(this.certDir(node), "route-pins"), join(this.certDir(other), "route-pins"));
  }

  // An empty data directory: the node joins by taking the bus log's base.
  emptyStore(node) {
    mkdirPrivate(this.dataDir(node));
  }

  // A copy of the CA node's database, before it ever served, as node's
  // store: it must take the log's base as equal to its own.
  seedStore(node) {
    mkdirPrivate(this.dataDir(node));
    copyFileSync(join(this.dataDir(this.caNode), "membership.db"), join(this.dataDir(node), "membership.db"));
    chmodSync(join(this.dataDir(node), "membership.db"), 0o600);
  }
}

export class Node {
  // opts: { ports: {http, nats, cluster, metrics}, routes: [cluster ports], cert, key, ca, secret,
  //         extra: [more serve flags] }
  constructor(bus, name, opts) {
    this.bus = bus;
    this.name = name;
    this.opts = opts;
    this.ports = opts.ports;
  }

  static async ports() {
    return { http: await freePort(), nats: await freePort(), cluster: await freePort(), metrics: await freePort() };
  }

  args() {
    const o = this.opts, certs = this.bus.certDir(o.certName || this.name);
    const base = ["serve", "--data-dir", this.bus.dataDir(this.name), "--http-port", String(this.ports.http),
      "--nats-port", String(this.ports.nats), "--metrics-addr", `127.0.0.1:${this.ports.metrics}`];
    if (o.single) return [...base, ...(o.extra || [])];
    return [...base, "--cluster-name", o.clusterName || this.bus.name, "--server-name", this.name,
      "--cluster-port", String(this.ports.cluster),
      "--routes", o.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(","),
      "--cluster-secret-file", o.secret || this.bus.secret,
      "--route-tls-cert", o.cert || join(certs, `${o.certName || this.name}.crt`),
      "--route-tls-key", o.key || join(certs, `${o.certName || this.name}.key`),
      "--route-tls-ca", o.ca || join(certs, "ca.crt"), ...(o.extra || [])];
  }

  async start() {
    this.logPath = join(this.bus.logs, `membershipd-cluster-${this.name}-${process.pid}.log`);
    this.proc = spawn(this.bus.m, this.args(), { stdio: ["ignore", "ignore", openSync(this.logPath, "w")] });
    this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r(code ?? sig)));
    const up = await until(() => /msg=listening /.test(this.log()), 20000, 50);
    if (!up) throw new Error(`${this.name} did not start: ${this.log().slice(-2000)}`);
    this.http = `http://127.0.0.1:${this.ports.http}`;
    this.nats = `nats://127.0.0.1:${this.ports.nats}`;
    return this;
  }

  log() { try { return readFileSync(this.logPath, "utf8"); } catch { return ""; } }

  async stop(signal = "SIGTERM") {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill(signal);
    await this.exited;
  }

  async metric(name) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.ports.metrics}/metrics`)).text();
      const m = text.match(new RegExp(`^${name} (\\S+)$`, "m"));
      return m ? Number(m[1]) : undefined;
    } catch { return undefined; }
  }

  routes() { return this.metric("unibus_cluster_routes"); }
}

// A nats.js peer logged in with a seed file.
export async function peer(url, seedFile, opts = {}) {
  const text = readFileSync(seedFile, "utf8").trim();
  recordSecret(`seed-${text.slice(2, 10)}`, text);
  const seed = new TextEncoder().encode(text);
  return connect({ servers: url, authenticator: nkeyAuthenticator(seed), reconnect: false, ...opts });
}

// Collects what a subscription receives.
export function collect(nc, subject) {
  const got = [];
  const sub = nc.subscribe(subject);
  (async () => { for await (const m of sub) got.push(m.string()); })().catch(() => {});
  return { got, sub };
}

// What a raw client without credentials hears after CONNECT {}: nats-server's
// answer line ("-ERR 'Authorization Violation'" when refused).
export function anonymousAnswer(port) {
  return new Promise((resolve) => {
    let buf = "";
    const s = tcpConnect(port, "127.0.0.1", () => s.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'));
    s.on("data", (d) => {
      buf += d;
      const lines = buf.split("\r\n").filter((l) => l && !l.startsWith("INFO "));
      if (lines.length) { s.destroy(); resolve(lines[0]); }
    });
    s.on("error", (e) => resolve(String(e)));
    setTimeout(() => { s.destroy(); resolve(buf); }, 3000);
  });
}
