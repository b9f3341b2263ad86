package mfa_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

// TestEndPendingOnce: a pending login ends once, on every instance, and a
// copy of its cookie spelt another way (base64 leaves the last
// character's low bits free) is the same pending login. A pending login
// that was not read from a request ends nothing.
func TestEndPendingOnce(t *testing.T) {
	f := newFixture(t)
	codec, err := mfa.NewPendingCodec(bytes.Repeat([]byte{7}, 32), false, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	// A next of a length that leaves bits free in the cookie's last
	// character, so that it can be spelt another way.
	var value string
	for _, next := range []string{"/", "/a", "/ab"} {
		rec := httptest.NewRecorder()
		if err := codec.Set(rec, f.user, []string{"pwd"}, next, false); err != nil {
			t.Fatal(err)
		}
		if value = rec.Result().Cookies()[0].Value; len(value)%4 != 0 {
			break
		}
	}
	respelt := respell(t, value)
	a, b := f.service(t), f.service(t) // two instances, one store
	tests := []struct {
		name    string
		svc     *mfa.Service
		pending mfa.Pending
		wantErr error
	}{
		{"the first second step", a, pendingOf(t, codec, value), nil},
		{"the same cookie again", a, pendingOf(t, codec, value), mfa.ErrPendingEnded},
		{"the same cookie on another instance", b, pendingOf(t, codec, value), mfa.ErrPendingEnded},
		{"the cookie spelt another way", b, pendingOf(t, codec, respelt), mfa.ErrPendingEnded},
		{"a pending login not read from a request", a, mfa.Pending{UserID: f.user.ID, Expires: f.clock.Now().Add(time.Minute)}, mfa.ErrPendingEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.svc.EndPending(t.Context(), tt.pending)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil && !errors.Is(err, auth.ErrUnauthenticated)) {
				t.Fatalf("EndPending = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// respell returns v (unpadded base64url) with other bits in its last
// character's unused low bits, which decode to the same bytes; it fails
// when v's length leaves none free.
func respell(t *testing.T, v string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(v)%4 == 0 {
		t.Fatalf("a %d-character value has no free bits", len(v))
	}
	last := bytes.IndexByte([]byte(alphabet), v[len(v)-1])
	other := v[:len(v)-1] + string(alphabet[last^1])
	want, _ := base64.RawURLEncoding.DecodeString(v)
	got, err := base64.RawURLEncoding.DecodeString(other)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("respelt value does not decode to the same bytes (%v)", err)
	}
	return other
}

// pendingOf reads the pending login of cookie value v as codec sees it in
// a second step's request.
func pendingOf(t *testing.T, codec *mfa.PendingCodec, v string) mfa.Pending {
	t.Helper()
	r := httptest.NewRequest("POST", "/auth/login/mfa", nil)
	r.AddCookie(&http.Cookie{Name: mfa.PendingCookie, Value: v})
	p, err := codec.FromRequest(r)
	if err != nil {
		t.Fatalf("FromRequest: %v", err)
	}
	return p
}
