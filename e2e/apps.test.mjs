// Apps in Chromium (issue 13): a public SPA-style client runs the
// authorization code flow with PKCE through the login and consent pages,
// its relying party (a small Node server on loopback) exchanges the code,
// a second visit skips consent, RP-initiated logout returns to the RP, and
// gatehouse's back-channel logout reaches the RP within 2 s of /auth/logout
// — also when gatehouse restarts while the delivery is being retried — and
// an SPA page on the RP origin runs the code exchange and userinfo with
// fetch (CORS) while a page on an unregistered origin is blocked.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { outputDir, signIn, useFixture } from './harness.mjs';

const backchannelEvent = 'http://schemas.openid.net/event/backchannel-logout';

let fx;
let browser;
let base;
let rp;
let rpReady;

useFixture((e) => {
  ({ fx, browser, base } = e);
  rpReady = startRP(new URL(fx.info.rp_url)).then((r) => { rp = r; });
});
beforeEach(async () => { await rpReady; });
after(async () => { await rp?.close(); });

/**
 * The relying party: /cb and /bye record their query and show a page; /bcl
 * takes back-channel logout tokens, answering 500 while failures > 0.
 */
async function startRP(url) {
  const state = { visits: [], tokens: [], attempts: 0, failures: 0, waiters: [] };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, url);
    if (req.method === 'POST' && u.pathname === '/bcl') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        state.attempts++;
        if (state.failures > 0) {
          state.failures--;
          res.writeHead(500).end();
        } else {
          state.tokens.push({ token: new URLSearchParams(body).get('logout_token'), at: Date.now() });
          res.writeHead(200, { 'Cache-Control': 'no-store' }).end();
        }
        for (const w of state.waiters.splice(0)) w();
      });
      return;
    }
    state.visits.push(u);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>RP ${u.pathname}</title><h1>RP ${u.pathname}</h1>`);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(url.port), url.hostname, resolve);
  });
  /** Resolves once cond() holds, re-checked after every /bcl request. */
  async function until(cond, ms, what) {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`RP: no ${what} within ${ms} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        state.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  return {
    url: url.origin,
    state,
    until,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** A PKCE pair (RFC 7636, S256) computed here in Node. */
function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

/** The authorization request URL and what the RP keeps to check the answer. */
function authorizeRequest() {
  const { verifier, challenge } = pkce();
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const q = new URLSearchParams({
    response_type: 'code', client_id: fx.info.spa_client_id, redirect_uri: `${rp.url}/cb`,
    scope: 'openid profile offline_access', state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
  });
  return { url: `${base}/auth/authorize?${q}`, verifier, state, nonce };
}

/** Checks the redirect back to the RP (code, state, RFC 9207 iss) and returns the code. */
function codeFrom(page, req) {
  const u = new URL(page.url());
  assert.equal(`${u.origin}${u.pathname}`, `${rp.url}/cb`, `not back at the RP: ${page.url()}`);
  assert.equal(u.searchParams.get('state'), req.state);
  assert.equal(u.searchParams.get('iss'), base);
  assert.equal(u.searchParams.get('error'), null);
  const code = u.searchParams.get('code');
  assert.ok(code, 'no code');
  return code;
}

/** The RP's code exchange, from Node (a public client: client_id, no secret). */
async function exchange(code, verifier) {
  const resp = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: `${rp.url}/cb`, code_verifier: verifier, client_id: fx.info.spa_client_id,
    }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(resp.headers.get('cache-control'), 'no-store');
  return body;
}

/** Verifies a JWT's signature against gatehouse's JWKS; returns { header, claims }. */
async function verifyJWT(raw) {
  const [h, p, s] = raw.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwks = await (await fetch(`${base}/.well-known/jwks.json`)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} not in the JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const ok = {
    ES256: () => verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
    RS256: () => verify('sha256', data, key, sig),
    EdDSA: () => verify(null, data, key, sig),
  }[header.alg]?.();
  assert.equal(ok, true, `signature (${header.alg}) does not verify`);
  return { header, claims: JSON.parse(Buffer.from(p, 'base64url')) };
}

/** Checks a logout token (OIDC Back-Channel Logout 1.0 §2.4) for session sid. */
async function assertLogoutToken(raw, sid) {
  const { header, claims } = await verifyJWT(raw);
  assert.equal(header.typ, 'logout+jwt');
  assert.equal(claims.iss, base);
  assert.deepEqual([claims.aud].flat(), [fx.info.spa_client_id]);
  assert.equal(claims.sid, sid);
  assert.ok(claims.sub && claims.jti && claims.iat && claims.exp, 'sub, jti, iat, exp required');
  assert.equal(claims.nonce, undefined, 'a logout token carries no nonce');
  assert.deepEqual(claims.events, { [backchannelEvent]: {} });
}

