package oidctestop_test

import (
	"encoding/json"
	"net/http"
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
