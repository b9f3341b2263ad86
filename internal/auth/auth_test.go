package auth_test

import (
	"testing"

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
