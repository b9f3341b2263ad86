package user_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// TestLoginSpellingLongerThanAnyNameIsNoAccount: the login throttle
// counts an attempt under the name cut after user.MaxNameLen characters,
// while the account was looked up by the whole name. Some spellings are
// longer than the name they match ("J" + combining caron is two
// characters, case-folded it is the one "ǰ"), so an account with such a
// name could be guessed at under endless spellings cut apart from its
// own, each with a fresh count. A spelling longer than MaxNameLen is no
// account's (no account has such a name): it never logs in, whatever the
// password, and every attempt that can log in counts under the account's
// own key.
func TestLoginSpellingLongerThanAnyNameIsNoAccount(t *testing.T) {
	const maxFailures, ip = 3, "192.0.2.1"
	account := strings.Repeat("ǰ", 40)
	s := newService(t, newStore(t), cheap, user.WithLimiter(throttle.NewLimiter(memory.New(), maxFailures, time.Hour)))
	if _, err := s.Create(t.Context(), account, goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	// spelling decomposes the first n letters: 40+n characters, the same
	// account by NameKey.
	spelling := func(n int) string { return strings.Repeat("J\u030C", n) + strings.Repeat("ǰ", 40-n) }
	if user.NameKey(spelling(30)) != user.NameKey(account) {
		t.Fatal("test premise: the long spelling is not the account's NameKey")
	}
	tests := []struct {
		name    string
		spell   string
		wantErr error
	}{
		{"the account's own spelling", account, nil},
		{"upper case, as long as the name", spelling(20), nil}, // 60 characters
		{"longer than any name", spelling(30), auth.ErrInvalidCredentials},
		{"longer than any name, another cut", spelling(40), auth.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Login(t.Context(), user.Attempt{Username: tt.spell, Password: goodPassword, IP: ip, Via: "json"})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("login with the right password = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
