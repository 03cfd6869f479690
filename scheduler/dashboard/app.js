// vodq dashboard: plain JavaScript, no dependencies, served from the
// scheduler binary. Talks to the REST API documented in docs/operations.md.
"use strict";

const view = () => document.getElementById("view");
let token = localStorage.getItem("vodq-token") || "";
let timers = [];
let source = null;
const rates = [];
let lastTotals = null;

function stopAll() {
  timers.forEach(clearInterval);
  timers = [];
  if (source) { source.close(); source = null; }
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function setStatus(msg) { document.getElementById("status").textContent = msg || ""; }

async function api(path, opts) {
  const o = Object.assign({headers: {}}, opts || {});
  if (token) o.headers.Authorization = "Bearer " + token;
  const r = await fetch(path, o);
  if (r.status === 401 || r.status === 403) {
    setStatus("sign in with a token (" + r.status + ")");
    throw new Error("unauthorised");
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  setStatus("");
  return body;
}

function bar(pct, big) {
  const inner = el("div");
  inner.style.width = Math.max(0, Math.min(100, Number(pct) || 0)) + "%";
  return el("span", {class: big ? "bar big" : "bar", role: "progressbar", "aria-valuenow": String(pct || 0)}, inner);
}

function stateTag(s) { return el("span", {class: "state " + s}, s); }

function table(headers, rows) {
  const t = el("table", {}, el("tr", {}, ...headers.map(h => el("th", {}, h))));
  rows.forEach(r => t.append(el("tr", {}, ...r.map(c => el("td", {}, c)))));
  return t;
}

function fmtTime(ms) { return ms ? new Date(Number(ms)).toLocaleString() : ""; }

// ---- Queues ----
function drawChart(canvas) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width = canvas.clientWidth, h = canvas.height = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...rates.map(r => r.ok + r.failed));
  const step = w / Math.max(1, 60);
  ctx.fillStyle = "#2f7de1";
  rates.forEach((r, i) => { const bh = (r.ok / max) * (h - 14); ctx.fillRect(i * step, h - bh, step - 1, bh); });
  ctx.fillStyle = "#d9534f";
  rates.forEach((r, i) => { const bh = (r.failed / max) * (h - 14); ctx.fillRect(i * step, h - bh, step - 1, Math.min(bh, 3) || 0); });
  ctx.fillStyle = "#56606b";
  ctx.fillText("jobs finished / 2 s (max " + max + ")", 4, 10);
}

async function showQueues() {
  const lanes = el("div"), chart = el("canvas", {id: "throughput"});
  view().replaceChildren(el("section", {}, el("h2", {}, "Queues"), lanes),
                         el("section", {}, el("h2", {}, "Throughput"), chart));
  async function tick() {
    const q = await api("/api/queues");
    const t = q.totals || {};
    if (lastTotals) {
      const ok = (t.succeeded || 0) - (lastTotals.succeeded || 0);
      const failed = (t.dead || 0) - (lastTotals.dead || 0);
      rates.push({ok: Math.max(0, ok), failed: Math.max(0, failed)});
      if (rates.length > 60) rates.shift();
    }
    lastTotals = t;
    lanes.replaceChildren(
      table(["lane", "waiting", "running"], q.lanes.map(l => [l.lane, l.waiting, l.running])),
      el("p", {}, "delayed " + q.delayed + " · dead " + q.dead + " · workers " + q.workers +
         " · totals " + Object.entries(t).map(([k, v]) => k + " " + v).join(", ")));
    drawChart(chart);
  }
  await tick().catch(e => setStatus(e.message));
  timers.push(setInterval(() => tick().catch(e => setStatus(e.message)), 2000));
}

// ---- Jobs ----
async function showJobs(params) {
  const state = el("select", {id: "f-state"}, ...["", "queued", "active", "paused", "waiting_auth", "delayed",
    "succeeded", "dead", "cancelled", "rejected"].map(s => el("option", {value: s}, s || "any state")));
  const type = el("select", {id: "f-type"}, ...["", "compose", "upload", "sleep"].map(s => el("option", {value: s}, s || "any type")));
  const session = el("input", {id: "f-session", placeholder: "session"});
  state.value = params.get("state") || ""; type.value = params.get("type") || ""; session.value = params.get("session") || "";
  const list = el("div"), more = el("button", {id: "more"}, "Next page");
  let cursor = params.get("cursor") || "";
  async function load(reset) {
    const p = new URLSearchParams();
    if (state.value) p.set("state", state.value);
    if (type.value) p.set("type", type.value);
    if (session.value) p.set("session", session.value);
    if (!reset && cursor) p.set("cursor", cursor);
    p.set("limit", "50");
    const r = await api("/jobs?" + p);
    cursor = r.cursor || "";
    more.disabled = !r.cursor;
    list.replaceChildren(table(["job", "type", "state", "progress", "attempts", "session", "updated"],
      r.jobs.map(j => [el("a", {href: "#/job/" + encodeURIComponent(j.id)}, j.id), j.type, stateTag(j.state),
                       bar(j.progress), j.attempts || 0, j.session || "", fmtTime(j.updated_at)])));
  }
  const apply = el("button", {onclick: () => load(true).catch(e => setStatus(e.message))}, "Filter");
  more.addEventListener("click", () => load(false).catch(e => setStatus(e.message)));
  view().replaceChildren(el("section", {}, el("h2", {}, "Jobs"),
    el("div", {class: "filters"}, state, type, session, apply), list, more));
  await load(true).catch(e => setStatus(e.message));
}

