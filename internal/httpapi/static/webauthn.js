// gatehouse WebAuthn glue: the only script of gatehouse's pages. It turns
// the JSON of /auth/webauthn/*/begin into navigator.credentials calls and
// posts the answers to /auth/webauthn/*/finish (same origin, JSON). Elements
// opt in with data attributes:
//   [data-passkey-login]        button: sign in with a passkey
//   [data-passkey-conditional]  login page: offer passkeys in the username autofill
//   [data-passkey-register]     form with a "name" field: add a passkey (then to
//                               its data-next, else /account)
//   [data-next]                 where to go after signing in
//   [data-step-up]              the second factor of the current session
//   [data-passkey-ui]           rendered hidden (useless without this script);
//                               shown when the browser has WebAuthn
//   #passkey-error              where errors are shown
'use strict';
(function () {
  if (!window.PublicKeyCredential) return; // the passkey controls stay hidden
  document.querySelectorAll('[data-passkey-ui]').forEach(function (el) { el.hidden = false; });

  function dec(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function enc(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: dec(c.id) }); });
  }

  function credentialJSON(c) {
    var r = c.response, out = {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: enc(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      if (r.userHandle) out.response.userHandle = enc(r.userHandle);
    }
    return out;
  }

  async function post(url, body) {
    var resp = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body || {})
    });
    var data = {};
    try { data = await resp.json(); } catch (e) { /* 204 */ }
    if (!resp.ok) throw new Error(data.error_description || data.error || ('HTTP ' + resp.status));
    return data;
  }

  function showError(err) {
    var el = document.getElementById('passkey-error');
    if (!el || (err && err.name === 'AbortError')) return;
    el.textContent = (err && err.name === 'NotAllowedError')
      ? 'The passkey was not used (cancelled or timed out).'
      : 'Passkey failed: ' + (err && err.message ? err.message : err);
    el.hidden = false;
  }

  // next is the page's data-next, which the server filled with what its
  // rule allows (a path, or an absolute URL on a host a gateway route
  // names: forward-auth's /login?next=https://app…), as the password form's
  // 303 goes there; which hosts is the server's rule. The script keeps
  // only values of those two shapes (never a script, scheme-relative or
  // user@host URL); anything else is "/".
  function safeNext(next) {
    if (!next || /[\u0000-\u001f\u007f\\]/.test(next)) return '/';
    if (next.charAt(0) === '/') return next.charAt(1) === '/' ? '/' : next;
    var u;
    try { u = new URL(next); } catch (e) { return '/'; }
    var web = u.protocol === 'https:' || u.protocol === 'http:';
    return (web && !u.username && !u.password && next.indexOf(u.protocol + '//') === 0) ? next : '/';
  }

  var pending = null; // AbortController of the conditional request

  async function login(opts) {
    var ctl = null;
    if (opts.conditional) {
      // Abortable from the start: a click on the passkey button replaces
      // the autofill request, even while its begin is still in flight.
      ctl = pending = new AbortController();
    }
    var begin = await post('/auth/webauthn/login/begin', opts.body);
    var pk = begin.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.allowCredentials = ids(pk.allowCredentials);
    var req = { publicKey: pk };
    if (ctl) {
      if (ctl.signal.aborted) return;
      req.mediation = 'conditional';
      req.signal = ctl.signal;
    }
    var cred = await navigator.credentials.get(req);
    await post('/auth/webauthn/login/finish', { credential: credentialJSON(cred) });
    window.location.assign(safeNext(opts.next));
  }

  document.querySelectorAll('[data-passkey-login]').forEach(function (btn) {
    btn.addEventListener('click', function (ev) {
      ev.preventDefault();
      if (pending) { pending.abort(); pending = null; }
      var body = btn.hasAttribute('data-step-up') ? { step_up: true } : (btn.hasAttribute('data-passwordless') ? { passwordless: true } : {});
      login({ body: body, next: btn.getAttribute('data-next') }).catch(showError);
    });
  });

  var cond = document.querySelector('[data-passkey-conditional]');
  if (cond && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (ok) login({ body: { passwordless: true }, next: cond.getAttribute('data-next'), conditional: true }).catch(showError);
    });
  }

  document.querySelectorAll('form[data-passkey-register]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      (async function () {
        var begin = await post('/auth/webauthn/register/begin');
        var pk = begin.publicKey;
        pk.challenge = dec(pk.challenge);
        pk.user.id = dec(pk.user.id);
        pk.excludeCredentials = ids(pk.excludeCredentials);
        var cred = await navigator.credentials.create({ publicKey: pk });
        await post('/auth/webauthn/register/finish', { name: form.elements.name.value, credential: credentialJSON(cred) });
        window.location.assign(form.hasAttribute('data-next') ? safeNext(form.getAttribute('data-next')) : '/account');
      })().catch(showError);
    });
  });
}());
