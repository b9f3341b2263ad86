// Admin console in Chromium (issue 16): the administrator enrols TOTP on
// the way in (admin.require_mfa), finds a user, revokes one of their
// sessions, sees their next request refused, asks "explain" why, then
// registers a client (its secret shown once) and looks at second factors.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { outputDir, signIn, useFixture } from './harness.mjs';
import { totp } from './totp.mjs';

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
  // admin.require_mfa: a password session is sent to the step-up page,
  // which offers an administrator without a factor to enrol one.
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/login/mfa' && u.searchParams.get('next') === '/admin/'),
    admin.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/auth/mfa/totp'),
    admin.getByRole('button', { name: 'Set up an authenticator app' }).click(),
  ]);
  const secret = (await admin.locator('#totp-secret').textContent()).trim();
  await admin.getByLabel('Code shown by the app').fill(totp(secret));
  // The enrolment shows the first recovery codes once. Enrolment alone
  // does not give this session a second factor: Continue goes back to the
  // step-up page, which now asks for a code (the next one: a code is
  // accepted once).
  await admin.getByRole('button', { name: 'Turn on' }).click();
  await admin.getByRole('heading', { name: 'Recovery codes' }).waitFor();
  assert.equal(await admin.locator('ul.codes li').count(), 10, 'the step-up enrolment shows 10 recovery codes');
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/login/mfa' && u.searchParams.get('next') === '/admin/'),
    admin.getByRole('link', { name: 'Continue' }).click(),
  ]);
  await admin.getByLabel('Code from your authenticator app').fill(totp(secret, { step: 1 }));
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/admin/users'),
    admin.getByRole('button', { name: 'Verify' }).click(),
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

  // Register a confidential client: its secret is shown once, on the
  // answer page only.
  await admin.setViewportSize({ width: 1280, height: 800 });
  await admin.getByRole('link', { name: 'Clients' }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/clients');
  await admin.getByLabel('Client ID').fill('orders-svc');
  await admin.getByLabel('Name (shown on the consent page)').fill('Orders service');
  await admin.getByLabel('Type', { exact: true }).selectOption('confidential');
  await admin.getByRole('checkbox', { name: 'authorization_code' }).uncheck();
  await admin.getByRole('checkbox', { name: 'client_credentials' }).check();
  await admin.getByLabel('Scopes (space-separated)').fill('orders');
  await Promise.all([admin.waitForLoadState('load'), admin.getByRole('button', { name: 'Add client' }).click()]);
  const clientSecret = (await admin.locator('#client-secret').textContent()).trim();
  assert.ok(clientSecret.length >= 43, 'a 256-bit secret is shown');
  await admin.screenshot({ path: path.join(outputDir, 'admin-client-secret.png'), fullPage: true });
  // The secret works at the token endpoint, and is never shown again.
  resp = await admin.context().request.post(`${base}/auth/token`, {
    form: { grant_type: 'client_credentials', scope: 'orders' },
    headers: { Authorization: `Basic ${Buffer.from(`orders-svc:${clientSecret}`).toString('base64')}` },
  });
  assert.equal(resp.status(), 200);
  await admin.goto(`${base}/admin/clients/orders-svc`);
  assert.ok(!(await admin.content()).includes(clientSecret), 'the client page does not show the secret again');
  await admin.goto(`${base}/admin/clients`);
  await admin.getByRole('link', { name: 'orders-svc' }).waitFor();
  await admin.screenshot({ path: path.join(outputDir, 'admin-clients.png'), fullPage: true });

  // Second factors: the administrator's own TOTP is listed (never its
  // secret); the reset button sits beside it.
  await admin.goto(`${base}/admin/users/${fx.info.admin_username}`);
  assert.match(await admin.locator('#factor-totp').textContent(), /^on since /);
  assert.ok(!(await admin.content()).includes(secret), 'the factor list does not show the TOTP secret');
  await admin.getByRole('button', { name: `Reset second factors of ${fx.info.admin_username}` }).waitFor();
  await admin.locator('#factors').scrollIntoViewIfNeeded();
  await admin.screenshot({ path: path.join(outputDir, 'admin-factors.png'), fullPage: true });

  // Alice is no administrator.
  const alice2 = await browser.newPage();
  await signIn(alice2, base, fx.info.username, fx.info.password, '/account');
  resp = await alice2.goto(`${base}/admin/users`);
  assert.equal(resp.status(), 403);
});
