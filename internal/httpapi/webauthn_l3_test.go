package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The WebAuthn Level 3 relying-party checks (§7.1 registration, §7.2
// authentication) through the real endpoints, with the software
// authenticator, on every main store (docs/mfa.md, "Security review
// against WebAuthn L3").

// l3Instance is passkeyInstance with room in the login throttle for the
// tables of refused answers below (each counts as a failure).
func l3Instance(t *testing.T, store string) *testutil.Instance {
	t.Helper()
	return passkeyInstance(t, store, func(c *config.Config) { c.Login.MaxFailures = 100 })
}

func eachL3Store(t *testing.T, fn func(t *testing.T, g *testutil.Instance)) {
	t.Helper()
	for _, st := range stores {
		t.Run(st, func(t *testing.T) { fn(t, l3Instance(t, st)) })
	}
}

// withHandle returns a copy of k whose answers name handle as the user.
func withHandle(k *mfatest.Key, handle []byte) *mfatest.Key {
	c := *k
	c.UserHandle = handle
	return &c
}

// Assertions §7.2 refuses, passwordless and as a second factor: 401
// invalid_credentials, no session; the right assertion still works after.
func TestPasskeyL3AssertionsRefused(t *testing.T) {
	eachL3Store(t, func(t *testing.T, g *testutil.Instance) {
		alice := g.CreateUser(t, "alice", strongPassword)
		bob := g.CreateUser(t, "bob", strongPassword)
		a := securityKey()
		aliceKey := registerPasskey(t, g, signedIn(t, g, "alice"), a, "alice's key")
		registerPasskey(t, g, signedIn(t, g, "bob"), a, "bob's key")
		forge := func(edit func(*mfatest.Authenticator)) *mfatest.Authenticator {
			f := securityKey()
			edit(f)
			return f
		}
		tests := []struct {
			name string
			auth *mfatest.Authenticator
			key  *mfatest.Key
		}{
			{"cross-origin iframe (crossOrigin true)", forge(func(f *mfatest.Authenticator) { f.CrossOrigin = true }), aliceKey},
			{"cross-origin iframe on a foreign top origin", forge(func(f *mfatest.Authenticator) { f.CrossOrigin, f.TopOrigin = true, "https://evil.example" }), aliceKey},
			{"topOrigin without crossOrigin", forge(func(f *mfatest.Authenticator) { f.TopOrigin = "https://evil.example" }), aliceKey},
			{"foreign origin on another scheme", forge(func(f *mfatest.Authenticator) { f.Origin = "https://localhost:8099" }), aliceKey},
			{"foreign origin on another port", forge(func(f *mfatest.Authenticator) { f.Origin = "http://localhost:8098" }), aliceKey},
			{"rpIdHash of a parent-looking domain", forge(func(f *mfatest.Authenticator) { f.RPID = "localhost.evil.example" }), aliceKey},
			{"user presence flag clear", forge(func(f *mfatest.Authenticator) { f.NoUserPresence = true }), aliceKey},
			{"BS without BE", forge(func(f *mfatest.Authenticator) { f.BackupStateOnly = true }), aliceKey},
			{"BE set on a key registered without it", forge(func(f *mfatest.Authenticator) { f.BackupEligible = true }), aliceKey},
			{"alice's key naming bob as user handle", securityKey(), withHandle(aliceKey, []byte(bob.ID))},
			{"user handle with NUL", securityKey(), withHandle(aliceKey, []byte(alice.ID+"\x00"))},
			{"user handle not UTF-8", securityKey(), withHandle(aliceKey, []byte{0xff, 0xfe})},
			{"user handle of 4 KiB", securityKey(), withHandle(aliceKey, []byte(strings.Repeat("u", 4096)))},
		}
		kinds := []struct {
			name   string
			client func(t *testing.T) *http.Client
		}{
			{"passwordless", func(t *testing.T) *http.Client { return testutil.Client(t) }},
			{"second factor", func(t *testing.T) *http.Client { c, _ := pendingLogin(t, g, "alice"); return c }},
		}
		for _, kind := range kinds {
			for _, tt := range tests {
				t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
					c := kind.client(t)
					opts := passkeyBegin(t, g, c, nil)
					resp, body := passkeyFinish(t, g, c, tt.auth.Get(t, opts, tt.key))
					if resp.StatusCode != 401 || decode(t, body)["error"] != "invalid_credentials" {
						t.Fatalf("login/finish = %d %s, want 401 invalid_credentials", resp.StatusCode, body)
					}
					if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
						t.Fatalf("/auth/session after a refused assertion = %d, want 401", resp.StatusCode)
					}
				})
			}
		}
		// Refused assertions left the stored counter where a genuine one
		// still moves it forward.
		c := testutil.Client(t)
		if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), aliceKey)); resp.StatusCode != 200 {
			t.Fatalf("genuine passwordless login after the forgeries = %d %s", resp.StatusCode, body)
		}
	})
}

