// The customer's own page: sign in with phone and a one-time code, see every
// access to one's record, each checked here against the signed audit log,
// and flag an access one did not ask for.
//
// The session token lives in this tab's sessionStorage only and is sent as
// a Bearer token; the page asks only about the signed-in customer.
import { el, fill, api, APIError, describeError, errorBox, timeEl, badge, logo } from "./common.js";
import { verifyEntry, logKey } from "./verify.js";

const $ = (id) => document.getElementById(id);
const KEY = "custos.subject";
let loginID = "";
let retries = 0; // automatic reloads while entries await a checkpoint

function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (s && s.token && s.customer && (!s.expires_at || Date.parse(s.expires_at) > Date.now())) return s;
  } catch { /* fall through */ }
  sessionStorage.removeItem(KEY);
  return null;
}

function show(step) {
  for (const id of ["step-phone", "step-code", "history"]) $(id).hidden = id !== step;
  $("who").hidden = step !== "history";
  if (step !== "history") $("incidents").hidden = true;
}

function start() {
  $("brand").prepend(logo());
  $("phone-form").addEventListener("submit", onPhone);
  $("code-form").addEventListener("submit", onCode);
  $("code-back").addEventListener("click", () => { loginID = ""; show("step-phone"); $("phone").focus(); });
  $("signout").addEventListener("click", () => signOut("You are signed out."));
  $("refresh").addEventListener("click", loadHistory);
  $("erase-btn").addEventListener("click", askErasure);
  if (session()) {
    show("history");
    loadHistory();
  } else {
    show("step-phone");
  }
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  fill($("accesses"));
  fill($("history-summary"));
  show("step-phone");
  fill($("phone-msg"), message ? el("div", { class: "msg msg-info", role: "status" }, message) : null);
  $("phone").focus();
}

async function onPhone(ev) {
  ev.preventDefault();
  const phone = $("phone").value.trim();
  if (!phone) {
    fill($("phone-msg"), el("div", { class: "msg msg-error", role: "alert" }, "Enter your phone number."));
    return;
  }
  $("phone-btn").disabled = true;
  try {
    const r = await api("/v1/subjects/login", { body: { phone } });
    loginID = r.id;
    fill($("phone-msg"));
    fill($("code-msg"));
    $("code").value = "";
    show("step-code");
    $("code").focus();
  } catch (e) {
    fill($("phone-msg"), errorBox(e));
  } finally {
    $("phone-btn").disabled = false;
  }
}

async function onCode(ev) {
  ev.preventDefault();
  const code = $("code").value.trim();
  if (!/^\d{6}$/.test(code)) {
    fill($("code-msg"), el("div", { class: "msg msg-error", role: "alert" }, "The code has six digits."));
    return;
  }
  $("code-btn").disabled = true;
  try {
    const r = await api("/v1/subjects/login/" + encodeURIComponent(loginID) + "/confirm", { body: { code } });
    sessionStorage.setItem(KEY, JSON.stringify({ token: r.token, customer: r.customer, expires_at: r.expires_at }));
    $("code").value = "";
    show("history");
    loadHistory();
  } catch (e) {
    const text = e instanceof APIError && e.code === "forbidden" ? e.message.replace(/^./, (c) => c.toUpperCase()) + "." : describeError(e);
    fill($("code-msg"), el("div", { class: "msg msg-error", role: "alert" }, text));
  } finally {
    $("code-btn").disabled = false;
  }
}

const ACTIONS = {
  "customer.read": "Opened your record",
  "customer.search": "Looked you up by phone or account",
  "customer.export": "Tried to export records",
};

function purposeText(p) {
  if (!p) return "No reason given";
  const [kind, id] = [p.split(":")[0], p.slice(p.indexOf(":") + 1)];
  if (kind === "ticket") return "Service ticket " + id;
  if (kind === "consent") return "You confirmed it with a code (" + id + ")";
  if (kind === "breakglass") return "Emergency access, approved by a second person";
  return p;
}

