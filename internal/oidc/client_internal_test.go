package oidc

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// TestDefaultProviderClientIsBounded: every call to a provider ends — the
// default client gives up after 15 s (TestHungProviderEndsTheLogin shows
// the page a hung provider leads to) — and reads at most
// maxProviderResponse of an answer, also through a client the caller
// passes, which is left as it was.
func TestDefaultProviderClientIsBounded(t *testing.T) {
	own := &http.Client{Timeout: 3 * time.Second}
	tests := []struct {
		name    string
		client  *http.Client
		timeout time.Duration
	}{
		{"default", nil, 15 * time.Second},
		{"the caller's", own, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(context.Background(), Deps{
				PublicURL: "http://127.0.0.1:8080", Users: noUsers{}, StateKey: make([]byte, 32), HTTPClient: tc.client,
				StartSession: func(http.ResponseWriter, *http.Request, auth.User, string) (StartedSession, error) {
					return StartedSession{}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := h.client.Timeout; got != tc.timeout {
				t.Errorf("client timeout = %s, want %s", got, tc.timeout)
			}
			if _, ok := h.client.Transport.(boundedTransport); !ok {
				t.Errorf("client transport = %T, want boundedTransport", h.client.Transport)
			}
		})
	}
	if own.Transport != nil {
		t.Errorf("the caller's client was changed: Transport %T", own.Transport)
	}
}

// noUsers is a Users that New accepts; these tests make no login.
type noUsers struct{ Users }