// Registration answers §7.1 refuses: 400 (409 for a credential ID that is
// registered already), and no credential stored.
func TestPasskeyL3RegistrationsRefused(t *testing.T) {
	eachL3Store(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		g.CreateUser(t, "bob", strongPassword)
		bobKey := registerPasskey(t, g, signedIn(t, g, "bob"), securityKey(), "bob's key")
		c := signedIn(t, g, "alice")
		forge := func(edit func(*mfatest.Authenticator)) *mfatest.Authenticator {
			f := securityKey()
			edit(f)
			return f
		}
		tests := []struct {
			name   string
			auth   *mfatest.Authenticator
			status int
		}{
			{"cross-origin iframe (crossOrigin true)", forge(func(f *mfatest.Authenticator) { f.CrossOrigin = true }), 400},
			{"cross-origin iframe on a foreign top origin", forge(func(f *mfatest.Authenticator) { f.CrossOrigin, f.TopOrigin = true, "https://evil.example" }), 400},
			{"user presence flag clear", forge(func(f *mfatest.Authenticator) { f.NoUserPresence = true }), 400},
			{"BS without BE", forge(func(f *mfatest.Authenticator) { f.BackupStateOnly = true }), 400},
			{"credential ID of 1024 bytes", forge(func(f *mfatest.Authenticator) { f.CredentialID = make([]byte, 1024) }), 400},
			{"credential ID of another user (§7.1 step 25)", forge(func(f *mfatest.Authenticator) { f.CredentialID = bobKey.ID }), 409},
			{"attestation none with a statement", forge(func(f *mfatest.Authenticator) {
				f.AttestationFormat, f.AttestationStatement = "none", map[string]any{"sig": []byte{1}}
			}), 400},
			{"packed self attestation with a bad signature", forge(func(f *mfatest.Authenticator) {
				f.AttestationFormat, f.AttestationStatement = "packed", map[string]any{"alg": -7, "sig": []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}}
			}), 400},
			{"unknown attestation format", forge(func(f *mfatest.Authenticator) {
				f.AttestationFormat, f.AttestationStatement = "x-evil", map[string]any{}
			}), 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
				if resp.StatusCode != 200 {
					t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
				}
				cred, _ := tt.auth.Create(t, []byte(body))
				resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "k", "credential": cred})
				if resp.StatusCode != tt.status {
					t.Fatalf("register/finish = %d %s, want %d", resp.StatusCode, body, tt.status)
				}
			})
		}
		if _, body := do(t, c, "GET", g.URL+"/auth/webauthn", ""); !strings.Contains(body, `"credentials":[]`) {
			t.Fatalf("alice's credentials after refused registrations: %s", body)
		}
		// Bob's credential is still his and still signs him in.
		b := testutil.Client(t)
		if resp, body := passkeyFinish(t, g, b, securityKey().Get(t, passkeyBegin(t, g, b, nil), bobKey)); resp.StatusCode != 200 ||
			decode(t, body)["user"].(map[string]any)["username"] != "bob" {
			t.Fatalf("bob's login after alice tried his credential ID = %d %s", resp.StatusCode, body)
		}
		// The longest ID WebAuthn allows (1023 bytes) registers.
		long := securityKey()
		long.CredentialID = make([]byte, 1023)
		long.CredentialID[0] = 1
		registerPasskey(t, g, c, long, "long ID")
	})
}

