package user_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// Login refuses a password longer than password.MaxLength characters
// before anything else, by password.TooLong's count (characters, not
// bytes): MaxLength two-byte characters are a guess like any other.
func TestLoginRefusesByPasswordTooLong(t *testing.T) {
	svc := newService(t, newStore(t), cheap)
	if _, err := svc.Create(t.Context(), "alice", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		password string
		want     error
		msg      string
	}{
		{"MaxLength+1 characters", strings.Repeat("é", password.MaxLength+1), auth.ErrInvalidInput, "the password must be at most 1024 characters"},
		{"MaxLength characters in more bytes", strings.Repeat("é", password.MaxLength), auth.ErrInvalidCredentials, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Login(t.Context(), user.Attempt{Username: "alice", Password: tt.password})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Login = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && !strings.HasSuffix(err.Error(), tt.msg) {
				t.Errorf("Login = %q, want it to end with %q", err, tt.msg)
			}
		})
	}
}
