// Browser end-to-end tests: the real gatehouse binary, a real OpenID
// Provider and headless Chromium. Run with `make test-e2e`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { outputDir, startOtherOrigin, useFixture } from './harness.mjs';

const cookieName = 'gatehouse'; // plain http public_url: no __Host- prefix

let fx; // { info, stop }
let browser;
let base;

useFixture((e) => ({ fx, browser, base } = e));

/** Returns the URL the page is on, relative to gatehouse (path + query). */
function where(page) {
  const u = new URL(page.url());
  assert.equal(u.origin, base, `page left gatehouse: ${page.url()}`);
  return u;
}

/** Fills the login form on the current /login page and submits it. */
async function submitLogin(page, { username, password }, expectedPath) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === expectedPath),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
}

/** Password login through /login?next=/account; returns the page on /account. */
async function loginToAccount(page) {
  await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
  await submitLogin(page, fx.info, '/account');
  await assertSignedInAs(page, fx.info.username);
}

async function assertSignedInAs(page, username) {
  assert.equal(where(page).pathname, '/account');
  assert.equal((await page.locator('h1').textContent()).trim(), `Signed in as ${username}`);
}

async function sessionCookie(page) {
  const cookies = await page.context().cookies(base);
  return cookies.find((c) => c.name === cookieName);
}

/** GET /auth/session with the page's cookies (from Node, not the page). */
async function sessionStatus(page) {
  const resp = await page.context().request.get(`${base}/auth/session`, { maxRedirects: 0 });
  return { status: resp.status(), body: resp.status() === 200 ? await resp.json() : null };
}

/** Opens /app/hello and asserts the browser is sent to the login page. */
async function assertAppRedirectsToLogin(page) {
  const resp = await page.goto(`${base}/app/hello`);
  const first = resp.request().redirectedFrom();
  assert.ok(first, 'expected a redirect from /app/hello');
  assert.equal(new URL(first.url()).pathname, '/app/hello');
  assert.equal((await first.response()).status(), 302);
  const u = where(page);
  assert.equal(u.pathname, '/login');
  assert.equal(u.searchParams.get('next'), '/app/hello');
  assert.equal(resp.status(), 200);
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
}