// The creation options: attestation "none", user verification and resident
// keys preferred, the RP ID of public_url, and the user's credentials
// excluded (§5.4 excludeCredentials), so one authenticator is not
// registered twice.
func TestPasskeyL3CreationOptions(t *testing.T) {
	g := l3Instance(t, "sqlite")
	alice := g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	key := registerPasskey(t, g, c, securityKey(), "first")
	resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
	}
	var o struct {
		PublicKey struct {
			RP struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Attestation string `json:"attestation"`
			Selection   struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Exclude []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	pk := o.PublicKey
	if pk.RP.ID != "localhost" || pk.User.ID != base64.RawURLEncoding.EncodeToString([]byte(alice.ID)) || pk.Attestation != "none" ||
		pk.Selection.ResidentKey != "preferred" || pk.Selection.UserVerification != "preferred" ||
		len(pk.Exclude) != 1 || pk.Exclude[0].ID != key.ID64() {
		t.Fatalf("creation options = %s; want rp.id localhost, user.id alice's ID, attestation none, residentKey and userVerification preferred, her key excluded", body)
	}
}

// A ceremony belongs to the user who began it and to its purpose: alice's
// registration ceremony finished in bob's session, and a registration
// ceremony answered as a login, are refused (400) and store nothing.
func TestPasskeyL3CeremonyBoundToUserAndPurpose(t *testing.T) {
	g := l3Instance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	a := securityKey()
	alice := signedIn(t, g, "alice")
	aliceKey := registerPasskey(t, g, alice, a, "key")
	bob := signedIn(t, g, "bob")

	resp, body := postJSON(t, alice, g.URL+"/auth/webauthn/register/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
	}
	ck := sessionCookie(t, resp, mfa.CeremonyCookie)
	bob.Jar.SetCookies(mustURL(t, g.URL+"/auth/webauthn/"), []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/auth/webauthn/"}})
	cred, _ := a.Create(t, []byte(body))
	if resp, body := postJSON(t, bob, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "stolen", "credential": cred}); resp.StatusCode != 400 {
		t.Fatalf("alice's registration ceremony finished in bob's session = %d %s, want 400", resp.StatusCode, body)
	}
	if _, body := do(t, bob, "GET", g.URL+"/auth/webauthn", ""); !strings.Contains(body, `"credentials":[]`) {
		t.Fatalf("bob's credentials: %s, want none", body)
	}

	// A registration ceremony answered as a login (its challenge signed
	// by alice's registered key).
	resp, body = postJSON(t, alice, g.URL+"/auth/webauthn/register/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
	}
	challenge := decode(t, body)["publicKey"].(map[string]any)["challenge"].(string)
	opts := []byte(`{"publicKey":{"challenge":"` + challenge + `","rpId":"localhost"}}`)
	if resp, body := passkeyFinish(t, g, alice, a.Get(t, opts, aliceKey)); resp.StatusCode != 400 {
		t.Fatalf("login/finish with a registration ceremony = %d %s, want 400", resp.StatusCode, body)
	}
}

// Removing a passkey is changing factors: a password login older than five
// minutes gets 403 and the key stays; after a passkey step-up (amr mfa)
// the same session's successor may remove it.
func TestPasskeyDeleteNeedsFreshLoginOrSecondFactor(t *testing.T) {
	g := l3Instance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	c := signedIn(t, g, "alice")
	key := registerPasskey(t, g, c, a, "key")
	g.Clock.Advance(6 * time.Minute)
	for _, req := range []struct{ method, path, ctype string }{
		{"DELETE", "/auth/webauthn/" + key.ID64(), ""},
		{"POST", "/auth/webauthn/" + key.ID64() + "/delete", "application/json"},
	} {
		resp, body := do(t, c, req.method, g.URL+req.path, "", "Content-Type", req.ctype)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s with a 6-minute-old password login = %d %s, want 403", req.method, req.path, resp.StatusCode, body)
		}
	}
	if _, body := do(t, c, "GET", g.URL+"/auth/webauthn", ""); !strings.Contains(body, key.ID64()) {
		t.Fatalf("the key is gone after refused deletes: %s", body)
	}
	opts := passkeyBegin(t, g, c, map[string]any{"step_up": true})
	if resp, body := passkeyFinish(t, g, c, a.Get(t, opts, key)); resp.StatusCode != 200 {
		t.Fatalf("step-up = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "DELETE", g.URL+"/auth/webauthn/"+key.ID64(), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE after a passkey step-up = %d %s, want 204", resp.StatusCode, body)
	}
}

