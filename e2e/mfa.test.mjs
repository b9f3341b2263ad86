// Second factor in the browser: TOTP enrolment on /account (the secret
// read from the page, the code computed here as an authenticator app
// would), sign-in with password + code, step-up on an `mfa: true` route,
// recovery codes (single use) and an OIDC login that still asks for the
// code. Each test has its own user (fixture info.mfa_users, and the OIDC
// user), so no test depends on another's factors.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { outputDir, signIn, useFixture } from './harness.mjs';
import { totp } from './totp.mjs';

let fx;
let browser;
let base;

useFixture((e) => ({ fx, browser, base } = e));

/** The fixture's MFA users: one per test (enrolment, step-up, recovery). */
const mfaUser = (i) => fx.info.mfa_users[i];

/** The path + query the page is on; fails when it left gatehouse. */
function where(page) {
  const u = new URL(page.url());
  assert.equal(u.origin, base, `page left gatehouse: ${page.url()}`);
  return u;
}

/** The value of the session cookie in the page's context. */
async function sessionCookie(page) {
  const cookies = await page.context().cookies(base);
  return cookies.find((c) => c.name === 'gatehouse')?.value;
}

/** GET /auth/session with the page's cookies. */
async function session(page) {
  const resp = await page.context().request.get(`${base}/auth/session`, { maxRedirects: 0 });
  return { status: resp.status(), body: resp.status() === 200 ? await resp.json() : null };
}

/**
 * On the enrolment page (QR code + key): reads the key, types the current
 * code and turns TOTP on; on the recovery codes page it shows then, goes
 * on to the page after it (landing path).
 * Returns the secret.
 */
async function confirmEnrolment(page, landing, screenshot) {
  await page.getByRole('heading', { name: 'Set up an authenticator app' }).waitFor();
  assert.equal(await page.locator('.qr svg').count(), 1, 'the enrolment page shows a QR code');
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{16,}$/);
  if (screenshot) await page.screenshot({ path: path.join(outputDir, screenshot), fullPage: true });
  await page.getByLabel('Code shown by the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  // The first recovery codes, shown once; Continue goes on (docs/mfa.md).
  await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
  assert.equal(await page.locator('ul.codes li').count(), 10, 'the enrolment shows 10 recovery codes');
  await Promise.all([
    page.waitForURL((u) => u.pathname === landing),
    page.getByRole('link', { name: 'Continue' }).click(),
  ]);
  return secret;
}

/** From /account: sets up an authenticator app; back on /account. */
async function enrolOnAccount(page, screenshot) {
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const secret = await confirmEnrolment(page, '/account', screenshot);
  await page.getByText('Authenticator app: on').waitFor();
  return secret;
}

/** Signs out from /account; the browser lands on /login. */
async function signOut(page) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login'),
    page.getByRole('button', { name: 'Sign out', exact: true }).click(),
  ]);
  assert.equal((await session(page)).status, 401);
}

/** Password step of a user with a factor: ends on /login/mfa, no session. */
async function passwordStep(page, username, password, next = '/account') {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login/mfa'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.equal(where(page).searchParams.get('next'), next);
  assert.equal((await session(page)).status, 401, 'no session between the two steps');
}

/** Types a TOTP code on /login/mfa and waits for landing. */
async function enterCode(page, code, landing) {
  await page.getByLabel('Code from your authenticator app').fill(code);
  await Promise.all([
    page.waitForURL((u) => u.pathname === landing),
    page.getByRole('button', { name: 'Verify' }).click(),
  ]);
}

test('TOTP: enrol on /account, sign out, sign in with password and code', async () => {
  const page = await browser.newPage();
  const password = fx.info.mfa_password;
  const enrolUser = mfaUser(0);
  await signIn(page, base, enrolUser, password, '/account');
  assert.match(await page.locator('body').textContent(), /Authenticator app: off/);
  const secret = await enrolOnAccount(page, 'mfa-enrol.png');
  await signOut(page);

  await passwordStep(page, enrolUser, password);
  await page.screenshot({ path: path.join(outputDir, 'mfa-login.png'), fullPage: true });
  // A wrong code is refused and the form is shown again.
  const wrong = totp(secret) === '000000' ? '111111' : '000000';
  await enterCode(page, wrong, '/login/mfa');
  assert.equal(where(page).searchParams.get('error'), '1');
  await page.getByRole('alert').waitFor();
  // The next step's code (the enrolment used this step's: codes work once).
  await enterCode(page, totp(secret, { step: 1 }), '/account');
  const { status, body } = await session(page);
  assert.equal(status, 200);
  assert.equal(body.user.username, enrolUser);
  assert.deepEqual(body.session.amr, ['pwd', 'otp', 'mfa']);
  await page.context().close();
});