// ---- One job ----
async function act(id, verb, body) {
  try {
    const r = await api("/jobs/" + encodeURIComponent(id) + "/" + verb, {method: "POST", body: body || ""});
    setStatus(verb + ": " + (r.message || "ok"));
  } catch (e) { setStatus(verb + ": " + e.message); }
}

async function showJob(id) {
  const head = el("div"), progress = el("div", {id: "progress"}), events = el("div"), detail = el("div");
  const buttons = el("div", {},
    ...["pause", "resume", "cancel", "retry"].map(v => el("button", {id: "btn-" + v, onclick: () => act(id, v)}, v)),
    el("button", {id: "btn-auth", onclick: () => {
      const a = window.prompt("New credentials (base64 UploadAuth, or S3 JSON)");
      if (a) act(id, "auth", a);
    }}, "refresh-auth"));
  view().replaceChildren(el("section", {}, el("h2", {}, "Job " + id), head, progress, buttons),
                         el("section", {}, el("h2", {}, "Details"), detail),
                         el("section", {}, el("h2", {}, "Events"), events));
  let pct = 0;
  function drawHead(j) {
    head.replaceChildren(el("p", {}, stateTag(j.state), " ", j.type, " · attempts ", String(j.attempts || 0),
      " / ", String(j.max_attempts || ""), j.worker ? " · worker " + j.worker : "",
      j.session ? " · session " : "", j.session ? el("a", {href: "#/session/" + encodeURIComponent(j.session)}, j.session) : ""));
  }
  function drawBar() { progress.replaceChildren(bar(pct, true), el("span", {id: "pct"}, " " + pct.toFixed(1) + "%")); }
  async function refresh() {
    const j = await api("/jobs/" + encodeURIComponent(id));
    pct = Number(j.progress) || pct;
    drawHead(j); drawBar();
    detail.replaceChildren(
      j.error ? el("p", {class: "err"}, "error " + (j.error_code || "") + ": " + j.error) : "",
      j.result ? el("div", {}, el("h3", {}, "Result"), el("pre", {id: "result"}, JSON.stringify(j.result, null, 2))) : "",
      el("h3", {}, "Spec (credentials masked)"), el("pre", {}, JSON.stringify(j.spec, null, 2)));
    const ev = await api("/jobs/" + encodeURIComponent(id) + "/events");
    // attempts and state changes in full; progress only counted (one every --progress-ms)
    const shown = ev.events.filter(e => e.type !== "progress");
    const nprog = ev.events.length - shown.length;
    events.replaceChildren(el("p", {}, nprog + " progress events (not listed)"),
      table(["time", "event", "state", "data"],
        shown.map(e => [fmtTime(e.id.split("-")[0]), e.type, e.state || "", JSON.stringify(e.data)])));
  }
  await refresh().catch(e => setStatus(e.message));
  // live: progress and state changes over Server-Sent Events
  const url = "/events?job=" + encodeURIComponent(id) + (token ? "&token=" + encodeURIComponent(token) : "");
  source = new EventSource(url);
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.type === "progress" && e.data && e.data.percent !== undefined) { pct = Number(e.data.percent); drawBar(); }
    else refresh().catch(err => setStatus(err.message));
  };
  source.onerror = () => { /* EventSource reconnects by itself */ };
}

// ---- Workers, sessions, dead letters ----
async function showWorkers() {
  const r = await api("/workers");
  view().replaceChildren(el("section", {}, el("h2", {}, "Workers"), table(["worker", "heartbeat", "running", "slots", "encoders / GPU"],
    r.workers.map(w => {
      const info = w.info || {};
      const comp = info.compose || {};
      const enc = (comp.encoders || []).map(e => e.name || e).join(", ");
      return [w.id, Math.round(w.heartbeat_age_ms / 100) / 10 + " s ago", info.running || 0,
              JSON.stringify(info.slots || {}), enc + (comp.gpu ? " · GPU " + JSON.stringify(comp.gpu) : "")];
    }))));
}

async function showSession(id) {
  const s = await api("/sessions/" + encodeURIComponent(id));
  view().replaceChildren(el("section", {}, el("h2", {}, "Session " + id),
    table(["field", "value"], Object.entries(s).map(([k, v]) => [k, v])),
    el("p", {}, el("a", {href: "#/jobs?session=" + encodeURIComponent(id)}, "its jobs"))));
}

async function showDead() {
  const r = await api("/dead");
  view().replaceChildren(el("section", {}, el("h2", {}, "Dead letters"), table(["job", "code", "error", "attempts", "when", ""],
    r.dead.map(d => [el("a", {href: "#/job/" + encodeURIComponent(d.job)}, d.job), d.code || "", d.error || "",
      d.attempts || "", fmtTime(d.ts), el("button", {onclick: async () => { await act(d.job, "retry"); showDead(); }}, "retry")]))));
}

function route() {
  stopAll();
  const h = location.hash.slice(1) || "/";
  const [path, qs] = h.split("?");
  const params = new URLSearchParams(qs || "");
  const fail = (e) => setStatus(e.message);
  if (path.startsWith("/job/")) showJob(decodeURIComponent(path.slice(5))).catch(fail);
  else if (path.startsWith("/session/")) showSession(decodeURIComponent(path.slice(9))).catch(fail);
  else if (path === "/jobs") showJobs(params).catch(fail);
  else if (path === "/workers") showWorkers().catch(fail);
  else if (path === "/dead") showDead().catch(fail);
  else showQueues().catch(fail);
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token").value;
  localStorage.setItem("vodq-token", token);
  route();
});
window.addEventListener("hashchange", route);
route();