// Finish bodies over the 1 MiB request cap, and answers whose
// clientDataJSON or attestationObject is large garbage inside the cap, are
// client errors (400, or 401 for an assertion), never 500.
func TestPasskeyL3OversizedAnswersAreClientErrors(t *testing.T) {
	g := l3Instance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	big := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("{", 700<<10)))
	huge := strings.Repeat("A", 1<<20+1)
	registration := func(cd, att string) map[string]any {
		return map[string]any{"name": "k", "credential": map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key",
			"response": map[string]any{"clientDataJSON": cd, "attestationObject": att}}}
	}
	assertion := func(cd, ad string) map[string]any {
		return map[string]any{"credential": map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key",
			"response": map[string]any{"clientDataJSON": cd, "authenticatorData": ad, "signature": "AAAA", "userHandle": "AAAA"}}}
	}
	tests := []struct {
		name, begin, finish string
		body                map[string]any
		want                int
	}{
		{"registration: 700 KiB clientDataJSON", "/auth/webauthn/register/begin", "/auth/webauthn/register/finish", registration(big, "oA"), 400},
		{"registration: 700 KiB attestationObject", "/auth/webauthn/register/begin", "/auth/webauthn/register/finish", registration("e30", big), 400},
		{"registration: body over 1 MiB", "/auth/webauthn/register/begin", "/auth/webauthn/register/finish", registration(huge, "oA"), 400},
		{"login: 700 KiB clientDataJSON", "/auth/webauthn/login/begin", "/auth/webauthn/login/finish", assertion(big, "AAAA"), 401},
		{"login: 700 KiB authenticatorData", "/auth/webauthn/login/begin", "/auth/webauthn/login/finish", assertion("e30", big), 401},
		{"login: body over 1 MiB", "/auth/webauthn/login/begin", "/auth/webauthn/login/finish", assertion(huge, "AAAA"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := postJSON(t, c, g.URL+tt.begin, map[string]any{"passwordless": true}); resp.StatusCode != 200 {
				t.Fatalf("begin = %d %s", resp.StatusCode, body)
			}
			resp, body := postJSON(t, c, g.URL+tt.finish, tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("finish = %d %.200s, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// Passkey events are on the audit trail — mfa.enrolled, login.ok (method
// webauthn, amr), mfa.failed, mfa.removed, each naming the credential by
// its public ID — and neither the audit trail nor the log carries
// credential material: no public key, clientDataJSON, authenticator data
// or signature.
func TestPasskeyL3AuditWithoutCredentialMaterial(t *testing.T) {
	g := l3Instance(t, "sqlite")
	alice := g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	c := signedIn(t, g, "alice")

	resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
	if resp.StatusCode != 200 {
		t.Fatalf("register/begin = %d %s", resp.StatusCode, body)
	}
	cred, key := a.Create(t, []byte(body))
	if resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "key", "credential": cred}); resp.StatusCode != 201 {
		t.Fatalf("register/finish = %d %s", resp.StatusCode, body)
	}
	l := testutil.Client(t)
	good := a.Get(t, passkeyBegin(t, g, l, nil), key)
	if resp, body := passkeyFinish(t, g, l, good); resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	evil := securityKey()
	evil.Origin = "http://evil.localhost:8099"
	l2 := testutil.Client(t)
	bad := evil.Get(t, passkeyBegin(t, g, l2, nil), key)
	if resp, body := passkeyFinish(t, g, l2, bad); resp.StatusCode != 401 {
		t.Fatalf("forged login = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "DELETE", g.URL+"/auth/webauthn/"+key.ID64(), ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE = %d %s", resp.StatusCode, body)
	}

	for _, want := range []struct{ typ, method string }{
		{audit.MFAEnrolled, "webauthn"}, {audit.LoginOK, "webauthn"}, {audit.MFAFailed, "webauthn"}, {audit.MFARemoved, "webauthn"},
	} {
		evs := auditTypes(t, g, want.typ)
		if !slices.ContainsFunc(evs, func(ev audit.Event) bool {
			return ev.UserID == alice.ID && ev.Details["method"] == want.method &&
				(want.typ == audit.MFAFailed && ev.Details["reason"] == "invalid_assertion" || ev.Details["credential"] == key.ID64())
		}) {
			t.Errorf("%s events %+v, want one of alice's with method %s naming the credential (mfa.failed: reason invalid_assertion)", want.typ, evs, want.method)
		}
	}

	var material []string
	for _, raw := range []json.RawMessage{cred, good, bad} {
		var pkc struct {
			Response map[string]any `json:"response"`
		}
		if err := json.Unmarshal(raw, &pkc); err != nil {
			t.Fatal(err)
		}
		for field, v := range pkc.Response {
			if v, ok := v.(string); ok && field != "userHandle" {
				material = append(material, v)
			}
		}
	}
	if len(material) != 8 { // clientDataJSON and attestationObject; twice clientDataJSON, authenticatorData, signature
		t.Fatalf("credential material collected: %d values, want 8", len(material))
	}
	g.AssertLogsDoNotContain(t, material...)
	evs, err := g.App.Store.ListAudit(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		for _, m := range material {
			if strings.Contains(string(b), m) {
				t.Fatalf("audit event %s carries credential material %.16s…", b, m)
			}
		}
	}
}

// A deleted user's passkey signs nobody in: the authenticator still holds
// the key and answers with the old user handle.
func TestPasskeyOfDeletedUserRefused(t *testing.T) {
	eachL3Store(t, func(t *testing.T, g *testutil.Instance) {
		g.CreateUser(t, "alice", strongPassword)
		a := securityKey()
		key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")
		if err := g.App.Users.Delete(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		g.CreateUser(t, "alice", strongPassword) // the name again, a new user
		c := testutil.Client(t)
		if resp, body := passkeyFinish(t, g, c, a.Get(t, passkeyBegin(t, g, c, nil), key)); resp.StatusCode != 401 {
			t.Fatalf("passwordless login with a deleted user's passkey = %d %s, want 401", resp.StatusCode, body)
		}
	})
}