test('step-up: a password-only session on an mfa route enrols, passes the code, gets a new session ID', async () => {
  const page = await browser.newPage();
  const target = `${fx.info.secure_route}report?q=1`;
  const stepUpUser = mfaUser(1);
  await signIn(page, base, stepUpUser, fx.info.mfa_password, '/account');
  const before = await sessionCookie(page);
  assert.deepEqual((await session(page)).body.session.amr, ['pwd']);

  // No factor yet: the route sends the browser to /login/mfa, which offers enrolment.
  await page.goto(`${base}${target}`);
  assert.equal(where(page).pathname, '/login/mfa');
  assert.equal(where(page).searchParams.get('next'), target);
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const secret = await confirmEnrolment(page, '/login/mfa');
  // Enrolment alone does not upgrade the session: the route asks for a code.
  assert.equal(where(page).searchParams.get('next'), target);
  // The confirmation code is spent: the page says to wait for the app's next one.
  assert.match(await page.getByRole('status').textContent(), /wait until the app shows a new code/);
  assert.equal(await sessionCookie(page), before);

  const upstream = page.waitForResponse((r) => new URL(r.url()).pathname === `${fx.info.secure_route}report` && r.status() === 200);
  await enterCode(page, totp(secret, { step: 1 }), `${fx.info.secure_route}report`);
  const echo = await (await upstream).json();
  assert.equal(echo.identity['X-Auth-User'], stepUpUser);
  assert.equal(echo.identity['X-Auth-Amr'], 'pwd,otp,mfa');
  const after = await sessionCookie(page);
  assert.ok(after && after !== before, 'step-up gives a new session ID');
  // The old session ID is dead.
  const old = await page.context().request.get(`${base}/auth/session`, { headers: { Cookie: `gatehouse=${before}` } });
  assert.equal(old.status(), 401);
  await page.context().close();
});

test('recovery code: works once, the second use is refused', async () => {
  const page = await browser.newPage();
  const password = fx.info.mfa_password;
  const recoveryUser = mfaUser(2);
  await signIn(page, base, recoveryUser, password, '/account');
  await enrolOnAccount(page);
  await page.getByRole('button', { name: 'New recovery codes' }).click();
  await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
  const codes = (await page.locator('.codes code').allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10);
  await Promise.all([page.waitForURL((u) => u.pathname === '/account'), page.getByRole('link', { name: 'Done' }).click()]);
  await signOut(page);

  const useRecovery = async (code, landing) => {
    await passwordStep(page, recoveryUser, password);
    await page.getByText('Use a recovery code').click();
    await page.getByLabel('Recovery code').fill(code);
    await Promise.all([
      page.waitForURL((u) => u.pathname === landing),
      page.getByRole('button', { name: 'Use recovery code' }).click(),
    ]);
  };
  await useRecovery(codes[0], '/account');
  assert.equal((await session(page)).status, 200);
  assert.match(await page.locator('body').textContent(), /Recovery codes left: 9/);
  await signOut(page);

  await useRecovery(codes[0], '/login/mfa');
  assert.equal(where(page).searchParams.get('error'), '1');
  assert.equal((await session(page)).status, 401, 'a used recovery code gives no session');
  await page.context().close();
});

test('OIDC login of a user with TOTP asks for the code before the session', async () => {
  const page = await browser.newPage();
  const oidcLogin = async (landing) => {
    await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
    await Promise.all([
      page.waitForURL((u) => u.origin === base && u.pathname === landing),
      page.getByRole('link', { name: fx.info.oidc_display_name, exact: true }).click(),
    ]);
  };
  await oidcLogin('/account');
  const secret = await enrolOnAccount(page);
  await signOut(page);

  await oidcLogin('/login/mfa');
  assert.equal(where(page).searchParams.get('next'), '/account');
  assert.equal((await session(page)).status, 401, 'no session before the code');
  await enterCode(page, totp(secret, { step: 1 }), '/account');
  const { status, body } = await session(page);
  assert.equal(status, 200);
  assert.equal(body.user.username, fx.info.oidc_username);
  assert.equal(body.session.method, `oidc:${fx.info.oidc_provider}`);
  assert.deepEqual(body.session.amr, ['ext', 'otp', 'mfa']);
  await page.context().close();
});

test('account page at phone width: no horizontal overflow, sign out another session', async () => {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  // Two sessions so the session list has a row to sign out.
  const other = await browser.newPage();
  await signIn(other, base, fx.info.username, fx.info.password, '/account');
  await signIn(page, base, fx.info.username, fx.info.password, '/account');
  await page.getByRole('button', { name: 'Sign out all other sessions' }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`);
  assert.match(await page.locator('table.sessions').textContent(), / on /, 'devices are named ("Chrome on Linux")');
  await page.screenshot({ path: path.join(outputDir, 'mfa-account-phone.png'), fullPage: true });
  // "Sign out" on the other session's card ends that session only.
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    page.locator('table.sessions').getByRole('button', { name: /^Sign out the session on / }).click(),
  ]);
  assert.equal((await session(other)).status, 401, 'the other session is signed out');
  assert.equal((await session(page)).status, 200, 'this session stays');
  assert.equal(await page.getByRole('button', { name: 'Sign out all other sessions' }).count(), 0);
  await other.context().close();
  await page.context().close();
});