/** Waits for a logout token for sid (earlier deliveries for other sessions are skipped). */
async function awaitLogoutToken(sid, ms) {
  let found;
  const match = () => {
    found = rp.state.tokens.find((t) => JSON.parse(Buffer.from(t.token.split('.')[1], 'base64url')).sid === sid);
    return found !== undefined;
  };
  await rp.until(match, ms, `logout token for sid ${sid}`);
  return found;
}

/** Signs in, authorizes (consent already given) and exchanges: the app holds tokens from this session. */
async function sessionWithApp() {
  const page = await browser.newPage();
  await signIn(page, base, fx.info.username, fx.info.password, '/account');
  const req = authorizeRequest();
  await page.goto(req.url);
  await page.waitForURL((u) => u.origin === rp.url);
  const tokens = await exchange(codeFrom(page, req), req.verifier);
  const { claims } = await verifyJWT(tokens.id_token);
  return { page, tokens, sid: claims.sid };
}

/** Signs out with the button on /account (a form POST to /auth/logout). */
async function signOutOnAccount(page) {
  await page.goto(`${base}/account`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login'),
    page.getByRole('button', { name: 'Sign out', exact: true }).last().click(),
  ]);
}

test('code flow with PKCE: login, consent once, code exchanged by the RP', async () => {
  const page = await browser.newPage();
  const first = authorizeRequest();
  await page.goto(first.url);
  // No session: the login page, which comes back to this very request.
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Username').fill(fx.info.username);
  await page.getByLabel('Password').fill(fx.info.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/auth/authorize'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  // A third-party client: the consent page names it and its scopes.
  assert.match(await page.locator('h1').textContent(), new RegExp(`Allow ${fx.info.spa_name}`));
  assert.ok(await page.getByText('offline_access').isVisible());
  // docs/apps.md shows this one (copied to docs/img/ by hand).
  await page.screenshot({ path: path.join(outputDir, 'apps-consent.png'), fullPage: true });
  await Promise.all([
    page.waitForURL((u) => u.origin === rp.url),
    page.getByRole('button', { name: 'Allow', exact: true }).click(),
  ]);
  const tokens = await exchange(codeFrom(page, first), first.verifier);
  assert.equal(tokens.token_type, 'Bearer');
  assert.ok(tokens.access_token && tokens.refresh_token, 'access and refresh token (offline_access)');
  const { claims } = await verifyJWT(tokens.id_token);
  assert.equal(claims.iss, base);
  assert.equal(claims.aud, fx.info.spa_client_id);
  assert.equal(claims.nonce, first.nonce);
  assert.ok(claims.sid, 'the ID token names the session');

  // The same code again: refused (single use).
  const replay = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: codeFrom(page, first), redirect_uri: `${rp.url}/cb`, code_verifier: first.verifier, client_id: fx.info.spa_client_id }),
  });
  assert.equal(replay.status, 400);

  // Second visit: consent remembered, straight back to the RP.
  const second = authorizeRequest();
  await page.goto(second.url);
  assert.equal(new URL(page.url()).origin, rp.url, 'no consent page the second time');
  await exchange(codeFrom(page, second), second.verifier);

  // RP-initiated logout with id_token_hint: no question, back to the RP with state.
  const q = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: `${rp.url}/bye`, state: 'bye-1' });
  await page.goto(`${base}/auth/end_session?${q}`);
  const bye = new URL(page.url());
  assert.equal(`${bye.origin}${bye.pathname}`, `${rp.url}/bye`);
  assert.equal(bye.searchParams.get('state'), 'bye-1');
  const session = await page.context().request.get(`${base}/auth/session`, { maxRedirects: 0 });
  assert.equal(session.status(), 401, 'the session ended');
  // The app got tokens in that session: its back channel hears of it too.
  const lt = await awaitLogoutToken(claims.sid, 5_000);
  await assertLogoutToken(lt.token, claims.sid);
});

test('back-channel logout reaches the RP within 2 s of /auth/logout', async () => {
  const { page, tokens, sid } = await sessionWithApp();
  const start = Date.now();
  await signOutOnAccount(page);
  const lt = await awaitLogoutToken(sid, 2_000);
  assert.ok(lt.at - start <= 2_000, `logout token after ${lt.at - start} ms`);
  await assertLogoutToken(lt.token, sid);
  // The app's refresh token died with the session.
  const resp = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: fx.info.spa_client_id }),
  });
  assert.equal(resp.status, 400);
  assert.equal((await resp.json()).error, 'invalid_grant');
});

