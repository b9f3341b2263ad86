// Where /static/webauthn.js sends the browser after a passkey login or
// registration: the page's data-next, which the server filled with what its
// own rule allows (a path, or an absolute URL on a host a gateway route
// names: forward-auth sends /login?next=https://app.example.com/… — docs/mfa.md,
// contract §12), exactly as the password form's 303 does. Anything else is
// "/". Runs the real script in node:vm with a few DOM stubs: no browser,
// no fixture (`node --test e2e/webauthn-next.test.mjs`).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = await readFile(path.join(here, '..', 'internal', 'httpapi', 'static', 'webauthn.js'), 'utf8');

/** An element with attributes and event listeners. */
function element(attrs) {
  const listeners = {};
  return {
    hidden: false,
    elements: { name: { value: 'key' } },
    hasAttribute: (n) => n in attrs,
    getAttribute: (n) => (n in attrs ? attrs[n] : null),
    addEventListener: (type, fn) => { listeners[type] = fn; },
    fire: (type) => listeners[type]({ preventDefault() {} }),
  };
}

/**
 * Runs webauthn.js on a page whose one element matches selector with
 * attrs, fires its event and resolves to the URL the script assigns.
 */
function navigateAfter(selector, event, attrs) {
  const el = element(attrs);
  const buf = () => new Uint8Array([1, 2, 3]).buffer;
  return new Promise((resolve, reject) => {
    const ctx = {
      atob, btoa, AbortController, URL, Uint8Array, JSON, Object, Error, Promise,
      PublicKeyCredential: {},
      document: {
        querySelectorAll: (s) => (s === selector ? [el] : []),
        querySelector: () => null,
        getElementById: () => ({ set textContent(v) { reject(new Error(`script failed: ${v}`)); } }),
      },
      navigator: {
        credentials: {
          get: async () => ({ id: 'AQID', rawId: buf(), type: 'public-key', response: { clientDataJSON: buf(), authenticatorData: buf(), signature: buf() } }),
          create: async () => ({ id: 'AQID', rawId: buf(), type: 'public-key', response: { clientDataJSON: buf(), attestationObject: buf() } }),
        },
      },
      fetch: async () => ({ ok: true, json: async () => ({ publicKey: { challenge: 'AQID', user: { id: 'AQID' } } }) }),
      location: { assign: resolve },
    };
    ctx.window = ctx;
    ctx.window.location = ctx.location;
    vm.runInNewContext(script, ctx);
    el.fire(event);
  });
}

const cases = [
  { name: 'a path', next: '/app/x?y=1', want: '/app/x?y=1' },
  { name: 'an absolute URL on an app host (forward-auth)', next: 'https://app.example.com/x?y=1', want: 'https://app.example.com/x?y=1' },
  { name: 'an http URL on an app host', next: 'http://app.localhost:8080/', want: 'http://app.localhost:8080/' },
  { name: 'none', next: null, want: '/' },
  { name: 'a scheme-relative URL', next: '//evil.example/', want: '/' },
  { name: 'a backslash', next: '/\\evil.example/', want: '/' },
  { name: 'a tab the URL parser drops', next: '/\t/evil.example/', want: '/' },
  { name: 'a javascript: URL', next: 'javascript:alert(1)', want: '/' },
  { name: 'a data: URL', next: 'data:text/html,x', want: '/' },
  { name: 'credentials in the URL', next: 'https://user@evil.example/', want: '/' },
];

for (const c of cases) {
  test(`passkey login with data-next ${c.name}`, async () => {
    const attrs = { 'data-passkey-login': '', 'data-passwordless': '' };
    if (c.next !== null) attrs['data-next'] = c.next;
    assert.equal(await navigateAfter('[data-passkey-login]', 'click', attrs), c.want);
  });
}

test('passkey registration on the enrolment step goes to its data-next', async () => {
  const attrs = { 'data-passkey-register': '', 'data-next': 'https://app.example.com/x' };
  assert.equal(await navigateAfter('form[data-passkey-register]', 'submit', attrs), 'https://app.example.com/x');
});

test('passkey registration on /account (no data-next) returns to /account', async () => {
  assert.equal(await navigateAfter('form[data-passkey-register]', 'submit', { 'data-passkey-register': '' }), '/account');
});
