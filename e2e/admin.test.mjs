// Admin console in Chromium (issue 16): find a user, revoke one of their
// sessions, see their next request refused, and ask "explain" why.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { outputDir, signIn, useFixture } from './harness.mjs';

const cookieName = 'gatehouse';

let fx;
let browser;
let base;

useFixture((e) => ({ fx, browser, base } = e));

test('admin finds a user, revokes a session, the user is refused, explain says why', async () => {
  // Alice signs in and uses the session route.
  const alice = await browser.newPage();
  await signIn(alice, base, fx.info.username, fx.info.password, '/account');
  const aliceCookie = (await alice.context().cookies(base)).find((c) => c.name === cookieName);
  assert.ok(aliceCookie, 'alice has a session cookie');
  let resp = await alice.context().request.get(`${base}/app/hello`, { maxRedirects: 0 });
  assert.equal(resp.status(), 200);

  // The console sends a browser without a session to /login and back.
  const admin = await browser.newPage();
  await admin.goto(`${base}/admin/`);
  assert.equal(new URL(admin.url()).pathname, '/login');
  await admin.getByLabel('Username').fill(fx.info.admin_username);
  await admin.getByLabel('Password').fill(fx.info.admin_password);
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/admin/users'),
    admin.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);

  // Find alice.
  await admin.getByLabel('Search by username').fill('ali');
  await Promise.all([admin.waitForURL((u) => u.searchParams.get('q') === 'ali'), admin.getByRole('button', { name: 'Search' }).click()]);
  await admin.screenshot({ path: path.join(outputDir, 'admin-users.png'), fullPage: true });
  await Promise.all([admin.waitForURL((u) => u.pathname === `/admin/users/${fx.info.username}`), admin.getByRole('link', { name: fx.info.username, exact: true }).click()]);
  const revoke = admin.getByRole('button', { name: /^Revoke session/ });
  assert.equal(await revoke.count(), 1, 'alice has one session');
  await admin.screenshot({ path: path.join(outputDir, 'admin-user.png'), fullPage: true });

  // Revoke it (a same-origin form POST, keyboard only).
  await revoke.focus();
  await Promise.all([admin.waitForLoadState('load'), admin.keyboard.press('Enter')]);
  await admin.getByText('No sessions.').waitFor();

  // Alice's next request is refused: the browser goes to the login page.
  resp = await alice.context().request.get(`${base}/app/hello`, { maxRedirects: 0, headers: { Accept: 'text/html' } });
  assert.equal(resp.status(), 302);
  assert.equal(new URL(resp.headers().location, base).pathname, '/login');

  // Explain says why, with the gateway's reason id.
  await admin.getByRole('link', { name: 'Explain' }).click();
  await admin.getByLabel('URL or path').fill('/app/hello');
  await admin.getByLabel('Session cookie value (optional)').fill(aliceCookie.value);
  await Promise.all([admin.waitForLoadState('load'), admin.getByRole('button', { name: 'Explain' }).click()]);
  assert.equal((await admin.locator('#reason').textContent()).trim(), 'invalid_session');
  assert.match(await admin.locator('#outcome').textContent(), /401 unauthorized/);
  assert.ok(!(await admin.content()).includes(aliceCookie.value), 'the page does not echo the cookie');
  await admin.screenshot({ path: path.join(outputDir, 'admin-explain.png'), fullPage: true });

  // Usable at phone width: nothing wider than the screen but the scrollable tables.
  await admin.setViewportSize({ width: 390, height: 844 });
  await admin.goto(`${base}/admin/users/${fx.info.username}`);
  const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than a phone`);
  await admin.screenshot({ path: path.join(outputDir, 'admin-user-phone.png'), fullPage: true });

  // Alice is no administrator.
  const alice2 = await browser.newPage();
  await signIn(alice2, base, fx.info.username, fx.info.password, '/account');
  resp = await alice2.goto(`${base}/admin/users`);
  assert.equal(resp.status(), 403);
});