test('password login lands on /account showing the user and this session', async () => {
  const page = await browser.newPage();
  const resp = await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
  assert.equal(resp.status(), 200);
  assert.equal(await page.locator('input[name=next]').inputValue(), '/account');
  await page.getByLabel('Username').fill(fx.info.username);
  await page.getByLabel('Password').fill(fx.info.password);
  await page.screenshot({ path: path.join(outputDir, 'login.png'), fullPage: true });

  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await assertSignedInAs(page, fx.info.username);
  await page.getByText('this session', { exact: true }).waitFor();
  assert.equal(await page.getByText('this session', { exact: true }).count(), 1);
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  await page.screenshot({ path: path.join(outputDir, 'account.png'), fullPage: true });

  const cookie = await sessionCookie(page);
  assert.ok(cookie, 'session cookie set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(cookie.path, '/');
  await page.context().close();
});

test('protected /app/hello sends the browser to login and back, with identity headers upstream', async () => {
  const page = await browser.newPage();
  await assertAppRedirectsToLogin(page);

  const upstream = page.waitForResponse((r) => r.url() === `${base}/app/hello` && r.request().method() === 'GET');
  await submitLogin(page, fx.info, '/app/hello');
  const resp = await upstream;
  assert.equal(resp.status(), 200);
  const echo = await resp.json();
  assert.equal(echo.path, '/app/hello');
  assert.equal(echo.identity['X-Auth-User'], fx.info.username);
  assert.equal(echo.identity['X-Auth-Method'], 'session');
  assert.ok(await sessionCookie(page), 'the browser holds the session cookie');
  const names = echo.cookie_header.split(';').map((c) => c.trim().split('=')[0]);
  assert.ok(!names.includes(cookieName), `gatehouse cookie reached the upstream: ${echo.cookie_header}`);
  await page.context().close();
});

test('OIDC login through the provider button lands on next with a linked identity', async () => {
  const page = await browser.newPage();
  const opRequests = [];
  page.on('request', (r) => { if (r.url().startsWith(fx.info.op_issuer)) opRequests.push(new URL(r.url()).pathname); });
  await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
  const button = page.getByRole('link', { name: fx.info.oidc_display_name, exact: true });
  const href = new URL(await button.getAttribute('href'), base);
  assert.equal(href.pathname, `/auth/oidc/${fx.info.oidc_provider}/start`);
  assert.equal(href.searchParams.get('next'), '/account');

  await Promise.all([page.waitForURL((u) => u.origin === base && u.pathname === '/account'), button.click()]);
  assert.ok(opRequests.includes('/authorize'), `the browser never reached the provider: ${opRequests}`);
  await assertSignedInAs(page, fx.info.oidc_username);
  await page.getByRole('heading', { name: 'Linked identities' }).waitFor();
  const row = page.locator('tr', { has: page.getByRole('cell', { name: fx.info.oidc_provider, exact: true }) });
  assert.equal(await row.count(), 1);
  assert.equal((await row.locator('td').nth(1).textContent()).trim(), fx.info.oidc_email);
  const current = page.locator('tr', { hasText: 'this session' });
  assert.match(await current.textContent(), new RegExp(`oidc:${fx.info.oidc_provider}`));
  await page.screenshot({ path: path.join(outputDir, 'account-oidc.png'), fullPage: true });

  const { status, body } = await sessionStatus(page);
  assert.equal(status, 200);
  assert.equal(body.user.username, fx.info.oidc_username);
  assert.deepEqual(body.user.roles, ['user']);
  await page.context().close();
});

test('Sign out ends the session: /login, then /app/hello is refused even with the old cookie', async () => {
  const page = await browser.newPage();
  await loginToAccount(page);
  const old = await sessionCookie(page);
  assert.ok(old, 'session cookie set');

  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login'),
    page.getByRole('button', { name: 'Sign out', exact: true }).click(),
  ]);
  assert.equal(where(page).pathname, '/login');
  assert.equal(await sessionCookie(page), undefined, 'cookie cleared in the browser');
  assert.equal((await sessionStatus(page)).status, 401);
  await assertAppRedirectsToLogin(page);

  // Replaying the old cookie must not work either: the session is gone server-side.
  await page.context().addCookies([old]);
  assert.equal((await sessionStatus(page)).status, 401);
  await assertAppRedirectsToLogin(page);
  await page.context().close();
});

test('a form POST from another origin is refused with 403 and the session survives', async (t) => {
  const cases = [
    // Same site (cookies are sent: the real CSRF risk), other port.
    { host: '127.0.0.1', action: () => `${base}/auth/logout`, fetchSite: 'same-site' },
    { host: '127.0.0.1', action: (sid) => `${base}/auth/sessions/${sid}/revoke`, fetchSite: 'same-site' },
    // Another site altogether.
    { host: 'localhost', action: () => `${base}/auth/logout`, fetchSite: 'cross-site' },
  ];
  const page = await browser.newPage();
  await loginToAccount(page);
  const { status, body } = await sessionStatus(page);
  assert.equal(status, 200);
  const sid = body.session.id;
  // The ID appears in URLs and logs, so it must not be the cookie's secret value.
  assert.notEqual(sid, (await sessionCookie(page)).value);

  for (const c of cases) {
    const other = await startOtherOrigin(c.host);
    try {
      const target = c.action(sid);
      const posted = page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST');
      await page.goto(other.pageFor(target));
      const resp = await posted;
      const headers = await resp.request().allHeaders();
      t.diagnostic(`POST ${new URL(target).pathname} from ${other.origin}: ${resp.status()}, ` +
        `Sec-Fetch-Site: ${headers['sec-fetch-site']}, Origin: ${headers.origin}`);
      assert.equal(headers['sec-fetch-site'], c.fetchSite);
      assert.equal(headers.origin, other.origin);
      assert.equal(resp.status(), 403, `cross-origin POST to ${target} was not refused`);
    } finally {
      await other.close();
    }
    const after = await sessionStatus(page);
    assert.equal(after.status, 200, 'the session must survive a refused cross-origin request');
    assert.equal(after.body.session.id, sid);
  }

  await page.goto(`${base}/account`);
  await assertSignedInAs(page, fx.info.username);
  await page.context().close();
});
