// Passkeys in Chromium with a CDP virtual authenticator: register a passkey
// on /account, sign out, sign in passwordless; password + passkey as the
// second factor. WebAuthn refuses IP addresses as RP IDs, so this file's
// fixture serves gatehouse as http://localhost:PORT (a secure context).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { outputDir, signIn, useFixture } from './harness.mjs';

let fx; // { info, stop }
let browser;
let base;

useFixture((e) => ({ fx, browser, base } = e), { fixtureArgs: ['-public-host', 'localhost'] });

/** Gives the page a platform authenticator with user verification (a passkey provider). */
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** The current session as /auth/session shows it (fetched by the page). */
async function session(page) {
  return page.evaluate(async () => {
    const r = await fetch('/auth/session', { headers: { Accept: 'application/json' } });
    return { status: r.status, body: await r.json() };
  });
}

/** Adds a passkey named name on /account and waits for it in the list. */
async function addPasskey(page, name) {
  await page.goto(`${base}/account`);
  await page.getByLabel('Name of the new passkey').fill(name);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    page.getByRole('button', { name: 'Add a passkey' }).click(),
  ]);
  await page.getByRole('cell', { name: `${name} (passkey)` }).waitFor();
}

/**
 * Signs out with a same-origin POST from /account. Not through the button:
 * it lands on /login, whose passkey autofill would sign straight back in.
 */
async function signOut(page) {
  await page.goto(`${base}/account`);
  const status = await page.evaluate(async () => (await fetch('/auth/logout', { method: 'POST', headers: { Accept: 'application/json' } })).status);
  assert.equal(status, 204, 'sign-out');
  assert.equal((await session(page)).status, 401, 'still signed in after sign-out');
}

/**
 * Makes the page's browser report no conditional mediation (as browsers
 * without passkey autofill do), so /login waits for the button or the
 * password instead of signing in through the autofill at once.
 */
async function withoutAutofill(page) {
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
}

async function assertPasswordless(page) {
  await page.getByRole('heading', { name: `Signed in as ${fx.info.username}` }).waitFor();
  const s = await session(page);
  assert.equal(s.status, 200);
  assert.deepEqual(s.body.session.amr, ['swk', 'user'], 'a platform passkey signs in as swk + user verification');
}

test('register a passkey on /account, sign out, sign in passwordless (autofill, then button)', async () => {
  const page = await browser.newPage();
  const { cdp, authenticatorId } = await addAuthenticator(page);
  await signIn(page, base, fx.info.username, fx.info.password, '/account');
  await addPasskey(page, 'Laptop');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds one credential');
  assert.ok(credentials[0].isResidentCredential, 'the credential is discoverable (a passkey)');
  assert.match(await page.locator('table.passkeys').innerText(), /Laptop[\s\S]*never/);
  await page.screenshot({ path: path.join(outputDir, 'mfa-passkey-account.png'), fullPage: true });

  // Conditional UI: the login page asks for a passkey in the username
  // autofill; the virtual authenticator picks it, no username typed.
  await signOut(page);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    // 'commit': the autofill may sign in (and navigate) before 'load'.
    page.goto(`${base}/login?next=${encodeURIComponent('/account')}`, { waitUntil: 'commit' }),
  ]);
  await assertPasswordless(page);
  assert.doesNotMatch(await page.locator('table.passkeys').innerText(), /never/, 'the list shows when the passkey was last used');

  // The button, in a browser without passkey autofill.
  await signOut(page);
  await withoutAutofill(page);
  await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
  assert.equal(await page.getByLabel('Username').getAttribute('autocomplete'), 'username webauthn');
  await page.screenshot({ path: path.join(outputDir, 'mfa-passkey-login.png'), fullPage: true });
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    page.getByRole('button', { name: 'Sign in with a passkey' }).click(),
  ]);
  await assertPasswordless(page);
  await page.context().close();
});

test('password + passkey as the second factor', async () => {
  const page = await browser.newPage();
  await addAuthenticator(page);
  await withoutAutofill(page);
  const admin = { username: fx.info.admin_username, password: fx.info.admin_password };
  await signIn(page, base, admin.username, admin.password, '/account');
  await addPasskey(page, 'Phone');
  await signOut(page);

  // The password is right, but the user has a passkey now: second step.
  await page.goto(`${base}/login?next=${encodeURIComponent('/account')}`);
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password').fill(admin.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login/mfa'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.equal((await session(page)).status, 401, 'the password alone gave a session');
  await page.screenshot({ path: path.join(outputDir, 'mfa-passkey-second-step.png'), fullPage: true });
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    page.getByRole('button', { name: 'Use your passkey' }).click(),
  ]);
  const s = await session(page);
  assert.equal(s.status, 200);
  assert.deepEqual(s.body.session.amr, ['pwd', 'swk', 'mfa']);
  await page.context().close();
});
