// The security team's dashboard: sign-in with an API token (kept in an
// HttpOnly session cookie), live alerts with containment, people by risk
// with their timelines, the audit log with proofs checked here, leak trace,
// and the policies in force.
import {
  el, fill, api, APIError, describeError, errorBox, timeEl, pct, num,
  scoreEl, applyWidths, badge, logo, fmtDuration,
} from "./common.js";
import { verifyEntry, checkSignature, parseCheckpoint, logKey } from "./verify.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["alerts", "cases", "people", "audit", "trace", "incidents", "policies"];
const POLL_MS = 4000;

const state = { me: null, view: "", pollTimer: 0, alertsKey: "", auditBefore: null, auditLowest: null, auditOlder: null, auditSeq: 0 };

// ---- session ----

async function start() {
  $("signin-mark").prepend(logo());
  $("brand").prepend(logo());
  $("signin-form").addEventListener("submit", onSignIn);
  $("signout").addEventListener("click", onSignOut);
  $("trace-form").addEventListener("submit", onTrace);
  $("audit-newest").addEventListener("click", () => { location.hash = "audit"; loadAudit(null); });
  $("audit-search").addEventListener("submit", onAuditSearch);
  $("incident-form").addEventListener("submit", onIncident);
  $("audit-clear").addEventListener("click", () => { $("audit-search").reset(); location.hash = "audit"; });
  $("audit-older").addEventListener("click", () => state.auditOlder && state.auditOlder());
  window.addEventListener("hashchange", () => {
    route();
    const h = document.querySelector("main > section:not([hidden]) h1");
    if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); }
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.view === "alerts") pollAlerts(); });
  let s = { signed_in: false };
  try {
    s = await api("/session");
  } catch (e) {
    fill($("signin-msg"), errorBox(e));
  }
  if (s.signed_in) showApp(s);
  else showSignIn();
}

function showSignIn(message) {
  stopPolling();
  state.me = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  fill($("signin-msg"), message ? el("div", { class: "msg msg-info", role: "status" }, message) : null);
  $("token").focus();
}

function showApp(me) {
  state.me = me;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who-name").textContent = me.name || me.id;
  $("who-role").textContent = "· " + (me.role || "").replace(/_/g, " ");
  route();
}

async function onSignIn(ev) {
  ev.preventDefault();
  const input = $("token");
  const tok = input.value.trim();
  if (!tok) {
    fill($("signin-msg"), el("div", { class: "msg msg-error", role: "alert" }, "Enter your API token."));
    input.focus();
    return;
  }
  $("signin-btn").disabled = true;
  try {
    const me = await api("/session", {
      body: new URLSearchParams({ token: tok }).toString(),
      contentType: "application/x-www-form-urlencoded",
    });
    input.value = "";
    fill($("signin-msg"));
    showApp(me);
  } catch (e) {
    const text = e instanceof APIError && e.status === 401 ? "That token was not accepted." : describeError(e);
    fill($("signin-msg"), el("div", { class: "msg msg-error", role: "alert" }, text));
    input.select();
  } finally {
    $("signin-btn").disabled = false;
  }
}

async function onSignOut() {
  try {
    await api("/session/logout", { method: "POST" });
  } catch (e) {
    // The cookie is cleared by the server; if it could not be reached, say so.
    showSignIn(describeError(e));
    return;
  }
  history.replaceState(null, "", "/");
  showSignIn("You are signed out.");
}

// handleAuth sends the user back to sign-in when the session has ended.
function handleAuth(e) {
  if (e instanceof APIError && e.status === 401) {
    showSignIn("Your session has ended. Sign in again.");
    return true;
  }
  return false;
}

// load gets path from the API. When that fails it shows the error in box
// (or, when the session has ended, the sign-in) and returns undefined.
async function load(box, path) {
  try {
    return await api(path);
  } catch (e) {
    if (!handleAuth(e)) fill(box, errorBox(e));
  }
}

// ---- routing ----