test('a back-channel logout being retried survives a gatehouse restart', async () => {
  const { page, sid } = await sessionWithApp();
  rp.state.failures = 1; // the RP is down for the first attempt
  const attempts = rp.state.attempts;
  await signOutOnAccount(page);
  await rp.until(() => rp.state.attempts > attempts, 5_000, 'first delivery attempt');
  assert.equal(rp.state.failures, 0, 'the first attempt was answered 500');
  const back = await fx.restart(); // the retry is now the new process's job
  assert.equal(back.restarted, true);
  assert.equal(back.base_url, base);
  const lt = await awaitLogoutToken(sid, 20_000);
  await assertLogoutToken(lt.token, sid);
});

/** A page on a loopback origin no client registered (same host as the RP, another port). */
async function startUnregisteredOrigin() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>unregistered</title><h1>unregistered</h1>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

test('an SPA on the RP origin exchanges its code and reads userinfo with fetch (CORS); another origin is blocked', async () => {
  const page = await browser.newPage();
  await signIn(page, base, fx.info.username, fx.info.password, '/account');
  const req = authorizeRequest();
  await page.goto(req.url);
  if (new URL(page.url()).origin !== rp.url) { // consent not given yet (this test run alone)
    await Promise.all([
      page.waitForURL((u) => u.origin === rp.url),
      page.getByRole('button', { name: 'Allow', exact: true }).click(),
    ]);
  }
  const code = codeFrom(page, req);

  // The page the browser is on (the RP's /cb) runs the exchange itself, as
  // docs/apps.md's SPA does: fetch, no credentials, the browser's CORS rules.
  const spa = await page.evaluate(async ({ base, clientId, redirectUri, code, verifier }) => {
    const exchange = () => fetch(`${base}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    const blocked = async (p) => { try { await p; return false; } catch (e) { return e instanceof TypeError; } };
    const t = await exchange();
    const tokens = await t.json();
    // Authorization makes this a preflighted request.
    const u = await fetch(`${base}/auth/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    const userinfo = await u.json();
    // The code again: the OAuth error is readable too.
    const r = await exchange();
    return {
      origin: location.origin, tokenStatus: t.status, cacheControl: t.headers.get('cache-control'), tokens,
      userinfoStatus: u.status, userinfo, replayStatus: r.status, replay: await r.json(),
      // Cookie-authenticated answers stay unreadable, userinfo's session
      // fallback included: no Access-Control-Allow-Credentials, ever.
      sessionBlocked: await blocked(fetch(`${base}/auth/session`, { credentials: 'include' })),
      cookieUserinfoBlocked: await blocked(fetch(`${base}/auth/userinfo`, { credentials: 'include' })),
    };
  }, { base, clientId: fx.info.spa_client_id, redirectUri: `${rp.url}/cb`, code, verifier: req.verifier });
  assert.equal(spa.origin, rp.url);
  assert.equal(spa.tokenStatus, 200, JSON.stringify(spa.tokens));
  assert.equal(spa.cacheControl, 'no-store');
  assert.equal(spa.tokens.token_type, 'Bearer');
  const { claims } = await verifyJWT(spa.tokens.id_token);
  assert.equal(spa.userinfoStatus, 200, JSON.stringify(spa.userinfo));
  assert.equal(spa.userinfo.sub, claims.sub);
  assert.equal(spa.userinfo.preferred_username, fx.info.username);
  assert.equal(spa.replayStatus, 400);
  assert.equal(spa.replay.error, 'invalid_grant');
  assert.equal(spa.sessionBlocked, true, 'GET /auth/session readable cross-origin');
  assert.equal(spa.cookieUserinfoBlocked, true, 'userinfo by session cookie readable cross-origin');

  // A page on an origin no client registered: the browser blocks the token
  // POST (no Access-Control-Allow-Origin) and the userinfo preflight; the
  // public JWKS stays readable.
  const other = await startUnregisteredOrigin();
  try {
    const page2 = await browser.newPage();
    await page2.goto(`${other.url}/`);
    const out = await page2.evaluate(async ({ base, clientId, access }) => {
      const blocked = async (p) => { try { await p; return false; } catch (e) { return e instanceof TypeError; } };
      return {
        token: await blocked(fetch(`${base}/auth/token`, {
          method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: clientId }),
        })),
        userinfo: await blocked(fetch(`${base}/auth/userinfo`, { headers: { Authorization: `Bearer ${access}` } })),
        jwks: (await (await fetch(`${base}/.well-known/jwks.json`)).json()).keys.length,
      };
    }, { base, clientId: fx.info.spa_client_id, access: spa.tokens.access_token });
    assert.deepEqual({ token: out.token, userinfo: out.userinfo }, { token: true, userinfo: true }, 'an unregistered origin was not blocked');
    assert.ok(out.jwks > 0, 'the JWKS is readable from any origin');
  } finally {
    await other.close();
  }
});
