// Shared setup for the browser tests: the Go fixture (gatehouse + test
// OpenID provider + echo upstream), headless Chromium through
// playwright-core, and a second loopback origin for cross-origin tests.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Screenshots and the gatehouse log land here (gitignored). */
export const outputDir = path.join(here, 'output');

/** Chromium flags for a quiet, reproducible headless run on a CI box. */
const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Starts bin/e2efixture and waits for its JSON line. Resolves to
 * { info, stop, restart } where info is {base_url, username, password,
 * op_issuer, …}; restart() restarts `gatehouse serve` (same port and
 * database) and resolves once it is ready again.
 */
export async function startFixture({ timeoutMs = 60_000, args = [] } = {}) {
  const fixture = process.env.E2E_FIXTURE ?? path.join(here, '..', 'bin', 'e2efixture');
  const gatehouse = process.env.GATEHOUSE_BIN ?? path.join(here, '..', 'bin', 'gatehouse');
  await mkdir(outputDir, { recursive: true });
  const logPath = path.join(outputDir, 'gatehouse.log');
  const log = createWriteStream(logPath);
  const child = spawn(fixture, ['-gatehouse', gatehouse, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.pipe(log);
  // Last resort: never leave the fixture behind, even on an uncaught error.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));

  const lines = createInterface({ input: child.stdout });
  let line;
  try {
    line = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`e2efixture not ready within ${timeoutMs} ms`)), timeoutMs);
      lines.once('line', (l) => { clearTimeout(timer); resolve(l); });
      child.once('error', (err) => { clearTimeout(timer); reject(err); });
      exited.then((status) => { clearTimeout(timer); reject(new Error(`e2efixture exited (${status}) before it was ready`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${err.message}; its log is ${logPath}`);
  }

  async function stop() {
    child.stdin.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
    log.end();
  }
  async function restart() {
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gatehouse not back within ${timeoutMs} ms; its log is ${logPath}`)), timeoutMs);
      lines.once('line', (l) => { clearTimeout(timer); resolve(JSON.parse(l)); });
    });
    child.stdin.write('restart\n');
    return ready;
  }
  return { info: JSON.parse(line), stop, restart, logPath };
}

/**
 * Registers the before/after hooks every test file shares: one fixture and
 * one browser per file. onReady receives { fx, browser, base } once both run.
 * fixtureArgs are extra e2efixture flags (e.g. ['-public-host', 'localhost']).
 */
export function useFixture(onReady, { fixtureArgs = [] } = {}) {
  let fx;
  let browser;
  before(async () => {
    fx = await startFixture({ args: fixtureArgs });
    browser = await launchBrowser();
    onReady({ fx, browser, base: fx.info.base_url });
  }, { timeout: 90_000 });
  after(async () => {
    await browser?.close();
    await fx?.stop();
  }, { timeout: 30_000 });
}

/**
 * Signs in through the login form at /login?next=next and waits until the
 * browser is on next (or below it).
 */
export async function signIn(page, base, username, password, next = '/account') {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === next || u.pathname.startsWith(next)),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
}

/**
 * Launches headless Debian Chromium. playwright-core gives every launch a
 * fresh temporary profile (user-data-dir) and removes it on close.
 */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs, timeout: 30_000 });
  return {
    // Each test gets its own context (incognito-like): no shared cookies.
    async newPage() {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      page.setDefaultNavigationTimeout(15_000);
      return page;
    },
    close: () => browser.close(),
  };
}

/**
 * Serves, on a second loopback origin, pages that auto-submit a form POST
 * to target (an attacker's page). host is "127.0.0.1" (same site as
 * gatehouse, other port) or "localhost" (another site).
 */
export async function startOtherOrigin(host = '127.0.0.1') {
  const server = http.createServer((req, res) => {
    const target = new URL(req.url, 'http://x').searchParams.get('target') ?? '';
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>elsewhere</title>
<form method="post" action="${escapeHTML(target)}"><input type="hidden" name="x" value="1"></form>
<script>document.forms[0].submit()</script>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    origin: `http://${host}:${port}`,
    pageFor: (target) => `http://${host}:${port}/?target=${encodeURIComponent(target)}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

function escapeHTML(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
