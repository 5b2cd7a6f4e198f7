// Checks an audit entry's proof in the browser, with no help from the
// server beyond the data it sent:
//
//  1. the leaf commits to the event: leaf == v || SHA-256(salt || event_bytes),
//     where v is the leaf version. In version 1 event_bytes is the event; in
//     version 2 it is the public event, whose actor is a salted commitment
//     ("commit:" + base64url(SHA-256("custos actor v1\0" || actor_salt || actor))):
//     a customer checks it without learning who the actor was, and a viewer
//     given actor_salt checks that the commitment opens to the actor shown;
//  2. the RFC 6962 inclusion proof leads from SHA-256(0x00 || leaf) at index
//     to the root hash of a tree of tree_size entries;
//  3. that root and size are the checkpoint's (C2SP tlog-checkpoint);
//  4. the checkpoint's Ed25519 signature verifies under the log's key
//     (signed-note format), where the browser's WebCrypto supports Ed25519.
//
// Steps 1–3 decide "verified"; step 4 is reported separately so that a
// browser without Ed25519 still checks the proof. A version 1 entry sent
// without its event (a customer's view of an entry written before actor
// commitments) is checked from step 2 on and reported as "partial".

const enc = new TextEncoder();

export function b64(s) {
  const bin = atob(s || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toB64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// actorCommitment is the public stand-in for actor under actorSalt.
export async function actorCommitment(actorSalt, actor) {
  const d = await sha256(concat(enc.encode("custos actor v1\0"), actorSalt, enc.encode(actor)));
  return "commit:" + toB64(d).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// leafHash is RFC 6962's hash of a leaf.
export async function leafHash(leaf) {
  return sha256(concat(new Uint8Array([0]), leaf));
}

async function nodeHash(l, r) {
  return sha256(concat(new Uint8Array([1]), l, r));
}

// rootFromInclusionProof recomputes the root from a leaf hash at index in a
// tree of size entries (RFC 9162 §2.1.3.2). It throws if the proof has the
// wrong shape.
export async function rootFromInclusionProof(index, size, lh, proof) {
  if (!(index < size)) throw new Error("index " + index + " is outside a tree of " + size);
  let fn = index, sn = size - 1, r = lh;
  for (const p of proof) {
    if (p.length !== 32) throw new Error("proof hash of " + p.length + " bytes");
    if (sn === 0) throw new Error("proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("proof is too short");
  return r;
}

// parseCheckpoint splits a signed note into its body (the signed text) and
// signatures, and reads the checkpoint's origin, size and root hash.
export function parseCheckpoint(note) {
  const i = note.indexOf("\n\n");
  if (i < 0) throw new Error("checkpoint has no signature block");
  const text = note.slice(0, i + 1);
  const lines = text.split("\n");
  if (lines.length < 4) throw new Error("checkpoint body is too short");
  const size = Number(lines[1]);
  if (!/^\d+$/.test(lines[1]) || !Number.isSafeInteger(size)) throw new Error("checkpoint size is not a number");
  const root = b64(lines[2]);
  if (root.length !== 32) throw new Error("checkpoint root is not a SHA-256 hash");
  const sigs = [];
  for (const line of note.slice(i + 2).split("\n")) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error("malformed signature line");
    const raw = b64(m[2]);
    if (raw.length < 5) throw new Error("short signature");
    const hash = ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0;
    sigs.push({ name: m[1], hash, sig: raw.slice(4) });
  }
  return { text, origin: lines[0], size, root, sigs };
}

// parseVerifierKey reads a signed-note verifier key "name+hash+base64".
export function parseVerifierKey(key) {
  // The name holds no "+", but the base64 key may.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec((key || "").trim());
  if (!m) throw new Error("malformed verifier key");
  const parts = [m[1], m[2], m[3]];
  const raw = b64(parts[2]);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("verifier key is not an Ed25519 key");
  return { name: parts[0], hash: parseInt(parts[1], 16) >>> 0, pub: raw.slice(1) };
}

let edSupport;

// ed25519Supported reports whether WebCrypto here verifies Ed25519: it
// imports the public key of RFC 8032's first test vector.
function ed25519Supported() {
  if (!edSupport) {
    const pub = new Uint8Array("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
      .match(/../g).map((h) => parseInt(h, 16)));
    edSupport = crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"])
      .then(() => true, () => false);
  }
  return edSupport;
}

const sigCache = new Map();

// checkSignature verifies the checkpoint's signature under key. It answers
// "verified", "failed" (with reason), "unsupported" (no Ed25519 in this
// browser) or "no-key".
export async function checkSignature(note, key) {
  const memo = key + "\n" + note;
  if (sigCache.has(memo)) return sigCache.get(memo);
  const p = (async () => {
    if (!key) return { status: "no-key", reason: "the log's key is not configured" };
    let k, cp;
    try {
      k = parseVerifierKey(key);
      cp = parseCheckpoint(note);
    } catch (e) {
      return { status: "failed", reason: e.message };
    }
    if (cp.origin !== k.name) return { status: "failed", reason: "checkpoint origin is not the key's name" };
    const s = cp.sigs.find((x) => x.name === k.name && x.hash === k.hash);
    if (!s) return { status: "failed", reason: "no signature by the log's key" };
    if (!(await ed25519Supported())) {
      return { status: "unsupported", reason: "this browser cannot check Ed25519 signatures" };
    }
    let ck;
    try {
      ck = await crypto.subtle.importKey("raw", k.pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return { status: "failed", reason: "the log's key is not a valid Ed25519 key" };
    }
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, ck, s.sig, enc.encode(cp.text));
    return ok ? { status: "verified" } : { status: "failed", reason: "the checkpoint's signature does not verify" };
  })();
  sigCache.set(memo, p);
  return p;
}

// verifyEntry checks one EntryProof (the JSON of GET /v1/audit/entries/{i}).
// expect, when given, holds event fields the page is about to show; each
// must equal the committed event's. It resolves to
// {ok, event, treeSize, root, signature: {status, reason}, reason}.
export async function verifyEntry(p, key, expect) {
  const res = { ok: false, partial: false, event: null, signature: { status: "unchecked" }, reason: "" };
  try {
    if (!window.crypto || !crypto.subtle) throw new Error("this page is not in a secure context (HTTPS), so the browser offers no SHA-256");
    if (!p || typeof p !== "object") throw new Error("no proof was sent");
    if (p.pending) throw new Error("not yet in a signed checkpoint");
    const version = p.leaf_version ?? 1;
    if (version !== 1 && version !== 2) throw new Error("unknown leaf version " + version);
    const leaf = b64(p.leaf);
    if (leaf.length !== 33 || leaf[0] !== version) throw new Error("the leaf is not of version " + version);
    const hidden = version === 1 && !p.event_bytes;
    if (!hidden) {
      const eventBytes = b64(p.event_bytes);
      const committed = JSON.parse(new TextDecoder().decode(eventBytes));
      let shown = p.event || committed;
      if (version === 2 && p.actor_salt && p.event) {
        const c = await actorCommitment(b64(p.actor_salt), String(p.event.actor));
        if (c !== committed.actor) throw new Error("the actor shown does not open the committed actor");
        shown = { ...p.event, actor: c };
      }
      if (JSON.stringify(shown) !== JSON.stringify(committed)) throw new Error("the event shown is not the committed one");
      res.event = p.event || committed;
      for (const [k, v] of Object.entries(expect || {})) {
        const got = res.event[k];
        if (k === "time") {
          if (Date.parse(got) !== Date.parse(v)) throw new Error("time differs from the committed event");
          continue;
        }
        if ((got ?? "") !== (v ?? "")) throw new Error(k + " differs from the committed event");
      }
      const digest = await sha256(concat(b64(p.salt), eventBytes));
      if (!equal(leaf, concat(new Uint8Array([version]), digest))) throw new Error("the leaf does not commit to this event");
    }
    const cp = parseCheckpoint(p.checkpoint || "");
    if (cp.size !== Number(p.tree_size)) throw new Error("the proof is for another tree size than the checkpoint's");
    const root = await rootFromInclusionProof(Number(p.index), cp.size, await leafHash(leaf), (p.proof || []).map(b64));
    if (!equal(root, cp.root)) throw new Error("the inclusion proof does not lead to the checkpoint's root");
    res.treeSize = cp.size;
    res.root = toB64(cp.root);
    res.signature = await checkSignature(p.checkpoint, key);
    if (res.signature.status === "failed") throw new Error("checkpoint signature: " + res.signature.reason);
    if (hidden) {
      res.partial = true;
      res.reason = "in the signed log; recorded before entries hid the staff member, so its details are not shown for checking";
      return res;
    }
    res.ok = true;
  } catch (e) {
    res.reason = e.message || String(e);
  }
  return res;
}

let configPromise;

// logKey fetches the log's verifier key from the page's config.
export function logKey() {
  if (!configPromise) {
    configPromise = fetch("/assets/config.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : {}))
      .then((c) => c.verifier_key || "")
      .catch(() => "");
  }
  return configPromise;
}