function reasonText(r) {
  return {
    purpose_required: "no reason was given", purpose_invalid: "the reason given did not cover you",
    quota_exceeded: "over their daily limit", principal_suspended: "their account is suspended",
    forbidden: "not permitted for their role", not_found: "not found",
  }[r] || r;
}

function objected() {
  try { return new Set(JSON.parse(sessionStorage.getItem(KEY + ".objected") || "[]")); } catch { return new Set(); }
}

// askErasure sends the customer's request to be erased, after a confirm.
async function askErasure() {
  const s = session();
  if (!s) { signOut("Your session has ended. Sign in again."); return; }
  if (!window.confirm("Ask us to erase your name, phone number and account for good?")) return;
  $("erase-btn").disabled = true;
  try {
    await api("/v1/subjects/" + encodeURIComponent(s.customer) + "/erasure-request", { body: {}, token: s.token });
    fill($("erase-msg"), el("div", { class: "msg msg-ok", role: "status" }, "Your request is with our privacy team."));
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { signOut("Your session has ended. Sign in again."); return; }
    fill($("erase-msg"), errorBox(e));
    $("erase-btn").disabled = false;
  }
}

// loadIncidents shows the incidents the customer's record appeared in.
async function loadIncidents(s) {
  let data;
  try {
    data = await api("/v1/subjects/" + encodeURIComponent(s.customer) + "/incidents", { token: s.token });
  } catch {
    $("incidents").hidden = true;
    return;
  }
  const ins = data.incidents || [];
  $("incidents").hidden = ins.length === 0;
  fill($("incident-list"), ins.map((i) => el("li", { class: "incident", "data-incident": i.id },
    el("h2", {}, i.title),
    el("p", {}, i.notice),
    el("dl", { class: "kv" },
      el("dt", {}, "Found"), el("dd", {}, timeEl(i.found_at)),
      el("dt", {}, "It held your"), el("dd", {}, (i.fields || []).join(", ")),
      el("dt", {}, "Opened before by"), el("dd", {}, (i.read_by || []).length
        ? el("ul", { class: "read-by" }, i.read_by.map((r) => el("li", {}, (r.org || "a company") + " · " +
            (r.role || "staff").replace(/_/g, " ") + (r.site ? " at " + r.site : "") + " · " +
            (r.reads === 1 ? "once" : r.reads + " times") + ", last ", timeEl(r.last))))
        : el("strong", { class: "none-through" }, "Nobody: your record was not opened through custos before the list was found."))))));
}

async function loadHistory() {
  const s = session();
  if (!s) { signOut("Your session has ended. Sign in again."); return; }
  loadIncidents(s);
  const list = $("accesses");
  fill($("history-msg"));
  fill($("history-summary"), el("p", { class: "muted" }, "Loading your history…"));
  let data;
  try {
    data = await api("/v1/subjects/" + encodeURIComponent(s.customer) + "/accesses", { token: s.token });
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { signOut("Your session has ended. Sign in again."); return; }
    fill($("history-summary"));
    fill($("history-msg"), errorBox(e));
    return;
  }
  if (data.customer !== s.customer) {
    fill($("history-summary"));
    fill($("history-msg"), el("div", { class: "msg msg-error", role: "alert" }, "The server answered for another record; nothing is shown."));
    fill(list);
    return;
  }
  const accesses = (data.accesses || []).slice().sort((a, b) => b.index - a.index);
  const key = await logKey();
  const done = objected();
  fill(list, accesses.map((a) => accessItem(a, s, key, done)));
  const summary = $("history-summary");
  if (!accesses.length) {
    fill(summary, el("p", {}, "Nobody has accessed your record through custos."));
    return;
  }
  fill(summary, el("p", {}, accesses.length === 1 ? "1 access." : accesses.length + " accesses.", " ",
    el("span", { id: "verify-count", class: "muted" }, "Checking each against the audit log…")));
  const results = await Promise.all([...list.querySelectorAll("li.access")].map((li) => li.verified));
  const ok = results.filter(Boolean).length;
  // Entries not yet in a signed checkpoint are checked again shortly.
  const pending = accesses.some((a) => a.proof && a.proof.pending);
  if (pending && retries < 5) {
    retries++;
    setTimeout(loadHistory, 3000);
  } else if (!pending) {
    retries = 0;
  }
  fill($("verify-count"), ok === results.length
    ? ["All ", String(ok), " verified against the signed audit log."]
    : [String(ok), " of ", String(results.length), " verified."]);
}

