// dashboard.js: drives the scheduler's dashboard in Debian's headless
// chromium with playwright-core (tests/integration/dashboard_ui.sh).
//   node dashboard.js BASE_URL JOB_ID SCREENSHOT_DIR [TOKEN]
// TOKEN (an admin bearer token) is put where the page's sign-in form keeps
// it (localStorage) before the page loads.
// Checks: every page loads without a console error, the running job's
// progress bar moves (Server-Sent Events), clicking cancel ends the job.
// Prints "ok - ..." / "not ok - ..." lines; exit 1 on any failure.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

const [base, job, shots, token] = process.argv.slice(2);
let failed = 0;
const ok = (cond, what) => { console.log((cond ? "ok - " : "not ok - ") + what); if (!cond) failed++; };

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "vodq-chromium-"));
  // a fresh profile (the --user-data-dir), removed at the end
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    timeout: 60000,
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    if (token) await page.addInitScript((t) => localStorage.setItem("vodq-token", t), token);
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("requestfailed", (r) => { if (!r.url().includes("/events?")) errors.push("request failed: " + r.url()); });

    await page.goto(base + "/#/", { waitUntil: "load" });
    await page.waitForSelector("main table", { timeout: 10000 });
    const lanes = await page.locator("main table tr").count();
    ok(lanes >= 5, `queues page shows the lanes (${lanes - 1} rows)`);
    await page.waitForTimeout(2500); // one chart tick
    await page.screenshot({ path: path.join(shots, "queues.png"), fullPage: true, caret: "initial" });

    await page.goto(base + "/#/jobs?state=active", { waitUntil: "load" });
    await page.waitForSelector(`a[href="#/job/${job}"]`, { timeout: 10000 });
    ok(true, "jobs page filtered on state=active lists the running job");
    await page.screenshot({ path: path.join(shots, "jobs.png"), fullPage: true, caret: "initial" });

    await page.goto(base + "/#/job/" + job, { waitUntil: "load" });
    await page.waitForSelector("#pct", { timeout: 10000 });
    const width = () => page.$eval("#progress .bar > div", (d) => parseFloat(d.style.width) || 0);
    const w0 = await width();
    let w1 = w0;
    for (let i = 0; i < 40 && w1 <= w0; i++) { await page.waitForTimeout(250); w1 = await width(); }
    ok(w1 > w0, `the running job's bar moves (${w0}% -> ${w1}%)`);
    const spec = await page.textContent("main");
    ok(spec.includes("\"sleep\""), "the job page shows the spec");
    await page.screenshot({ path: path.join(shots, "job-running.png"), fullPage: true, caret: "initial" });

    await page.click("#btn-cancel");
    let state = "";
    for (let i = 0; i < 60 && state !== "cancelled"; i++) {
      await page.waitForTimeout(250);
      state = await page.evaluate(async ([id, t]) => (await (await fetch("/jobs/" + id,
        { headers: t ? { Authorization: "Bearer " + t } : {} })).json()).state, [job, token]);
    }
    ok(state === "cancelled", `clicking cancel ends the job (state ${state})`);
    await page.waitForSelector("main .state.cancelled", { timeout: 10000 }).then(() => ok(true, "the page shows it cancelled"),
      () => ok(false, "the page shows it cancelled"));
    await page.screenshot({ path: path.join(shots, "job-cancelled.png"), fullPage: true, caret: "initial" });

    await page.goto(base + "/#/workers", { waitUntil: "load" });
    await page.waitForSelector("main table tr:nth-child(2)", { timeout: 10000 });
    ok((await page.textContent("main")).includes("w1"), "workers page lists the worker");
    await page.screenshot({ path: path.join(shots, "workers.png"), fullPage: true, caret: "initial" });

    await page.goto(base + "/#/dead", { waitUntil: "load" });
    await page.waitForSelector("main h2", { timeout: 10000 });
    await page.screenshot({ path: path.join(shots, "dead.png"), fullPage: true, caret: "initial" });
    ok(errors.length === 0, "no console error" + (errors.length ? ": " + errors.join(" | ") : ""));
  } catch (e) {
    ok(false, "dashboard run: " + e.message);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})();
