// app.js: the gateway's web page. Sign in by email code, pick a workspace, see its usage
// (daily tokens and cost by model, by agent) and its runtimes, and watch tasks move over the
// WebSocket. At /login?cli_callback=&cli_state= it is the browser half of `multica login`:
// once signed in it sends the browser to the CLI's local callback with a token, as Multica's
// web app does. Charts are this file's own SVG: nothing is loaded from anywhere else.
"use strict";

const $ = (id) => document.getElementById(id);
const DAYS = 30;
const TICKS_PER_USD = 1e10;
const TOKEN_KEY = "multica_token";
const WS_KEY = "multica_workspace";
const PALETTE = ["#3f51d8", "#12a150", "#e08a00", "#d14343", "#8e44ad", "#0097a7", "#795548",
  "#c2185b", "#607d8b", "#7cb342"];

const state = {
  token: localStorage.getItem(TOKEN_KEY),
  me: null,
  workspace: null,
  agents: {},
  socket: null,
  seq: 0,
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
};

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (res.status === 401 && state.me) signOut();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

function show(id, on = true) { $(id).hidden = !on; }

// ---- the multica CLI's browser sign-in ----------------------------------------------------

const params = new URLSearchParams(location.search);
const cli = location.pathname === "/login" && params.has("cli_callback")
  ? { url: params.get("cli_callback"), state: params.get("cli_state") || "" } : null;

// As Multica's validateCliCallback: plain http to this machine or a private address (the CLI
// listens on 127.0.0.1, or on the LAN address it was told), never anywhere else.
function validCallback(raw) {
  let u;
  try { u = new URL(raw); } catch { return false; }
  if (u.protocol !== "http:") return false;
  const h = u.hostname;
  return h === "localhost" || h === "127.0.0.1" || /^10\./.test(h) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(h) || /^192\.168\./.test(h);
}

function handOff() {
  const u = new URL(cli.url);
  u.searchParams.set("token", state.token);
  u.searchParams.set("state", cli.state);
  location.replace(u.toString());
}

// ---- sign-in ------------------------------------------------------------------------------

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  if (state.socket) state.socket.close();
  location.replace(cli ? location.href : "/");
}

function showSignin() {
  show("app", false);
  show("signin");
  if (cli) { show("cli-note"); $("signin-title").textContent = "Sign in to the multica CLI"; }
  $("email-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("signin-error").textContent = "";
    try {
      await api("POST", "/api/auth/send-code", { email: $("email").value.trim() });
      $("code-email").textContent = $("email").value.trim();
      show("email-form", false);
      show("code-form");
      $("code").focus();
    } catch (err) { $("signin-error").textContent = err.message; }
  });
  $("code-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("signin-error").textContent = "";
    try {
      const out = await api("POST", "/api/auth/verify-code",
        { email: $("email").value.trim(), code: $("code").value.trim() });
      state.token = out.token;
      localStorage.setItem(TOKEN_KEY, out.token);
      if (cli) { handOff(); return; }
      state.me = out.user || await api("GET", "/api/me");
      show("signin", false);
      openApp();
    } catch (err) { $("signin-error").textContent = err.message; }
  });
}

// ---- formatting ---------------------------------------------------------------------------

const tokensText = (n) => Math.round(n).toLocaleString("en-US");
function usdText(ticks) {
  const usd = ticks / TICKS_PER_USD;
  return "$" + usd.toFixed(usd !== 0 && Math.abs(usd) < 1 ? 4 : 2);
}
const tokensOf = (r) => r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens;
const agentName = (id) => (state.agents[id] && state.agents[id].name) || id.slice(0, 8);

// The first day of the window, as Multica's dashboard trims: the N days ending today in tz.
function firstDay() {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: state.tz }).format(new Date());
  const [y, m, d] = today.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d - (DAYS - 1))).toISOString().slice(0, 10);
}