function accessItem(a, s, key, done) {
  const allowed = a.decision === "allow";
  const status = el("div", { class: "verify", "aria-live": "polite" }, badge("Checking…", "neutral"));
  const obj = done.has(a.index)
    ? el("span", { class: "badge b-info", role: "status" }, "Reported to the security team")
    : el("button", { class: "btn btn-quiet btn-small", type: "button", "data-index": a.index,
        onclick: (ev) => object(ev, a.index) }, "I was not there / I did not ask for this");
  const li = el("li", { class: "access", "data-index": a.index, "data-decision": a.decision },
    el("div", { class: "access-head" },
      el("span", { class: "org" }, a.org || "Unknown company"),
      allowed ? badge("Allowed", "ok") : badge("Denied", "bad")),
    el("dl", { class: "kv" },
      el("dt", {}, "When"), el("dd", {}, timeEl(a.time)),
      el("dt", {}, "Who"), el("dd", {}, (a.role || "staff").replace(/_/g, " ")),
      el("dt", {}, "Where"), el("dd", {}, a.site || "—"),
      el("dt", {}, "What"), el("dd", {}, ACTIONS[a.action] || a.action,
        allowed && (a.fields || []).length ? " · saw " + a.fields.join(", ") : ""),
      el("dt", {}, "Why"), el("dd", {}, purposeText(a.purpose)),
      allowed ? null : el("dt", {}, "Refused because"), allowed ? null : el("dd", {}, reasonText(a.reason))),
    el("div", { class: "access-foot" }, status, obj));
  // The page checks the proof itself; "verified" appears only if the
  // committed event is exactly this access to this customer.
  li.verified = verifyEntry(a.proof, key, {
    customer: s.customer, time: a.time, org: a.org, role: a.role, site: a.site, action: a.action, decision: a.decision,
  }).then((r) => {
    li.dataset.verified = r.ok ? "true" : "false";
    if (r.ok) {
      fill(status, badge("Verified", "ok"), " ", el("span", { class: "verify-detail" },
        "entry #" + a.index + " of the audit log (" + r.treeSize + " entries)" +
        (r.signature.status === "verified" ? "; signature checked" : "")));
    } else if (r.partial) {
      fill(status, badge("In the log", "info"), " ", el("span", { class: "verify-detail" },
        "entry #" + a.index + " of the audit log (" + r.treeSize + " entries); " + r.reason));
    } else if (a.proof && a.proof.pending) {
      fill(status, badge("Not yet in the log", "warn"), " ", el("span", { class: "verify-detail" }, "refresh in a moment"));
    } else {
      fill(status, badge("Not verified", "bad"), " ", el("span", { class: "verify-detail" }, r.reason));
    }
    return r.ok;
  });
  return li;
}

async function object(ev, index) {
  const s = session();
  if (!s) { signOut("Your session has ended. Sign in again."); return; }
  const b = ev.currentTarget;
  b.disabled = true;
  try {
    await api("/v1/subjects/" + encodeURIComponent(s.customer) + "/objections", { body: { index }, token: s.token });
    const done = objected();
    done.add(index);
    sessionStorage.setItem(KEY + ".objected", JSON.stringify([...done]));
    b.replaceWith(el("span", { class: "badge b-info", role: "status" }, "Reported to the security team"));
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { signOut("Your session has ended. Sign in again."); return; }
    b.disabled = false;
    fill($("history-msg"), errorBox(e));
  }
}

start();
