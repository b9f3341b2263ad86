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