function route() {
  if (!state.me) return;
  const [view, arg] = decodeURIComponent(location.hash.slice(1)).split("/");
  // Auditors and privacy officers start at the audit log; the security
  // team at the alerts.
  const home = /^(auditor|privacy_officer)$/.test(state.me.role || "") ? "audit" : "alerts";
  const v = VIEWS.includes(view) ? view : home;
  state.view = v;
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.dataset.view !== v;
  for (const a of document.querySelectorAll(".topbar nav a")) {
    if (a.dataset.view === v) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = { alerts: "Alerts", cases: "Cases", people: "People", audit: "Audit log", trace: "Trace", incidents: "Incidents", policies: "Policies" }[v] + " — custos";
  stopPolling();
  if (v === "alerts") pollAlerts();
  if (v === "cases") loadCases(arg);
  if (v === "incidents") loadIncidents(arg);
  if (v === "people") loadPeople(arg);
  if (v === "audit") { if (arg) searchAudit(new URLSearchParams(arg)); else loadAudit(null); }
  if (v === "policies") loadPolicies();
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
}

// ---- alerts ----

async function pollAlerts() {
  stopPolling();
  const live = $("alerts-live");
  try {
    const data = await api("/v1/alerts?limit=100");
    const alerts = data.alerts || [];
    const key = JSON.stringify(alerts);
    if (key !== state.alertsKey) {
      const fresh = state.alertsSeen === undefined ? 0 : alerts.filter((a) => a.id > state.alertsSeen).length;
      state.alertsSeen = alerts.reduce((m, a) => Math.max(m, a.id || 0), state.alertsSeen || 0);
      if (fresh) $("alerts-announce").textContent = fresh === 1 ? "1 new alert" : fresh + " new alerts";
      state.alertsKey = key;
      renderAlerts(alerts);
    }
    fill(live, el("span", { class: "dot", "aria-hidden": "true" }), "Live · updated " + new Date().toLocaleTimeString());
    if (!$("alerts-msg").dataset.keep) fill($("alerts-msg"));
  } catch (e) {
    if (handleAuth(e)) return;
    fill(live, el("span", { class: "dot stale", "aria-hidden": "true" }), "Not updating");
    fill($("alerts-msg"), errorBox(e));
    // A refusal will not change by asking again (and each one is audited).
    if (e instanceof APIError && e.status >= 400 && e.status < 500) return;
  }
  if (state.view === "alerts" && !document.hidden) state.pollTimer = setTimeout(pollAlerts, POLL_MS);
}

function containmentBadge(a) {
  const st = a.actor_status || "";
  if (st === "suspended") return badge("Suspended", "bad");
  if (a.action === "stepup") return badge("Step-up required", "warn");
  if (a.action === "suspend") return badge("Was suspended", "neutral");
  return badge("No containment", "neutral");
}

// groupAlerts folds alerts (newest first) into one case per person.
function groupAlerts(alerts) {
  const by = new Map();
  for (const a of alerts) {
    let g = by.get(a.actor);
    if (!g) {
      g = { actor: a.actor, latest: a, alerts: [], maxScore: 0, kinds: [] };
      by.set(a.actor, g);
    }
    g.alerts.push(a);
    g.maxScore = Math.max(g.maxScore, a.score || 0);
    if (a.kind && !g.kinds.includes(a.kind)) g.kinds.push(a.kind);
  }
  return [...by.values()];
}

function renderAlerts(alerts) {
  const body = $("alerts-body");
  if (!alerts.length) {
    fill(body, el("p", { class: "muted" }, "No alerts. Detectors are watching every read."));
    return;
  }
  const cases = groupAlerts(alerts);
  const open = cases.filter((g) => g.latest.actor_status !== "suspended").length;
  const summary = el("p", { class: "alert-summary" },
    el("strong", {}, String(cases.length)), cases.length === 1 ? " person flagged · " : " people flagged · ",
    el("strong", { class: open ? "t-bad" : null }, String(open)), " not contained · ",
    el("strong", {}, String(cases.length - open)), " suspended · ",
    el("span", { class: "muted" }, alerts.length === 1 ? "1 alert" : alerts.length + " alerts"));
  const list = el("ul", { class: "alert-list", "aria-label": "Flagged people, most recent alert first" });
  for (const g of cases) {
    const a = g.latest;
    const suspended = a.actor_status === "suspended";
    const btn = suspended
      ? el("button", { class: "btn btn-quiet btn-small", type: "button", "data-actor": a.actor, "data-op": "reinstate",
          "aria-label": "Reinstate " + a.actor, onclick: onContain }, "Reinstate")
      : el("button", { class: "btn btn-danger btn-small", type: "button", "data-actor": a.actor, "data-op": "suspend",
          "aria-label": "Contain " + a.actor + " (suspend)", onclick: onContain }, "Contain");
    const earlier = g.alerts.slice(1);
    list.append(el("li", { class: "alert-item", "data-alert": a.id, "data-actor": a.actor },
      el("div", { class: "alert-time" }, timeEl(a.time)),
      el("div", {},
        el("div", {}, el("span", { class: "who" }, a.actor), " ", g.kinds.map((k) => [badge(k, "info"), " "]), containmentBadge(a)),
        el("ul", { class: "reasons" }, (a.reasons || []).map((r) => el("li", {}, r))),
        el("div", { class: "facts" },
          el("span", {}, "Score ", scoreEl(a.score)),
          el("span", {}, num(a.records), " records"),
          g.alerts.length > 1 ? el("span", {}, g.alerts.length + " alerts, highest " + g.maxScore.toFixed(2)) : null,
          el("a", { href: "#people/" + encodeURIComponent(a.actor) }, "Timeline")),
        earlier.length ? el("details", { class: "earlier" }, el("summary", {}, "Earlier alerts (" + earlier.length + ")"),
          el("ul", { class: "reasons small" }, earlier.map((e) => el("li", {}, timeEl(e.time), " · ", e.kind || "alert", " · ",
            (e.score ?? 0).toFixed(2), " · ", (e.reasons || []).join("; "))))) : null),
      el("div", { class: "actions" }, btn, " ",
        el("button", { class: "btn btn-quiet btn-small", type: "button", "data-alert": a.id, onclick: onOpenCase,
          "aria-label": "Open a case on " + a.actor }, "Open case"))));
  }
  fill(body, summary, list);
  applyWidths(body);
}

async function onContain(ev) {
  const b = ev.currentTarget;
  const actor = b.dataset.actor, op = b.dataset.op;
  b.disabled = true;
  const msg = $("alerts-msg");
  try {
    const reason = (op === "suspend" ? "contained" : "reinstated") + " from the dashboard after reviewing alert " + (b.closest("[data-alert]")?.dataset.alert || "");
    const r = await api("/v1/principals/" + encodeURIComponent(actor) + "/" + op, { method: "POST", body: { reason } });
    msg.dataset.keep = "1";
    fill(msg, el("div", { class: "msg msg-ok", role: "status" },
      r.status === "pending_approval" ? "Recorded. A second analyst must make the same call to " + op + " " + actor + "." :
      op === "suspend" ? actor + " is contained: suspended, every read refused until reinstated." : actor + " is reinstated (status " + r.status + ")."));
    setTimeout(() => { delete msg.dataset.keep; }, 8000);
    state.alertsKey = "";
    await pollAlerts();
  } catch (e) {
    if (handleAuth(e)) return;
    fill(msg, errorBox(e));
    b.disabled = false;
  }
}

// ---- people ----

async function loadPeople(selected) {
  const body = $("people-body");
  fill(body, el("p", { class: "muted" }, "Loading…"));
  let data;
  try {
    data = await api("/v1/people?limit=100");
  } catch (e) {
    if (handleAuth(e)) return;
    fill(body, errorBox(e));
    if (selected) loadPerson(selected);
    return;
  }
  const people = data.people || [];
  if (!people.length) {
    fill(body, el("p", { class: "muted" }, "Nobody has read enough yet to rank."));
  } else {
    const rows = people.map((p, i) => {
      const id = p.id || p.actor;
      return el("tr", { "data-person": id, class: id === selected ? "selected" : null },
        el("td", { class: "num" }, i + 1),
        el("td", {}, el("button", { class: "rowlink", type: "button", onclick: () => { location.hash = "people/" + encodeURIComponent(id); } }, id),
          p.status === "suspended" ? [" ", badge("suspended", "bad")] : null,
          el("div", { class: "small muted" }, [p.role, p.org].filter(Boolean).join(" · ").replace(/_/g, " "))),
        el("td", {}, scoreEl(p.score ?? p.risk)),
        el("td", { class: "num" }, num(p.records)));
    });
    fill(body, el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden" }, "People ranked by risk, highest first"),
      el("thead", {}, el("tr", {}, el("th", { class: "num", scope: "col" }, "#"), el("th", { scope: "col" }, "Person"),
        el("th", { scope: "col" }, "Risk"), el("th", { class: "num", scope: "col" }, "Records"))),
      el("tbody", {}, rows))));
    applyWidths(body);
    if (!selected && people.length) selected = people[0].id || people[0].actor;
  }
  if (selected) loadPerson(selected);
}

