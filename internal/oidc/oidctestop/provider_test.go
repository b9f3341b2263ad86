package oidctestop_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

func discovery(t *testing.T, p *oidctestop.Provider) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc
}

func TestNewServesDiscoveryUntilClosed(t *testing.T) {
	p, err := oidctestop.New("127.0.0.1:0", oidctestop.WithClient("app", "s3cret-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	status, doc := discovery(t, p)
	if status != http.StatusOK || doc["issuer"] != p.Issuer() || doc["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery = %d %v, want 200 with issuer %s and RFC 9207 support", status, doc, p.Issuer())
	}
	if p.ClientID() != "app" || p.ClientSecret() != "s3cret-s3cret" {
		t.Errorf("client = %q/%q, want app/s3cret-s3cret", p.ClientID(), p.ClientSecret())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(p.Issuer() + "/.well-known/openid-configuration"); err == nil {
		t.Error("provider still answers after Close")
	}
}

func TestBehaviourDiscovery(t *testing.T) {
	p := oidctestop.Start(t)
	p.SetBehaviour(oidctestop.Behaviour{DiscoveryDown: true})
	if status, _ := discovery(t, p); status != http.StatusServiceUnavailable {
		t.Errorf("discovery down: status %d, want 503", status)
	}
	p.SetBehaviour(oidctestop.Behaviour{NoIssSupport: true})
	if status, doc := discovery(t, p); status != http.StatusOK || doc["authorization_response_iss_parameter_supported"] != nil {
		t.Errorf("NoIssSupport: %d %v, want 200 without the RFC 9207 flag", status, doc)
	}
}

// keySet fetches p's key set and returns the status and the kids in it.
func keySet(t *testing.T, p *oidctestop.Provider) (int, []string) {
	t.Helper()
	resp, err := http.Get(p.Issuer() + "/keys")
	if err != nil {
		t.Fatalf("key set: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.KID)
	}
	return resp.StatusCode, kids
}

// KeysDown makes the key set answer 503, RotateKey publishes a new key
// beside the old one, and KeySetRequests counts every request for it.
func TestKeySetKnobs(t *testing.T) {
	p := oidctestop.Start(t)
	status, before := keySet(t, p)
	if status != http.StatusOK || len(before) != 1 {
		t.Fatalf("key set = %d %v, want 200 with one key", status, before)
	}
	p.SetBehaviour(oidctestop.Behaviour{KeysDown: true})
	if status, _ := keySet(t, p); status != http.StatusServiceUnavailable {
		t.Errorf("KeysDown: status %d, want 503", status)
	}
	p.SetBehaviour(oidctestop.Behaviour{})
	kid, err := p.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, after := keySet(t, p); len(after) != 2 || !slices.Contains(after, kid) || !slices.Contains(after, before[0]) {
		t.Errorf("after RotateKey the key set holds %v, want the new %s and the old %s", after, kid, before[0])
	}
	if got := p.KeySetRequests(); got != 3 {
		t.Errorf("KeySetRequests = %d, want 3", got)
	}
}