function el(tag, attrs = {}, ...kids) {
  const ns = ["svg", "rect", "text", "line", "g", "title"].includes(tag)
    ? "http://www.w3.org/2000/svg" : null;
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  // Styles through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

// ---- charts -------------------------------------------------------------------------------

// Stacked bars, one per day, one stack per model. Every bar segment carries its day, model
// and value (data-*), and the figure its total, so what the chart shows can be read back.
function stackedBars(fig, title, rows, valueOf, fmt) {
  fig.replaceChildren(el("figcaption", {}, title));
  const cells = new Map();
  for (const r of rows) {
    const key = `${r.date}|${r.model}`;
    cells.set(key, (cells.get(key) || 0) + valueOf(r));
  }
  const dates = [...new Set(rows.map((r) => r.date))].sort();
  const models = [...new Set(rows.map((r) => r.model))].sort();
  const dayTotal = dates.map((d) => models.reduce((s, m) => s + (cells.get(`${d}|${m}`) || 0), 0));
  const total = dayTotal.reduce((a, b) => a + b, 0);
  fig.dataset.total = String(total);
  if (dates.length === 0) { fig.append(el("div", { class: "empty" }, "No usage yet")); return; }
  const W = 520, H = 200, L = 56, B = 22, T = 8;
  const max = Math.max(...dayTotal) || 1;
  const bw = (W - L) / dates.length;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.append(el("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }));
  svg.append(el("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, fmt(max)));
  svg.append(el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
  dates.forEach((d, i) => {
    let y = H - B;
    models.forEach((m, k) => {
      const v = cells.get(`${d}|${m}`) || 0;
      if (v <= 0) return;
      const h = Math.max(1, (v / max) * (H - B - T));
      y -= h;
      svg.append(el("rect", {
        x: (L + i * bw + bw * 0.1).toFixed(2), y: y.toFixed(2), width: (bw * 0.8).toFixed(2),
        height: h.toFixed(2), fill: PALETTE[k % PALETTE.length], class: "seg",
        "data-date": d, "data-model": m, "data-value": String(v),
      }, el("title", {}, `${d} ${m}: ${fmt(v)}`)));
    });
  });
  for (const i of new Set([0, dates.length - 1])) {
    svg.append(el("text", { x: L + i * bw + bw / 2, y: H - 6, "text-anchor": "middle" },
      dates[i].slice(5)));
  }
  fig.append(svg);
  fig.append(el("div", { class: "legend" }, ...models.map((m, k) =>
    el("span", {}, el("i", { style: `background:${PALETTE[k % PALETTE.length]}` }), m))));
}

function byAgentTable(rows, id) {
  const agents = new Map();
  for (const r of rows) {
    const a = agents.get(r.agent_id) || { tokens: 0, cost: 0 };
    a.tokens += tokensOf(r);
    a.cost += r.total_cost_usd_ticks;
    agents.set(r.agent_id, a);
  }
  const list = [...agents.entries()].sort((x, y) => y[1].cost - x[1].cost || y[1].tokens - x[1].tokens);
  const max = Math.max(1, ...list.map(([, a]) => a.tokens));
  if (list.length === 0) return el("div", { class: "empty" }, "No usage yet");
  return el("table", { class: "grid", id },
    el("thead", {}, el("tr", {}, el("th", {}, "Agent"), el("th", { class: "num" }, "Tokens"),
      el("th", { class: "num" }, "Cost"), el("th", {}, ""))),
    el("tbody", {}, ...list.map(([id, a]) => el("tr", { "data-agent": id,
      "data-tokens": String(a.tokens), "data-cost": String(a.cost) },
    el("td", {}, agentName(id)), el("td", { class: "num" }, tokensText(a.tokens)),
    el("td", { class: "num" }, usdText(a.cost)),
    el("td", { style: "width:30%" }, el("div", { class: "bar", style: `width:${(100 * a.tokens / max).toFixed(1)}%` }))))));
}

// ---- the workspace ------------------------------------------------------------------------

async function openApp() {
  show("app");
  show("who");
  show("signout");
  $("who").textContent = state.me.email;
  $("signout").onclick = signOut;
  $("tz-label").textContent = state.tz;
  $("days-label").textContent = String(DAYS);
  const list = await api("GET", "/api/workspaces");
  const select = $("workspace");
  select.replaceChildren(...list.map((w) => el("option", { value: w.id }, w.name)));
  show("ws-pick", list.length > 0);
  if (list.length === 0) {
    $("totals").replaceChildren(el("div", { class: "empty" }, "You belong to no workspace yet."));
    return;
  }
  const saved = localStorage.getItem(WS_KEY);
  select.value = list.some((w) => w.id === saved) ? saved : list[0].id;
  select.onchange = () => { localStorage.setItem(WS_KEY, select.value); loadWorkspace(select.value); };
  await loadWorkspace(select.value);
}

const q = (extra) => `days=${DAYS}&tz=${encodeURIComponent(state.tz)}${extra || ""}`;

async function loadWorkspace(ws) {
  state.workspace = ws;
  document.body.dataset.loaded = "";
  const agents = await api("GET", `/api/agents?workspace_id=${ws}`);
  state.agents = Object.fromEntries(agents.map((a) => [a.id, a]));
  const from = firstDay();
  const [daily, byAgent] = await Promise.all([
    api("GET", `/api/dashboard/usage/daily?workspace_id=${ws}&${q()}`),
    api("GET", `/api/dashboard/usage/by-agent?workspace_id=${ws}&${q()}`),
  ]);
  const rows = daily.filter((r) => r.date >= from);
  const tokens = rows.reduce((s, r) => s + tokensOf(r), 0);
  const cost = rows.reduce((s, r) => s + r.total_cost_usd_ticks, 0);
  const unpriced = rows.reduce((s, r) => s + r.unpriced_tokens, 0);
  $("totals").replaceChildren(
    el("div", { id: "total-tokens", "data-value": String(tokens) }, el("span", { class: "note" }, "Tokens"), el("b", {}, tokensText(tokens))),
    el("div", { id: "total-cost", "data-value": String(cost) }, el("span", { class: "note" }, "Cost"), el("b", {}, usdText(cost))),
    el("div", { id: "total-unpriced", "data-value": String(unpriced) }, el("span", { class: "note" }, "Tokens without a price"), el("b", {}, tokensText(unpriced))));
  stackedBars($("chart-tokens"), "Tokens by model", rows, tokensOf, tokensText);
  stackedBars($("chart-cost"), "Cost by model", rows, (r) => r.total_cost_usd_ticks, usdText);
  $("by-agent").replaceChildren(byAgentTable(byAgent, "agents-table"));
  await loadRuntimes(ws, from);
  connect(ws);
  document.body.dataset.loaded = ws;
}

async function loadRuntimes(ws, from) {
  const runtimes = await api("GET", `/api/runtimes?workspace_id=${ws}`);
  const body = $("runtimes").querySelector("tbody");
  body.replaceChildren();
  show("runtime-detail", false);
  for (const rt of runtimes) {
    const usage = (await api("GET", `/api/runtimes/${rt.id}/usage?${q()}`)).filter((r) => r.date >= from);
    const tokens = usage.reduce((s, r) => s + tokensOf(r), 0);
    const cost = usage.reduce((s, r) => s + r.total_cost_usd_ticks, 0);
    const status = rt.online ? "online" : "offline";
    const tr = el("tr", { class: "pick", "data-runtime": rt.id },
      el("td", {}, rt.name), el("td", { class: `status-${status}` }, status),
      el("td", { class: "num" }, tokensText(tokens)), el("td", { class: "num" }, usdText(cost)),
      el("td", { class: "num" }, String(rt.usage_missing_tasks || 0)));
    tr.onclick = () => runtimeDetail(rt, usage);
    body.append(tr);
  }
  if (runtimes.length === 0) body.append(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No runtime yet")));
}

async function runtimeDetail(rt, usage) {
  show("runtime-detail");
  $("runtime-name").textContent = rt.name;
  stackedBars($("chart-runtime-tokens"), "Tokens by model", usage, tokensOf, tokensText);
  stackedBars($("chart-runtime-cost"), "Cost by model", usage, (r) => r.total_cost_usd_ticks, usdText);
  const byAgent = await api("GET", `/api/runtimes/${rt.id}/usage/by-agent?${q()}`);
  $("runtime-by-agent").replaceChildren(byAgentTable(byAgent, "runtime-agents-table"));
  $("runtime-detail").dataset.runtime = rt.id;
}

// ---- tasks, live ----------------------------------------------------------------------------

function connect(ws) {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws?token=${encodeURIComponent(state.token)}`;
  const sock = new WebSocket(url);
  state.socket = sock;
  sock.onopen = () => sock.send(JSON.stringify({ type: "subscribe", workspace_id: ws, since: state.seq || undefined }));
  sock.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "subscribed") { $("live").textContent = "live"; $("live").className = "pill on"; }
    if (msg.type !== "event") return;
    state.seq = Math.max(state.seq, msg.seq);
    taskEvent(msg.event);
  };
  sock.onclose = () => {
    $("live").textContent = "offline";
    $("live").className = "pill off";
    if (state.workspace === ws) setTimeout(() => state.workspace === ws && connect(ws), 2000);
  };
}

// An agent created since the workspace was loaded: fetch the agents again (once at a time) and
// name it wherever the task list shows it.
let agentsLoading = null;
function refreshAgents() {
  if (agentsLoading) return;
  const ws = state.workspace;
  agentsLoading = api("GET", `/api/agents?workspace_id=${ws}`).then((agents) => {
    if (state.workspace !== ws) return;
    state.agents = Object.fromEntries(agents.map((a) => [a.id, a]));
    for (const td of document.querySelectorAll("#tasks td[data-agent-name]"))
      td.textContent = agentName(td.dataset.agentName);
  }).catch(() => {}).finally(() => { agentsLoading = null; });
}

function taskEvent(ev) {
  const d = ev.data || {};
  if (!d.task_id) return;
  show("tasks-empty", false);
  const body = $("tasks").querySelector("tbody");
  let tr = body.querySelector(`tr[data-task="${d.task_id}"]`);
  if (!tr) {
    tr = el("tr", { "data-task": d.task_id }, el("td", {}, d.task_id.slice(0, 8)),
      el("td", { "data-agent-name": d.agent_id || "" }, agentName(d.agent_id || "")), el("td", {}), el("td", {}));
    body.prepend(tr);
    if (d.agent_id && !state.agents[d.agent_id]) refreshAgents();
  }
  const version = Number(d.version || 0);
  if (version < Number(tr.dataset.version || 0)) return; // an older event, replayed
  tr.dataset.version = String(version);
  tr.dataset.status = d.status;
  tr.children[2].textContent = d.status;
  tr.children[2].className = `status-${d.status}`;
  tr.children[3].textContent = new Date(ev.time).toLocaleTimeString();
}

// ---- start ----------------------------------------------------------------------------------

async function start() {
  if (cli && (!validCallback(cli.url) || !/^[0-9a-fA-F]{1,128}$/.test(cli.state))) {
    show("cli-bad");
    return;
  }
  if (state.token) {
    try { state.me = await api("GET", "/api/me"); } catch { state.token = null; localStorage.removeItem(TOKEN_KEY); }
  }
  if (!state.me) { showSignin(); return; }
  if (cli) {
    show("cli-confirm");
    $("cli-host").textContent = new URL(cli.url).host;
    $("cli-email").textContent = state.me.email;
    $("cli-authorize").onclick = handOff;
    $("cli-cancel").onclick = () => location.replace("/");
    return;
  }
  openApp();
}

start();
