// busauth against nkeys.js, the NATS authors' reference implementation:
// seeds written by `membershipd keygen` load there with the same public key,
// signatures cross in both directions, and seeds made there load here.
// usage: node nkeys.mjs MEMBERSHIPD SIGTOOL
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createUser, fromPublic, fromSeed, Prefix } from "nkeys.js";

const { Codec } = createRequire(import.meta.url)("nkeys.js/lib/codec");

const [membershipd, sigtool] = process.argv.slice(2);
const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "unibus-interop-"));
let passed = 0;
let failed = 0;

function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok - ${name}`); }
  else { failed++; console.log(`not ok - ${name} ${detail}`); }
}

const run = (cmd, args) => spawnSync(cmd, args, { encoding: "utf8" });
const enc = (s) => new TextEncoder().encode(s);

const ROUNDS = 10;
for (let i = 0; i < ROUNDS; i++) {
  // A seed made by membershipd keygen, read by nkeys.js.
  const seedPath = join(work, `ours-${i}.seed`);
  const keygen = run(membershipd, ["keygen", "--out", seedPath]);
  const ourNkey = keygen.stdout.match(/^nkey (U[A-Z2-7]{55})$/m)?.[1];
  const ourHex = keygen.stdout.match(/^hex +([0-9a-f]{64})$/m)?.[1];
  const theirView = fromSeed(enc(readFileSync(seedPath, "utf8").trim()));
  check(`keygen seed ${i} gives the same public key in nkeys.js`,
        theirView.getPublicKey() === ourNkey, `${theirView.getPublicKey()} != ${ourNkey}`);
  const rawKey = Buffer.from(Codec.decode(Prefix.User, enc(ourNkey))).toString("hex");
  check(`keygen hex ${i} is the raw key nkeys.js decodes`, rawKey === ourHex, `${rawKey} != ${ourHex}`);

  // busauth signs, nkeys.js verifies.
  const msg = randomBytes(1 + (i * 97) % 4096);
  const msgPath = join(work, `msg-${i}`);
  writeFileSync(msgPath, msg);
  const sigHex = execFileSync(sigtool, ["sign", seedPath, msgPath], { encoding: "utf8" }).trim();
  const sig = Buffer.from(sigHex, "hex");
  check(`busauth signature ${i} verifies in nkeys.js`, fromPublic(ourNkey).verify(msg, sig));
  const tampered = Buffer.from(msg);
  tampered[0] ^= 1;
  check(`nkeys.js rejects a tampered message ${i}`, !fromPublic(ourNkey).verify(tampered, sig));

  // nkeys.js makes a user, busauth loads its seed and verifies its signature.
  const theirs = createUser();
  const theirSeedPath = join(work, `theirs-${i}.seed`);
  writeFileSync(theirSeedPath, new TextDecoder().decode(theirs.getSeed()) + "\n", { mode: 0o600 });
  const loaded = run(sigtool, ["pubkey", theirSeedPath]).stdout.trim();
  check(`nkeys.js seed ${i} loads in busauth with the same key`, loaded === theirs.getPublicKey(),
        `${loaded} != ${theirs.getPublicKey()}`);
  const theirSig = Buffer.from(theirs.sign(msg)).toString("hex");
  const verdict = run(sigtool, ["verify", theirs.getPublicKey(), theirSig, msgPath]).status;
  check(`nkeys.js signature ${i} verifies in busauth`, verdict === 0, `exit ${verdict}`);
  const badSig = theirSig.slice(0, 10) + (theirSig[10] === "0" ? "1" : "0") + theirSig.slice(11);
  const badVerdict = run(sigtool, ["verify", theirs.getPublicKey(), badSig, msgPath]).status;
  check(`busauth rejects a tampered nkeys.js signature ${i}`, badVerdict === 1, `exit ${badVerdict}`);

  // membershipd accepts the nkeys.js public key on the allowlist.
  const add = run(membershipd, ["user", "add", `js${i}`, theirs.getPublicKey(),
                                "--data-dir", join(work, "data")]);
  check(`membershipd user add takes nkeys.js key ${i}`, add.status === 0, add.stderr);
}

// The test vectors of dev/signed-requests.md, computed here from the
// note's words alone with node's SHA-256 and nkeys.js's Ed25519.
{
  const { createHash } = await import("node:crypto");
  const sha256 = (text) => createHash("sha256").update(text).digest("hex");
  const keypair = (first) => fromSeed(Codec.encodeSeed(Prefix.User, Uint8Array.from({ length: 32 }, (_, i) => first + i)));
  const signer = keypair(0), server = keypair(32);
  const body = '{"name":"ops","sealed_key":"AAAA"}';
  const request = ["unibus-v2-request", server.getPublicKey(), signer.getPublicKey(), "POST", "/v1/rooms",
                   "1700000000000", "00112233445566778899aabbccddeeff", sha256(body)].join("\n");
  const sig = Buffer.from(signer.sign(enc(request))).toString("base64url");
  check("the request vector of dev/signed-requests.md matches nkeys.js", sig === "lQ8UxLmWLXmkkom7jocXbC-Hj1snZpYU7uSX4xe5noQ_0rkKVCMu05N2TE8VJer98O-aIz1kiuTZ8UWwgpJbAw", sig);
  const response = ["unibus-v2-response", sha256(request), "201", sha256('{"id":"00112233445566778899aabbccddeeff"}')]
    .join("\n");
  const serverSig = Buffer.from(server.sign(enc(response))).toString("base64url");
  check("the response vector of dev/signed-requests.md matches nkeys.js", serverSig === "BKTgHd8YcjiKcdAdi1d3FwWf4HpjQQhWuci0AG2GiBeYjYpY-UWknYfjYbyQWtmrI2IVhy0KhIElZ7K2DiBUAA", serverSig);
}

rmSync(work, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
