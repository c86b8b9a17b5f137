// e2e.mjs: the web page end to end in headless Chromium (Debian's, driven by playwright-core):
// sign in by email code, read the usage charts and check every number against the API, watch a
// task move to completed over the WebSocket, and sign the multica CLI in through /login.
// Run by tests/integration/test_web.c through tools/web-test.sh, which prepares the stack and
// the data, then drives the task once this script says it is watching (READY_FILE).
//
// Environment: BASE (the gateway), EMAIL and CODE (a user and the dev login code), WORKSPACE,
// TZ_ID (the browser's time zone), READY_FILE, SHOTS (a directory for screenshots; optional).
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { strict as assert } from "node:assert";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const { BASE, EMAIL, CODE, WORKSPACE, TZ_ID = "UTC", READY_FILE, SHOTS } = process.env;
for (const [k, v] of Object.entries({ BASE, EMAIL, CODE, WORKSPACE, READY_FILE }))
  assert.ok(v, `${k} is required`);
const DAYS = 30;
const log = (...a) => console.log("[e2e]", ...a);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function newPage() {
  const context = await browser.newContext({ timezoneId: TZ_ID, viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => { console.error("[page error]", e); process.exitCode = 1; });
  page.on("console", (m) => { if (m.type() === "error") console.error("[page console]", m.text()); });
  return page;
}

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  log("screenshot", name);
}

async function signIn(page) {
  await page.fill("#email", EMAIL);
  await page.click("#email-form button");
  await page.waitForSelector("#code-form:not([hidden])");
  await page.fill("#code", CODE);
  await page.click("#code-form button");
}

// ---- sign in, and the charts against the API --------------------------------------------------

const page = await newPage();
await page.goto(`${BASE}/`);
await signIn(page);
await page.waitForSelector("body[data-loaded]:not([data-loaded=''])", { timeout: 30000 });
const token = await page.evaluate(() => localStorage.getItem("multica_token"));
assert.ok(token, "the page keeps the session token");

// Picking a workspace: the user has two (the test made an empty one too); each shows its own.
const options = await page.$$eval("#workspace option", (os) => os.map((o) => o.value));
assert.ok(options.includes(WORKSPACE) && options.length >= 2, `workspaces offered: ${options}`);
const other = options.find((o) => o !== WORKSPACE);
await page.selectOption("#workspace", other);
await page.waitForSelector(`body[data-loaded="${other}"]`, { timeout: 30000 });
assert.equal(Number(await page.getAttribute("#total-tokens", "data-value")), 0, "the empty workspace shows none");
await page.selectOption("#workspace", WORKSPACE);
await page.waitForSelector(`body[data-loaded="${WORKSPACE}"]`, { timeout: 30000 });

async function api(path) {
  const res = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

const today = new Intl.DateTimeFormat("en-CA", { timeZone: TZ_ID }).format(new Date());
const [y, m, d] = today.split("-").map(Number);
const from = new Date(Date.UTC(y, m - 1, d - (DAYS - 1))).toISOString().slice(0, 10);
const tz = encodeURIComponent(TZ_ID);
const daily = (await api(`/api/dashboard/usage/daily?workspace_id=${WORKSPACE}&days=${DAYS}&tz=${tz}`))
  .filter((r) => r.date >= from);
assert.ok(daily.length >= 12, `the API has usage to show (${daily.length} rows)`);
const tokensOf = (r) => r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens;

function expected(valueOf) {
  const cells = new Map();
  for (const r of daily) {
    const k = `${r.date}|${r.model}`;
    cells.set(k, (cells.get(k) || 0) + valueOf(r));
  }
  for (const [k, v] of cells) if (v <= 0) cells.delete(k);
  return cells;
}

async function chart(id) {
  const segs = await page.$$eval(`#${id} rect.seg`, (els) =>
    els.map((e) => [`${e.dataset.date}|${e.dataset.model}`, Number(e.dataset.value)]));
  return new Map(segs);
}

for (const [id, valueOf] of [["chart-tokens", tokensOf], ["chart-cost", (r) => r.total_cost_usd_ticks]]) {
  const want = expected(valueOf);
  const got = await chart(id);
  assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort(), `${id} shows the API's numbers`);
  const total = [...want.values()].reduce((a, b) => a + b, 0);
  assert.equal(Number(await page.getAttribute(`#${id}`, "data-total")), total, `${id} total`);
  log(id, "matches the API:", got.size, "bars, total", total);
}
const totalTokens = daily.reduce((s, r) => s + tokensOf(r), 0);
const totalCost = daily.reduce((s, r) => s + r.total_cost_usd_ticks, 0);
assert.equal(Number(await page.getAttribute("#total-tokens", "data-value")), totalTokens);
assert.equal(Number(await page.getAttribute("#total-cost", "data-value")), totalCost);
assert.ok(totalCost > 0, "usage is priced");
const usd = (totalCost / 1e10).toFixed(totalCost / 1e10 < 1 ? 4 : 2);
assert.equal(await page.textContent("#total-cost b"), `$${usd}`, "the cost is shown in dollars");

// By agent: the dashboard's exact window, summed per agent.
const byAgent = await api(`/api/dashboard/usage/by-agent?workspace_id=${WORKSPACE}&days=${DAYS}&tz=${tz}`);
const agents = new Map();
for (const r of byAgent) agents.set(r.agent_id, (agents.get(r.agent_id) || 0) + tokensOf(r));
const shown = new Map(await page.$$eval("#agents-table tbody tr", (rows) =>
  rows.map((r) => [r.dataset.agent, Number(r.dataset.tokens)])));
