// A standard NATS client (the NATS authors' nats.js, pinned in
// package-lock.json) as a unibus peer: a seed made by `unibus keygen`,
// allowlisted, connects; it may use its rooms' subjects and nothing else;
// it sees only ciphertext in an e2e room and plain text in a cleartext one;
// it asks `unibus serve` and answers `unibus req` in a cleartext room, with
// replies on unibus.reply.<requester-nkey>.<room>.<random>.
// usage: node nats_client.mjs MEMBERSHIPD UNIBUS
import { spawn, execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator } from "nats";

const [membershipd, unibus] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-natsjs-"));
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) { passed++; console.log(`ok - ${name}`); } else { failed++; console.log(`not ok - ${name} ${detail}`); }
};
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

const data = join(work, "data");
const logPath = join(process.env.UNIBUS_TEST_LOG_DIR || work, `membershipd-natsjs-${process.pid}.log`);
const { openSync } = await import("node:fs");
const server = spawn(membershipd, ["serve", "--http-port", "0", "--nats-port", "0", "--data-dir", data],
                     { stdio: ["ignore", "ignore", openSync(logPath, "w")] });
let http, natsUrl;
for (let i = 0; i < 200 && !natsUrl; i++) {
  await delay(50);
  const m = readFileSync(logPath, "utf8").match(/msg=listening .* port=(\d+) .* nats=(\S+)/);
  if (m) { http = `http://127.0.0.1:${m[1]}`; natsUrl = m[2]; }
}

const home = (who) => { const h = join(work, who); mkdirSync(h, { recursive: true }); return h; };
const cli = (who, args) => execFileSync(unibus, args, {
  env: { ...process.env, HOME: home(who), UNIBUS_URL: http }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
}).trim();
// The same without blocking this process, for when nats.js must answer meanwhile.
const cliAsync = async (who, args) => (await promisify(execFile)(unibus, args, {
  env: { ...process.env, HOME: home(who), UNIBUS_URL: http }, encoding: "utf8",
})).stdout.trim();

try {
  const alice = cli("alice", ["keygen"]);
  const jsKey = cli("js", ["keygen", "--out", join(home("js"), "js.seed")]);
  execFileSync(membershipd, ["user", "add", "alice", alice, "--data-dir", data]);
  execFileSync(membershipd, ["user", "add", "js", jsKey, "--data-dir", data]);
  const secret = cli("alice", ["room", "create", "secret"]);
  const lobby = cli("alice", ["room", "create", "lobby", "--cleartext"]);
  const private_ = cli("alice", ["room", "create", "private"]);
  cli("alice", ["room", "add", "secret", jsKey]);
  cli("alice", ["room", "add", "lobby", jsKey]);

  const seed = new TextEncoder().encode(readFileSync(join(home("js"), "js.seed"), "utf8").trim());
  const nc = await connect({ servers: natsUrl, authenticator: nkeyAuthenticator(seed) });
  check("nats.js connects with a seed from unibus keygen", true);

  const first = (subject) => {
    const sub = nc.subscribe(subject, { max: 1 });
    return (async () => { for await (const m of sub) return m.data; })();
  };
  const secretMsg = first(`unibus.room.${secret}.msg`);
  const lobbyMsg = first(`unibus.room.${lobby}.msg`);
  await nc.flush();
  cli("alice", ["pub", "secret", "top secret plan"]);
  cli("alice", ["pub", "lobby", "hello lobby"]);
  const sealed = Buffer.from(await secretMsg);
  check("in an e2e room it sees only ciphertext", sealed.length > 100 && !sealed.includes("top secret plan"));
  check("in a cleartext room it reads the text", Buffer.from(await lobbyMsg).toString() === "hello lobby");

  // nats.js asks: its reply subject is its own, in the room (noMux: one
  // subscription per request, on exactly that subject).
  const worker = spawn(unibus, ["serve", "lobby", "--", "tr", "a-z", "A-Z"], {
    env: { ...process.env, HOME: home("alice"), UNIBUS_URL: http }, stdio: ["ignore", "ignore", "pipe"],
  });
  let serving = "";
  worker.stderr.on("data", (d) => { serving += d; });
  for (let i = 0; i < 100 && !serving.includes("serving"); i++) await delay(50);
  const reply = `unibus.reply.${jsKey}.${lobby}.${Date.now()}`;
  const answer = await nc.request(`unibus.room.${lobby}.req`, "ask the worker", { timeout: 5000, noMux: true, reply });
  check("a request from nats.js is answered by unibus serve", answer.string() === "ASK THE WORKER", answer.string());
  worker.kill("SIGTERM");
  await new Promise((r) => worker.on("exit", r));

  // nats.js answers: unibus req's reply subject is open to room members.
  const jobs = nc.subscribe(`unibus.room.${lobby}.req`, { queue: "workers", max: 1 });
  (async () => { for await (const m of jobs) m.respond(`done: ${m.string()}`); })();
  await nc.flush();
  check("nats.js answers unibus req", (await cliAsync("alice", ["req", "lobby", "job 1"])) === "done: job 1");

  const errors = [];
  (async () => { for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.data)); })();
  const forbidden = nc.subscribe(`unibus.room.${private_}.msg`);
  const outcome = await Promise.race([forbidden.closed.then(() => "closed", (e) => String(e)), delay(2000).then(() => "open")]);
  const violation = (e) => /PERMISSIONS_VIOLATION|Permissions Violation/.test(e);
  check("a room it is not in is refused", outcome !== "open" || errors.some(violation), outcome);
  const before = errors.filter(violation).length;
  nc.publish("anything.else", "x");
  await nc.flush();
  await delay(300);
  check("other subjects are refused", errors.filter(violation).length > before, errors.join("; "));
  await nc.close();
} catch (e) {
  check("the scenario ran", false, String(e && e.stack || e));
} finally {
  if (process.env.UNIBUS_TEST_SECRETS_DIR) {
    const { writeFileSync } = await import("node:fs");
    const seeds = ["alice/.config/unibus/identity.seed", "js/js.seed"]
      .map((p) => { try { return readFileSync(join(work, p), "utf8"); } catch { return ""; } }).join("");
    writeFileSync(join(process.env.UNIBUS_TEST_SECRETS_DIR, `secrets-natsjs-${process.pid}.txt`), seeds, { mode: 0o600 });
  }
  server.kill("SIGTERM");
  await delay(300);
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
