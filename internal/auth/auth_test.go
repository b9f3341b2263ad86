package auth_test

import (
	"testing"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// A second factor is "mfa", or a passkey that verified its user.
func TestMultiFactor(t *testing.T) {
	tests := []struct {
		amr  []string
		want bool
	}{
		{[]string{"pwd"}, false},
		{[]string{"pwd", "otp", "mfa"}, true},
		{[]string{"pwd", "hwk", "mfa"}, true},
		{[]string{"hwk", "user"}, true}, // passwordless: key + user verification
		{[]string{"swk", "user"}, true},
		{[]string{"hwk"}, false}, // a key without user verification is one factor
		{[]string{"user"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := auth.MultiFactor(tt.amr); got != tt.want {
			t.Errorf("MultiFactor(%v) = %v, want %v", tt.amr, got, tt.want)
		}
	}
}

// Per-client limits count an IPv6 client by its /64 and everything else as
// it is.
func TestClientKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := auth.ClientKey(tt.ip); got != tt.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// CheckRoles judges ASCII byte by byte and everything else by the Unicode
// tables; both must give the one rule: every character is refused inside a
// role exactly when it is a comma, white space, a control or invisible.
func TestCheckRolesOneRuleForEveryCharacter(t *testing.T) {
	for c := rune(0); c <= 0x3000; c++ {
		want := c == ',' || unicode.IsSpace(c) || unicode.IsControl(c) || unicode.IsOneOf(auth.Invisible, c)
		if got := auth.CheckRoles([]string{"ops" + string(c) + "x"}) != nil; got != want {
			t.Errorf("role with %U refused = %v, want %v", c, got, want)
		}
	}
	for _, bad := range []string{"", "ops\xff", "\xc3"} {
		if auth.CheckRoles([]string{bad}) == nil {
			t.Errorf("role %q accepted", bad)
		}
	}
}

// A scope-token is one or more of %x21 / %x23-5B / %x5D-7E (RFC 6749
// §3.3): no space, quote, backslash, control or non-ASCII character.
func TestValidScope(t *testing.T) {
	for c := range rune(0x100) {
		want := c == 0x21 || c >= 0x23 && c <= 0x5B || c >= 0x5D && c <= 0x7E
		if got := auth.ValidScope("a" + string(c) + "b"); got != want {
			t.Errorf("ValidScope(%q) = %v, want %v", "a"+string(c)+"b", got, want)
		}
	}
	for _, tt := range []struct {
		scope string
		want  bool
	}{
		{"orders:read", true},
		{"https://api.example.com/orders.read", true},
		{"", false},
		{"orders read", false},
		{"ordérs", false},
		{"orders\xff", false},
	} {
		if got := auth.ValidScope(tt.scope); got != tt.want {
			t.Errorf("ValidScope(%q) = %v, want %v", tt.scope, got, tt.want)
		}
	}
}

// HasScopes is all-of over the space-separated scope claim, by whole
// scope-token: a prefix or suffix of a granted scope is not granted.
func TestHasScopes(t *testing.T) {
	tests := []struct {
		name, claim string
		required    []string
		want        bool
	}{
		{"none required", "", nil, true},
		{"none required, some granted", "openid", []string{}, true},
		{"exact", "orders:read", []string{"orders:read"}, true},
		{"among others", "openid orders:read profile", []string{"orders:read"}, true},
		{"first", "orders:read openid", []string{"orders:read"}, true},
		{"last", "openid orders:read", []string{"orders:read"}, true},
		{"all of two", "orders:write openid orders:read", []string{"orders:read", "orders:write"}, true},
		{"one of two", "orders:read", []string{"orders:read", "orders:write"}, false},
		{"empty claim", "", []string{"orders:read"}, false},
		{"prefix granted", "orders:rea", []string{"orders:read"}, false},
		{"suffix granted", "orders:readx", []string{"orders:read"}, false},
		{"inside a longer scope", "xorders:read", []string{"orders:read"}, false},
		{"required is a prefix of two joined", "orders:read:x orders", []string{"orders:read"}, false},
		{"space only", " ", []string{"orders:read"}, false},
		{"repeated spaces", "openid  orders:read ", []string{"orders:read"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (auth.Principal{Scope: tt.claim}).HasScopes(tt.required); got != tt.want {
				t.Errorf("HasScopes(%q) of scope %q = %v, want %v", tt.required, tt.claim, got, tt.want)
			}
		})
	}
}

// HasScopes runs on every request to a route with scopes: it must not
// allocate.
func TestHasScopesDoesNotAllocate(t *testing.T) {
	p := auth.Principal{Scope: "openid profile orders:read orders:write"}
	required := []string{"orders:read", "orders:write"}
	if n := testing.AllocsPerRun(100, func() {
		if !p.HasScopes(required) {
			t.Fatal("HasScopes = false")
		}
	}); n != 0 {
		t.Errorf("HasScopes allocates %v times per call, want 0", n)
	}
}