assert.deepEqual([...shown.entries()].sort(), [...agents.entries()].sort(), "by agent shows the API's numbers");
assert.ok(shown.size >= 1);

// Runtimes with their status; the runtime's own chart is its usage read.
const rows = await page.$$eval("#runtimes tbody tr[data-runtime]", (rs) =>
  rs.map((r) => ({ id: r.dataset.runtime, status: r.children[1].textContent })));
assert.ok(rows.length >= 1, "runtimes are listed");
await page.click(`#runtimes tr[data-runtime="${rows[0].id}"]`);
const rtUsage = (await api(`/api/runtimes/${rows[0].id}/usage?days=${DAYS}&tz=${tz}`)).filter((r) => r.date >= from);
const rtWant = rtUsage.reduce((s, r) => s + tokensOf(r), 0);
assert.equal(Number(await page.getAttribute("#chart-runtime-tokens", "data-total")), rtWant, "the runtime's chart");
await page.waitForSelector(`#runtime-detail[data-runtime="${rows[0].id}"]`);
const rtAgents = new Map();
for (const r of await api(`/api/runtimes/${rows[0].id}/usage/by-agent?days=${DAYS}&tz=${tz}`))
  rtAgents.set(r.agent_id, (rtAgents.get(r.agent_id) || 0) + tokensOf(r));
const rtShown = new Map(await page.$$eval("#runtime-agents-table tbody tr", (rs) =>
  rs.map((r) => [r.dataset.agent, Number(r.dataset.tokens)])));
assert.deepEqual([...rtShown.entries()].sort(), [...rtAgents.entries()].sort(), "the runtime's agents");
assert.equal(rows[0].status, "online", "the runtime that just registered is online");
await shot(page, "web-dashboard.png");

// ---- a task, live ---------------------------------------------------------------------------

await page.waitForSelector("#live.on", { timeout: 15000 });
await page.evaluate(() => {
  window.__statuses = [];
  new MutationObserver((changes) => {
    for (const c of changes) {
      const tr = c.target.closest && c.target.closest("tr[data-task]");
      if (tr && tr.dataset.status && window.__statuses.at(-1) !== tr.dataset.status)
        window.__statuses.push(tr.dataset.status);
    }
  }).observe(document.querySelector("#tasks tbody"), { subtree: true, childList: true, attributes: true });
});
writeFileSync(READY_FILE, "watching\n");
log("watching the tasks");
await page.waitForSelector('#tasks tr[data-status="completed"]', { timeout: 90000 });
const statuses = await page.evaluate(() => window.__statuses);
log("statuses seen live:", statuses.join(" -> "));
assert.equal(statuses.at(-1), "completed");
assert.ok(statuses.length >= 2 && statuses.some((s) => s === "running" || s === "dispatched"),
  "the task was seen moving, not only finished");
// The agent was created after the page loaded: the list names it all the same.
await page.waitForFunction(() =>
  document.querySelector('#tasks tr[data-status="completed"] td[data-agent-name]').textContent === "watched-agent",
null, { timeout: 10000 });
await shot(page, "web-tasks.png");

// ---- the multica CLI's browser sign-in ------------------------------------------------------

const callbacks = [];
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/callback") callbacks.push(url);
  res.writeHead(200, { "Content-Type": "text/html" });
  res.end("<p>Signed in. You can close this tab.</p>");
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const cb = `http://127.0.0.1:${server.address().port}/callback`;
const loginUrl = (state) =>
  `${BASE}/login?cli_callback=${encodeURIComponent(cb)}&cli_state=${state}`;

async function expectCallback(state) {
  for (let i = 0; i < 100 && callbacks.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const got = callbacks.shift();
  assert.ok(got, "the browser came back to the CLI");
  assert.equal(got.searchParams.get("state"), state);
  const me = await fetch(`${BASE}/api/me`, { headers: { Authorization: `Bearer ${got.searchParams.get("token")}` } });
  assert.equal(me.status, 200, "the token handed to the CLI works");
  assert.equal((await me.json()).email, EMAIL);
  // What `multica login` does next: trade it for a personal access token, and check that.
  const pat = await fetch(`${BASE}/api/tokens`, {
    method: "POST",
    headers: { Authorization: `Bearer ${got.searchParams.get("token")}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "CLI (e2e)", expires_in_days: 90 }),
  });
  assert.equal(pat.status, 201, "the CLI gets its personal access token");
  const { token } = await pat.json();
  assert.ok(token.startsWith("mul_"), "a Multica personal access token");
  const again = await fetch(`${BASE}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal((await again.json()).email, EMAIL, "the CLI's token is the user's");
}

// A link to anywhere but this machine or a private address is refused.
await page.goto(`${BASE}/login?cli_callback=${encodeURIComponent("https://evil.example/cb")}&cli_state=ab12`);
await page.waitForSelector("#cli-bad:not([hidden])");
// Signed in already: the user confirms, then the browser goes back to the CLI.
await page.goto(loginUrl("c0ffee01"));
await page.waitForSelector("#cli-confirm:not([hidden])");
await shot(page, "web-cli-login.png");
await page.click("#cli-authorize");
await expectCallback("c0ffee01");
// A browser that is not signed in: sign in, and straight back to the CLI.
const fresh = await newPage();
await fresh.goto(loginUrl("5ca1ab1e"));
await fresh.waitForSelector("#cli-note:not([hidden])");
await signIn(fresh);
await expectCallback("5ca1ab1e");
log("the CLI sign-in hands a working token back, with its state");

server.close();
await browser.close();
log("ok");
