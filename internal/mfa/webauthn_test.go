package mfa_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

func TestRelyingPartyFor(t *testing.T) {
	tests := []struct {
		publicURL string
		want      mfa.RelyingParty
		err       error
	}{
		{"https://login.example.com", mfa.RelyingParty{ID: "login.example.com", Origin: "https://login.example.com", Name: "gatehouse"}, nil},
		{"https://login.example.com:8443/base", mfa.RelyingParty{ID: "login.example.com", Origin: "https://login.example.com:8443", Name: "gatehouse"}, nil},
		{"http://localhost:8080", mfa.RelyingParty{ID: "localhost", Origin: "http://localhost:8080", Name: "gatehouse"}, nil},
		{"http://127.0.0.1:8080", mfa.RelyingParty{}, mfa.ErrNoPasskeys},
		{"http://[::1]:8080", mfa.RelyingParty{}, mfa.ErrNoPasskeys},
		{"not a url", mfa.RelyingParty{}, mfa.ErrNoPasskeys},
	}
	for _, tt := range tests {
		t.Run(tt.publicURL, func(t *testing.T) {
			got, err := mfa.RelyingPartyFor(tt.publicURL)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("RelyingPartyFor = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestFactorMethodsWithPasskeys(t *testing.T) {
	key := []mfa.Credential{{ID: []byte("k")}}
	tests := []struct {
		name string
		f    mfa.Factors
		want []string
	}{
		{"nothing", mfa.Factors{}, nil},
		{"recovery codes alone are no factor", mfa.Factors{RecoveryLeft: 3}, nil},
		{"passkey only", mfa.Factors{Passkeys: key}, []string{"webauthn"}},
		{"passkey and recovery", mfa.Factors{Passkeys: key, RecoveryLeft: 1}, []string{"webauthn", "recovery"}},
		{"everything", mfa.Factors{TOTP: true, Passkeys: key, RecoveryLeft: 1}, []string{"totp", "webauthn", "recovery"}},
	}
	for _, tt := range tests {
		if got := tt.f.Methods(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Methods = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Reset (gatehouse user mfa-reset, the admin API) removes passkeys too.
func TestResetRemovesPasskeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.store.AddCredential(ctx, mfa.Credential{ID: []byte("k1"), UserID: f.user.ID, Name: "key",
		Kind: mfa.AMRSoftware, Data: []byte("{}"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s := f.service(t)
	if got, err := s.Factors(ctx, f.user.ID); err != nil || !got.Enrolled() || len(got.Passkeys) != 1 {
		t.Fatalf("Factors = %+v, %v; want one passkey, enrolled", got, err)
	}
	if err := s.Reset(ctx, f.user.ID); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got, err := s.Factors(ctx, f.user.ID); err != nil || got.Enrolled() || len(got.Passkeys) != 0 {
		t.Fatalf("Factors after Reset = %+v, %v; want none", got, err)
	}
}