async function loadPerson(id) {
  const body = $("person-body");
  fill(body, el("p", { class: "muted" }, "Loading " + id + "…"));
  for (const tr of document.querySelectorAll("#people-body tr[data-person]")) tr.classList.toggle("selected", tr.dataset.person === id);
  let p;
  try {
    const data = await api("/v1/people/" + encodeURIComponent(id));
    p = Object.assign({}, data.profile, { status: data.status });
  } catch (e) {
    if (handleAuth(e)) return;
    fill(body, el("h2", {}, id), errorBox(e));
    return;
  }
  const days = p.days || p.timeline || [];
  fill(body,
    el("div", { class: "panel-head" }, el("h2", {}, p.id || p.actor || id, " ", p.name ? el("span", { class: "muted" }, "· " + p.name) : null),
      el("span", {}, scoreEl(p.score ?? p.risk))),
    el("p", { class: "small muted" }, [p.role, p.org, p.site].filter(Boolean).join(" · ").replace(/_/g, " "),
      p.status ? [" · ", badge(p.status, p.status === "suspended" ? "bad" : "neutral")] : null),
    (p.reasons || []).length ? el("ul", { class: "reasons" }, p.reasons.map((r) => el("li", {}, r))) : null,
    el("h3", {}, "Daily reads against the peer band"),
    days.length ? timeline(days, p.id || p.actor || id) : el("p", { class: "muted" }, "No reads recorded yet."),
    days.length ? timelineTable(days) : null,
    Array.isArray(p.hours) && p.hours.length === 24 && p.hours.some((h) => h > 0)
      ? [el("h3", {}, "Reads by hour of day"), hoursChart(p.hours, p.id || p.actor || id)] : null);
  applyWidths(body);
  if (window.matchMedia("(max-width: 820px)").matches && location.hash.startsWith("#people/")) {
    $("person-panel").scrollIntoView({ block: "start" });
  }
}

const dayOf = (d) => String(d.day).slice(0, 10);
const readsOf = (d) => Number(d.reads ?? 0);
const lowOf = () => 0; // the band runs from 0 to the peers' 90th percentile
const highOf = (d) => Number(d.peer_high ?? 0);
const medOf = (d) => Number(d.peer_median ?? 0);
const unexplOf = (d) => Number(d.unexplained ?? 0);

