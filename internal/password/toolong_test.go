package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// TooLong is the one rule of the upper length bound, counted in
// characters (runes), not bytes: CheckStrength refuses a password for its
// length exactly when TooLong says so, with the same message as before.
func TestTooLongCountsCharacters(t *testing.T) {
	tests := []struct {
		name     string
		password string
		tooLong  bool
	}{
		{"MaxLength ASCII", strings.Repeat("a", password.MaxLength), false},
		{"MaxLength+1 ASCII", strings.Repeat("a", password.MaxLength+1), true},
		{"MaxLength two-byte characters", strings.Repeat("é", password.MaxLength), false},
		{"MaxLength+1 two-byte characters", strings.Repeat("é", password.MaxLength+1), true},
		{"MaxLength four-byte characters", strings.Repeat("𝄞", password.MaxLength), false},
		{"empty", "", false},
	}
	const msg = "password too weak: it must be at most 1024 characters"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := password.TooLong(tt.password); got != tt.tooLong {
				t.Fatalf("TooLong(%d bytes) = %v, want %v", len(tt.password), got, tt.tooLong)
			}
			err := password.CheckStrength(tt.password)
			if got := err != nil && err.Error() == msg; got != tt.tooLong {
				t.Errorf("CheckStrength(%d bytes) = %v; refused for length = %v, want %v", len(tt.password), err, got, tt.tooLong)
			}
			if tt.tooLong && !errors.Is(err, password.ErrWeak) {
				t.Errorf("CheckStrength error %v does not match ErrWeak", err)
			}
		})
	}
}