// timeline draws daily reads as a line over the peers' band (low..high)
// and median, with days above the band marked.
function timeline(days, who) {
  const W = 640, H = 260, L = 52, R = 24, T = 14, B = 30;
  const n = days.length;
  const ymax = Math.max(1, ...days.map(readsOf), ...days.map(highOf)) * 1.1;
  const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / ymax);
  const pts = (f) => days.map((d, i) => x(i).toFixed(1) + "," + y(f(d)).toFixed(1));
  const over = days.filter((d) => readsOf(d) > highOf(d)).length;
  const svg = el("svg:svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "tl-title tl-desc" },
    el("svg:title", { id: "tl-title" }, "Daily reads of " + who + " against peers"),
    el("svg:desc", { id: "tl-desc" }, `${n} days; ${over} above the peer band. Table below.`));
  // grid and y ticks
  const ticks = niceTicks(ymax);
  for (const t of ticks) {
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: "#eaecf0", "stroke-width": 1 }),
      el("svg:text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" }, t.toLocaleString()));
  }
  // unexplained reads: light bars under everything else
  const bw = Math.max(2, Math.min(18, ((W - L - R) / Math.max(n, 1)) * 0.6));
  days.forEach((d, i) => {
    const u = unexplOf(d);
    if (u > 0) svg.append(el("svg:rect", { x: x(i) - bw / 2, y: y(u), width: bw, height: y(0) - y(u), fill: "#f4c7a1", opacity: ".85" }));
  });
  // band
  const band = pts(highOf).concat(pts(lowOf).reverse()).join(" ");
  svg.append(el("svg:polygon", { points: band, fill: "#d6e2f3", stroke: "none" }));
  svg.append(el("svg:polyline", { points: pts(medOf).join(" "), fill: "none", stroke: "#7c8ea8", "stroke-width": 1.5, "stroke-dasharray": "4 3" }));
  svg.append(el("svg:polyline", { points: pts(readsOf).join(" "), fill: "none", stroke: "#234b87", "stroke-width": 2.25, "stroke-linejoin": "round" }));
  days.forEach((d, i) => {
    const hot = readsOf(d) > highOf(d);
    svg.append(el("svg:circle", { cx: x(i), cy: y(readsOf(d)), r: hot ? 4 : 2.5, fill: hot ? "#b42318" : "#234b87" },
      el("svg:title", {}, `${dayOf(d)}: ${readsOf(d)} reads, ${unexplOf(d)} unexplained (peers: median ${medOf(d)}, 90th percentile ${highOf(d)})`)));
  });
  // x labels
  const every = Math.max(1, Math.ceil(n / 7));
  days.forEach((d, i) => {
    if (i % every === 0 || i === n - 1) {
      svg.append(el("svg:text", { x: x(i), y: H - 10, "text-anchor": "middle" }, dayOf(d).slice(5)));
    }
  });
  svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#98a2b3", "stroke-width": 1 }),
    el("svg:text", { x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${T + (H - T - B) / 2})` }, "customers read per day"));
  const legend = el("div", { class: "legend", "aria-hidden": "true" },
    el("span", {}, el("span", { class: "sw sw-reads" }), "reads per day"),
    el("span", {}, el("span", { class: "sw sw-band" }), "peers' normal range (up to 90th percentile)"),
    el("span", {}, el("span", { class: "sw sw-median" }), "peer median"),
    el("span", {}, el("span", { class: "sw sw-over" }), "above the band"),
    days.some((d) => unexplOf(d) > 0) ? el("span", {}, el("span", { class: "sw sw-unexpl" }), "unexplained reads (no visit or ticket)") : null);
  return el("figure", { class: "timeline", "data-days": n }, svg, legend);
}

// hoursChart draws the share of a person's reads in each hour of the day;
// hours outside 07:00–21:00 are drawn darker.
function hoursChart(hours, who) {
  const W = 640, H = 130, L = 52, R = 24, T = 10, B = 24;
  const max = Math.max(...hours, 0.01);
  const bw = (W - L - R) / 24;
  const night = hours.reduce((a, h, i) => a + (i < 7 || i >= 21 ? h : 0), 0);
  const svg = el("svg:svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "hr-title hr-desc" },
    el("svg:title", { id: "hr-title" }, "Reads of " + who + " by hour of day"),
    el("svg:desc", { id: "hr-desc" }, pct(night) + " of reads between 21:00 and 07:00."));
  hours.forEach((h, i) => {
    const bh = ((H - T - B) * h) / max;
    const off = i < 7 || i >= 21;
    svg.append(el("svg:rect", { x: L + i * bw + 1, y: H - B - bh, width: bw - 2, height: bh, fill: off ? "#7a2e0e" : "#7c8ea8" },
      el("svg:title", {}, `${String(i).padStart(2, "0")}:00–${String(i + 1).padStart(2, "0")}:00: ${pct(h)} of reads`)));
    if (i % 3 === 0) svg.append(el("svg:text", { x: L + i * bw + bw / 2, y: H - 8, "text-anchor": "middle" }, String(i).padStart(2, "0") + ":00"));
  });
  svg.append(el("svg:line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#98a2b3", "stroke-width": 1 }));
  return el("figure", { class: "timeline" }, svg,
    el("p", { class: "small muted" }, pct(night) + " of reads outside 07:00–21:00 (darker bars)."));
}

function niceTicks(max) {
  const raw = max / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = 0; v <= max; v += step) out.push(Math.round(v * 100) / 100);
  return out;
}

function timelineTable(days) {
  return el("details", {}, el("summary", {}, "Show as a table"),
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Day", "Reads", "Unexplained", "Peer median", "Peer high"].map((h, i) => el("th", { scope: "col", class: i ? "num" : null }, h)))),
      el("tbody", {}, days.map((d) => el("tr", {}, el("td", {}, dayOf(d)), el("td", { class: "num" }, readsOf(d)),
        el("td", { class: "num" }, unexplOf(d)), el("td", { class: "num" }, medOf(d)), el("td", { class: "num" }, highOf(d))))))));
}

// ---- audit ----

async function loadAudit(before) {
  const body = $("audit-body");
  const cpBox = $("audit-cp");
  fill(body, el("p", { class: "muted" }, "Loading…"));
  let data;
  const seq = ++state.auditSeq;
  try {
    data = await api("/v1/audit/entries?limit=25" + (before !== null ? "&from=" + before : ""));
    if (seq !== state.auditSeq) return; // a newer listing or search owns the page
  } catch (e) {
    if (handleAuth(e)) return;
    fill(cpBox);
    fill(body, errorBox(e));
    return;
  }
  const key = await logKey();
  if (seq !== state.auditSeq) return;
  const entries = data.entries || [];
  state.auditLowest = entries.length ? entries[entries.length - 1].index : 0;
  $("audit-older").disabled = !(state.auditLowest > 0);
  state.auditOlder = state.auditLowest > 0 ? () => loadAudit(state.auditLowest) : null;
  // checkpoint
  if (data.checkpoint) {
    const sigCell = el("dd", { id: "cp-sig" }, "checking…");
    let cp = null;
    try { cp = parseCheckpoint(data.checkpoint); } catch { /* shown below */ }
    fill(cpBox, el("dl", { class: "kv small" },
      el("dt", {}, "Log"), el("dd", { class: "mono" }, cp ? cp.origin : "—"),
      el("dt", {}, "Signed tree size"), el("dd", {}, num(data.tree_size), " of ", num(data.size), " entries"),
      el("dt", {}, "Checkpoint signature"), sigCell));
    checkSignature(data.checkpoint, key).then((s) => fill(sigCell, sigBadge(s)));
  } else {
    fill(cpBox, el("div", { class: "msg msg-info" }, "No signed checkpoint yet."));
  }
  if (!entries.length) {
    fill(body, el("p", { class: "muted" }, "The log is empty."));
    return;
  }
  const tally = el("p", { class: "small", id: "audit-tally", "aria-live": "polite" }, "Checking " + entries.length + " proofs…");
  const checks = [];
  const rows = entries.map((e) => {
    const ev = e.event || {};
    const cell = el("td", { class: "proof", "data-index": e.index }, e.pending ? badge("Pending", "warn") : "checking…");
    if (!e.pending) {
      checks.push(verifyEntry(e, key).then((r) => {
        cell.dataset.verified = r.ok ? "true" : "false";
        fill(cell, r.ok ? badge("Verified", "ok") : badge("Failed", "bad"), r.ok ? null : el("div", { class: "small" }, r.reason));
        if (r.ok) cell.title = "Inclusion proof checked against tree size " + r.treeSize + "; " + sigText(r.signature);
        return r.ok;
      }));
    }
    return el("tr", { "data-index": e.index },
      el("td", { class: "num" }, e.index),
      el("td", { class: "small" }, timeEl(ev.time)),
      el("td", {}, historyLink("actor", ev.actor), ev.role ? el("div", { class: "small muted" }, ev.role.replace(/_/g, " ")) : null),
      el("td", { class: "mono small" }, ev.action || "—"),
      el("td", { class: "hide-narrow" }, ev.customer ? historyLink("customer", ev.customer) : historyLink("actor", ev.target)),
      el("td", {}, ev.decision === "allow" ? badge("allow", "ok") : badge(ev.decision || "?", "bad"),
        ev.reason ? el("div", { class: "small muted" }, ev.reason) : null),
      cell);
  });
  Promise.all(checks).then((res) => {
    const ok = res.filter(Boolean).length, pending = entries.length - res.length;
    fill(tally, ok === res.length ? badge("All checked", "ok") : badge(res.length - ok + " failed", "bad"), " ",
      `${ok} of ${entries.length} entries verified in this browser: leaf, inclusion proof and signed root` +
      (pending ? `; ${pending} not yet in a signed checkpoint.` : "."));
  });
  fill(body, tally, el("div", { class: "table-wrap" }, el("table", {},
    el("caption", { class: "visually-hidden" }, "Audit log entries, newest first, with proof status"),
    el("thead", {}, el("tr", {}, ["#", "Time", "Actor", "Action", "Customer / target", "Decision", "Proof"].map((h, i) =>
      el("th", { scope: "col", class: i === 0 ? "num" : i === 4 ? "hide-narrow" : null }, h)))),
    el("tbody", {}, rows))));
}

// historyLink links a person's or a customer's id to their filtered history.
function historyLink(field, id) {
  if (!id) return "—";
  if (id.startsWith("custos")) return id;
  return el("a", { href: "#audit/" + new URLSearchParams({ [field]: id }).toString(), title: "Every entry of " + id }, id);
}

// ---- audit search ----

const FILTERS = ["actor", "customer", "org", "site", "action", "decision", "since", "until"];

function onAuditSearch(ev) {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const f of FILTERS) {
    let v = $("f-" + f).value.trim();
    if (v && (f === "since" || f === "until")) v = new Date(v).toISOString().replace(/\.\d{3}Z$/, "Z");
    if (v) q.set(f, v);
  }
  location.hash = q.toString() ? "audit/" + q.toString() : "audit";
}

async function searchAudit(q, cursor) {
  const body = $("audit-body");
  for (const f of FILTERS) {
    const v = q.get(f) || "";
    $("f-" + f).value = (f === "since" || f === "until") && v ? v.slice(0, 16) : v;
  }
  fill($("audit-cp"), el("p", { class: "small" }, "Entries matching ",
    [...q.entries()].map(([k, v]) => [el("strong", {}, k), " ", el("code", {}, v), " "]), "· newest first"));
  fill(body, el("p", { class: "muted" }, "Searching…"));
  const params = new URLSearchParams(q);
  params.set("limit", "50");
  if (cursor) params.set("cursor", cursor);
  let data;
  try {
    const seq = ++state.auditSeq;
    data = await api("/v1/audit/search?" + params.toString());
    if (seq !== state.auditSeq) return; // a newer listing or search owns the page
  } catch (e) {
    if (handleAuth(e)) return;
    fill(body, errorBox(e));
    return;
  }
  const entries = data.entries || [];
  $("audit-older").disabled = !data.next;
  state.auditOlder = data.next ? () => searchAudit(q, data.next) : null;
  if (!entries.length) {
    fill(body, el("p", { class: "muted", id: "audit-none" }, "No entry matches."));
    return;
  }
  const rows = entries.map(({ index, event: ev }) => el("tr", { "data-index": index },
    el("td", { class: "num" }, index),
    el("td", { class: "small" }, timeEl(ev.time)),
    el("td", {}, historyLink("actor", ev.actor), el("div", { class: "small muted" }, [ev.org, ev.site].filter(Boolean).join(" · "))),
    el("td", { class: "mono small" }, ev.action),
    el("td", { class: "hide-narrow" }, ev.customer ? historyLink("customer", ev.customer) : historyLink("actor", ev.target)),
    el("td", {}, ev.decision === "allow" ? badge("allow", "ok") : badge(ev.decision || "?", "bad"),
      ev.reason ? el("div", { class: "small muted" }, ev.reason) : null)));
  fill(body, el("p", { class: "small", id: "audit-found" }, entries.length + (data.next ? "+ entries (more with Older)" : " entries")),
    el("div", { class: "table-wrap" }, el("table", { id: "audit-results" },
      el("caption", { class: "visually-hidden" }, "Audit entries matching the search, newest first"),
      el("thead", {}, el("tr", {}, ["#", "Time", "Person", "Action", "Customer / target", "Decision"].map((h, i) =>
        el("th", { scope: "col", class: i === 0 ? "num" : i === 4 ? "hide-narrow" : null }, h)))),
      el("tbody", {}, rows))));
}

// ---- cases ----

const STATUS_KIND = { open: "warn", investigating: "info", closed: "neutral" };

async function onOpenCase(ev) {
  const b = ev.currentTarget;
  b.disabled = true;
  try {
    const c = await api("/v1/alerts/" + b.dataset.alert + "/case", { method: "POST", body: {} });
    location.hash = "cases/" + c.id;
  } catch (e) {
    if (handleAuth(e)) return;
    fill($("alerts-msg"), errorBox(e));
    b.disabled = false;
  }
}

async function loadCases(selected) {
  const body = $("cases-body");
  const data = await load(body, "/v1/cases?limit=200");
  if (!data) return;
  const cases = data.cases || [];
  if (!cases.length) {
    fill(body, el("p", { class: "muted" }, "No cases yet. Open one from an alert."));
  } else {
    fill(body, el("ul", { class: "case-list", "aria-label": "Cases, most recently updated first" }, cases.map((c) =>
      el("li", { "data-case": c.id, "aria-current": String(String(c.id) === selected) },
        el("a", { href: "#cases/" + c.id }, "Case " + c.id + " · " + c.person), " ",
        badge(c.status, STATUS_KIND[c.status]), c.outcome ? [" ", badge(c.outcome, c.outcome === "confirmed" ? "bad" : "ok")] : null,
        el("div", { class: "small muted" }, "assigned to " + (c.assignee || "nobody") + " · updated ", timeEl(c.updated))))));
  }
  if (selected) await loadCase(selected);
}

async function loadCase(id) {
  const box = $("case-body");
  const c = await load(box, "/v1/cases/" + encodeURIComponent(id));
  if (!c) return;
  const closed = c.status === "closed";
  const status = el("select", { id: "case-status", name: "status" },
    ["open", "investigating", "closed"].map((s) => el("option", { value: s, selected: s === c.status ? "" : null }, s)));
  const assignee = el("input", { id: "case-assignee", name: "assignee", value: c.assignee || "", spellcheck: "false", autocomplete: "off" });
  const note = el("textarea", { id: "case-note", name: "note", maxlength: "4000", "aria-describedby": "note-hint" });
  const form = el("form", { class: "case-form", id: "case-form", novalidate: "" },
    el("div", { class: "row" },
      el("div", { class: "field" }, el("label", { for: "case-status" }, "Status"), status),
      el("div", { class: "field" }, el("label", { for: "case-assignee" }, "Assignee"), assignee)),
    el("div", { class: "field" }, el("label", { for: "case-note" }, "Add a note"), note,
      el("span", { class: "hint", id: "note-hint" }, "Notes stay with the case; they never enter the public audit log.")),
    el("div", { class: "row" },
      el("button", { class: "btn btn-small", type: "submit" }, "Save"),
      closed ? null : el("button", { class: "btn btn-danger btn-small", type: "button", id: "case-confirm",
        onclick: () => saveCase(c.id, { outcome: "confirmed" }) }, "Close: confirmed"),
      closed ? null : el("button", { class: "btn btn-quiet btn-small", type: "button", id: "case-benign",
        onclick: () => saveCase(c.id, { outcome: "benign" }) }, "Close: benign")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const patch = {};
    if (status.value !== c.status) patch.status = status.value;
    if (assignee.value.trim() !== (c.assignee || "")) patch.assignee = assignee.value.trim();
    if (note.value.trim()) patch.note = note.value.trim();
    saveCase(c.id, patch);
  });
  fill(box,
    el("h2", {}, "Case " + c.id + ": ", el("a", { href: "#people/" + encodeURIComponent(c.person) }, c.person)),
    el("p", {}, badge(c.status, STATUS_KIND[c.status]), c.outcome ? [" ", badge(c.outcome, c.outcome === "confirmed" ? "bad" : "ok")] : null),
    el("dl", { class: "kv small" },
      el("dt", {}, "Opened"), el("dd", {}, timeEl(c.opened), " by ", c.opened_by, " from alert ", String(c.alert)),
      el("dt", {}, "Window"), el("dd", {}, timeEl(c.from), " – now"),
      el("dt", {}, "History"), el("dd", {}, historyLink("actor", c.person)),
      el("dt", {}, "Evidence"), el("dd", {}, el("a", { href: "/v1/cases/" + c.id + "/evidence", download: "case-" + c.id + "-evidence.tar", id: "case-evidence" },
        "Download the evidence bundle"), el("div", { class: "muted" }, "Check it offline: custos audit verify-bundle FILE --key KEY"))),
    el("div", { id: "case-msg", "aria-live": "polite" }),
    form,
    el("h3", {}, "Notes"),
    (c.notes || []).length ? el("ol", { class: "notes", id: "case-notes" }, c.notes.map((n) =>
      el("li", {}, el("div", { class: "small muted" }, timeEl(n.time), " · ", n.author), n.text))) : el("p", { class: "muted" }, "No notes yet."));
}

async function saveCase(id, patch) {
  if (!Object.keys(patch).length) {
    fill($("case-msg"), el("div", { class: "msg msg-info", role: "status" }, "Nothing to save."));
    return;
  }
  try {
    await api("/v1/cases/" + id, { method: "PATCH", body: patch });
  } catch (e) {
    if (handleAuth(e)) return;
    fill($("case-msg"), errorBox(e));
    return;
  }
  await loadCases(String(id));
  fill($("case-msg"), el("div", { class: "msg msg-ok", role: "status" },
    patch.outcome === "confirmed" ? "Closed as confirmed: the person stays suspended until two analysts lift it." :
    patch.outcome === "benign" ? "Closed as benign: the detectors damp this pattern for this person." : "Saved."));
}

// ---- incidents ----

async function loadIncidents(selected) {
  const body = $("incidents-body");
  const data = await load(body, "/v1/incidents");
  if (!data) return;
  const ins = data.incidents || [];
  fill(body, ins.length ? el("ul", { class: "case-list", "aria-label": "Incidents, newest first" }, ins.map((i) =>
    el("li", { "data-incident": i.id, "aria-current": String(String(i.id) === selected) },
      el("a", { href: "#incidents/" + i.id }, i.title), " ",
      i.notified >= i.customers ? badge("all told", "ok") : badge(i.notified + " of " + i.customers + " told", "warn"),
      el("div", { class: "small muted" }, num(i.customers), " customers · found ", timeEl(i.found_at)))))
    : el("p", { class: "muted" }, "No incidents recorded."));
  loadErasures();
  if (selected) await loadIncident(selected);
}

// loadErasures lists customers' requests to be erased, for the privacy role.
async function loadErasures() {
  if (state.me.role !== "privacy_officer") return; // the only role that erases
  let data;
  try {
    data = await api("/v1/erasure-requests");
  } catch {
    $("erasures").hidden = true; // not this role's to see
    return;
  }
  const rs = data.requests || [];
  $("erasures").hidden = false;
  fill($("erasures-body"), rs.length ? el("ul", { class: "case-list" }, rs.map((r) => el("li", { "data-customer": r.customer },
    el("span", { class: "mono" }, r.customer), " · asked ", timeEl(r.at), " ",
    el("button", { class: "btn btn-danger btn-small", type: "button", "data-customer": r.customer, onclick: onErase }, "Erase"))))
    : el("p", { class: "muted" }, "No pending requests."));
}

async function onErase(ev) {
  const b = ev.currentTarget;
  const c = b.dataset.customer;
  if (!window.confirm("Erase " + c + "'s name, phone and account for good? This cannot be undone.")) return;
  b.disabled = true;
  try {
    await api("/v1/subjects/" + encodeURIComponent(c) + "/erase", { body: { reason: "the customer asked on their own page" } });
    fill($("incidents-msg"), el("div", { class: "msg msg-ok", role: "status" }, c + " is erased."));
    loadErasures();
  } catch (e) {
    if (handleAuth(e)) return;
    fill($("incidents-msg"), errorBox(e));
    b.disabled = false;
  }
}

async function loadIncident(id) {
  const box = $("incident-body");
  const i = await load(box, "/v1/incidents/" + encodeURIComponent(id));
  if (!i) return;
  const tr = i.trace || {};
  fill(box,
    el("h2", {}, i.title),
    el("dl", { class: "kv small" },
      el("dt", {}, "Found"), el("dd", {}, timeEl(i.found_at)),
      el("dt", {}, "Recorded"), el("dd", {}, timeEl(i.created_at), " by ", i.created_by || "—"),
      el("dt", {}, "Leaked fields"), el("dd", {}, (i.fields || []).join(", ")),
      el("dt", {}, "Customers"), el("dd", {}, num(i.customers), " · ", num(tr.never_accessed || 0), " never opened through custos"),
      el("dt", {}, "Notices"), el("dd", { id: "incident-progress" }, el("progress", { max: i.customers, value: i.notified }), " ", num(i.notified), " of ", num(i.customers), " told"),
      el("dt", {}, "Report"), el("dd", {},
        el("a", { href: "/v1/incidents/" + i.id + "/report?format=html", target: "_blank", rel: "noopener", id: "incident-report" }, "Printable report for the regulator"),
        " · ", el("a", { href: "/v1/incidents/" + i.id + "/report" }, "JSON"))),
    el("h3", {}, "The notice"), el("blockquote", {}, i.notice || ""),
    el("h3", {}, "Who could have leaked it"),
    (tr.suspects || []).length ? el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Person", "Company", "Share read", "Read by nobody else"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, tr.suspects.map((s) => el("tr", {},
        el("td", {}, historyLink("actor", s.actor)), el("td", {}, s.org), el("td", {}, pct(s.covered)), el("td", { class: "num" }, s.exclusive))))))
      : el("p", { class: "muted" }, "Nobody had read these records through custos: the list left by another way."));
}

async function onIncident(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const file = $("inc-leak").files[0];
  const found = $("inc-found").value;
  if (!file || !found || !$("inc-title").value.trim() || !$("inc-notice").value.trim()) {
    fill($("incidents-msg"), el("div", { class: "msg msg-error", role: "alert" }, "Give a title, when it was found, the leaked list and the notice."));
    return;
  }
  $("inc-submit").disabled = true;
  try {
    const r = await api("/v1/incidents", { body: {
      title: $("inc-title").value.trim(), found_at: new Date(found).toISOString(), notice: $("inc-notice").value.trim(),
      fields: [...form.querySelectorAll("input[name=fields]:checked")].map((c) => c.value), leak: await file.text(),
    } });
    form.reset();
    $("new-incident").open = false;
    fill($("incidents-msg"), el("div", { class: "msg msg-ok", role: "status" }, "Recorded: " + r.customers + " customers will be told."));
    location.hash = "incidents/" + r.id;
  } catch (e) {
    if (handleAuth(e)) return;
    fill($("incidents-msg"), errorBox(e));
  } finally {
    $("inc-submit").disabled = false;
  }
}

function sigText(s) {
  return { verified: "checkpoint signature verified", unsupported: "signature not checkable in this browser",
    "no-key": "log key not configured", failed: "signature failed" }[s.status] || s.status;
}

function sigBadge(s) {
  if (s.status === "verified") return badge("Verified (Ed25519)", "ok");
  if (s.status === "failed") return [badge("Failed", "bad"), " ", s.reason];
  return [badge("Not checked", "warn"), " ", s.reason || ""];
}

// ---- trace ----

async function onTrace(ev) {
  ev.preventDefault();
  const file = $("leak").files[0];
  const msg = $("trace-msg"), body = $("trace-body");
  fill(body);
  if (!file) {
    fill(msg, el("div", { class: "msg msg-error", role: "alert" }, "Choose the leaked CSV file first."));
    return;
  }
  $("trace-run").disabled = true;
  fill(msg, el("div", { class: "msg msg-info", role: "status" }, "Tracing " + file.name + "…"));
  try {
    const rep = await api("/v1/trace", { body: file, contentType: "text/csv" });
    fill(msg);
    renderTrace(rep);
  } catch (e) {
    if (handleAuth(e)) return;
    fill(msg, errorBox(e));
  } finally {
    $("trace-run").disabled = false;
  }
}

function renderTrace(rep) {
  const body = $("trace-body");
  const stat = (k, v, id) => el("div", { class: "stat", "data-stat": id }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
  const suspects = rep.suspects || [];
  const orgs = rep.orgs || [];
  const canaries = rep.canaries || [];
  const notes = [];
  if (rep.unresolved) notes.push(num(rep.unresolved) + " rows matched no customer");
  if (rep.resolved_by_name) notes.push(num(rep.resolved_by_name) + " matched by name alone");
  if (rep.invalid_cells) notes.push(num(rep.invalid_cells) + " cells could not be read");
  fill(body,
    el("div", { class: "summary" },
      stat("rows read", num(rep.rows), "rows"),
      stat("customers matched", num(rep.matched), "matched"),
      stat("never read through custos", num(rep.never_accessed), "never_accessed"),
      stat("canary records in the leak", num(canaries.length), "canaries")),
    notes.length ? el("p", { class: "small muted" }, notes.join(" · ") + ".") : null,
    canaries.length ? el("div", { class: "msg msg-error", role: "status" },
      el("strong", {}, "Canary records are in this list: "), el("span", { class: "mono" }, canaries.join(", ")),
      ". Canaries are planted records nobody has a reason to read; only someone who read one can have leaked it.") : null,
    rep.never_accessed ? el("p", { class: "small muted" },
      num(rep.never_accessed) + " matched records were never read through custos: evidence that part of the list came from elsewhere.") : null,
    el("div", { class: "panel" }, el("h2", {}, "Suspects"),
      suspects.length ? el("div", { class: "table-wrap" }, el("table", { id: "trace-suspects" },
        el("caption", { class: "visually-hidden" }, "People who could have leaked the list, most likely first"),
        el("thead", {}, el("tr", {}, el("th", { class: "num", scope: "col" }, "#"), el("th", { scope: "col" }, "Person"),
          el("th", { scope: "col" }, "Covered"), el("th", { class: "num", scope: "col" }, "Exclusive"),
          el("th", { scope: "col" }, "Score"), el("th", { class: "hide-narrow", scope: "col" }, "Why"))),
        el("tbody", {}, suspects.map((s, i) => el("tr", { "data-actor": s.actor },
          el("td", { class: "num" }, i + 1),
          el("td", {}, el("a", { href: "#people/" + encodeURIComponent(s.actor) }, s.actor),
            el("div", { class: "small muted" }, s.org || "")),
          el("td", {}, el("span", { class: "score" }, el("span", { class: "meter", "aria-hidden": "true" }, el("span", { "data-w": Math.round((s.covered || 0) * 100) })), pct(s.covered)),
            s.records !== undefined ? el("div", { class: "small muted" }, num(s.records) + " of the leak · read " + num(s.reads) + " in all") : null),
          el("td", { class: "num" }, num(s.exclusive)),
          el("td", {}, scoreEl(s.score)),
          el("td", { class: "small hide-narrow" }, s.explanation || "")))))) 
        : el("p", { class: "muted" }, "Nobody who read these records through custos stands out.")),
    orgs.length ? el("div", { class: "panel" }, el("h2", {}, "Organisations"),
      el("div", { class: "table-wrap" }, el("table", { id: "trace-orgs" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Organisation"), el("th", { scope: "col" }, "Covered"),
          el("th", { class: "num", scope: "col" }, "Records"), el("th", { class: "num", scope: "col" }, "Exclusive"))),
        el("tbody", {}, orgs.map((o) => el("tr", {}, el("td", {}, o.org),
          el("td", {}, el("span", { class: "score" }, el("span", { class: "meter", "aria-hidden": "true" }, el("span", { "data-w": Math.round((o.covered || 0) * 100) })), pct(o.covered))),
          el("td", { class: "num" }, o.records !== undefined ? num(o.records) : "—"),
          el("td", { class: "num" }, o.exclusive !== undefined ? num(o.exclusive) : "—")))))))
      : null);
  applyWidths(body);
}

// ---- policies ----

async function loadPolicies() {
  const body = $("policies-body");
  fill(body, el("p", { class: "muted" }, "Loading…"));
  try {
    const p = await api("/v1/policies");
    fill(body, renderPolicies(p));
  } catch (e) {
    if (handleAuth(e)) return;
    fill(body, errorBox(e));
  }
}

const LABELS = {
  policies: "Policies", files: "Policy files", digest: "Policy set digest", quotas: "Quotas per role (distinct customers)",
  consent_ttl: "One-time code valid for", consent_grant: "Confirmed consent grants access for",
  consent_max_attempts: "Wrong codes before a consent locks", breakglass_grant: "Approved break-glass lasts",
  stepup_score: "Step-up at risk score", suspend_score: "Automatic suspension at risk score", containment: "Automatic containment",
  customers_per_hour: "Per hour", customers_per_day: "Per day", role: "Role",
};

function renderPolicies(p) {
  const out = [];
  if (Array.isArray(p.quotas)) {
    out.push(el("h2", {}, LABELS.quotas), el("div", { class: "table-wrap" }, el("table", { id: "quotas" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Role"), el("th", { class: "num", scope: "col" }, "Per hour"), el("th", { class: "num", scope: "col" }, "Per day"))),
      el("tbody", {}, p.quotas.map((q) => el("tr", {}, el("td", {}, String(q.role).replace(/_/g, " ")),
        el("td", { class: "num" }, q.customers_per_hour ? num(q.customers_per_hour) : "unlimited"),
        el("td", { class: "num" }, q.customers_per_day ? num(q.customers_per_day) : "unlimited")))))));
  }
  const rest = Object.entries(p).filter(([k]) => k !== "quotas" && k !== "policies" && k !== "files");
  if (rest.length) out.push(el("h2", {}, "Limits and containment"), generic(Object.fromEntries(rest)));
  if (Array.isArray(p.policies)) {
    out.push(el("h2", {}, "Cedar policies (" + p.policies.length + ")"),
      el("ul", { class: "small mono policy-ids", id: "policy-ids" }, p.policies.map((id) => el("li", {}, typeof id === "string" ? id : JSON.stringify(id)))));
  }
  if (Array.isArray(p.files) && p.files.length) out.push(el("p", { class: "small muted" }, "From " + p.files.join(", ")));
  return out;
}

function generic(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) {
    if (v.length && typeof v[0] === "object" && v[0] !== null && !Array.isArray(v[0])) {
      const cols = [...new Set(v.flatMap((o) => Object.keys(o)))];
      return el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col" }, LABELS[c] || c.replace(/_/g, " "))))),
        el("tbody", {}, v.map((o) => el("tr", {}, cols.map((c) => el("td", {}, typeof o[c] === "object" ? JSON.stringify(o[c]) : String(o[c] ?? "—"))))))));
    }
    return el("ul", {}, v.map((x) => el("li", {}, typeof x === "object" ? generic(x) : String(x))));
  }
  if (typeof v === "object") {
    return el("dl", { class: "kv" }, Object.entries(v).flatMap(([k, x]) => [
      el("dt", {}, LABELS[k] || k.replace(/_/g, " ")),
      el("dd", { class: k === "digest" ? "mono small" : null },
        typeof x === "boolean" ? (x ? "on" : "off") : typeof x === "object" ? generic(x)
          : /_(ttl|grant)$/.test(k) ? fmtDuration(x) : String(x)),
    ]));
  }
  return String(v);
}

start();
