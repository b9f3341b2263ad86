package oidc

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/user"
)

func TestCheckIdentifiers(t *testing.T) {
	plain := &provider{cfg: Provider{Name: "corp"}}
	bcl := &provider{cfg: Provider{Name: "corp", BackchannelLogout: true}}
	long := strings.Repeat("a", user.MaxIdentifierLen+1)
	tests := []struct {
		name   string
		p      *provider
		ext    external
		reason string // "" accepted
	}{
		{"short sub, no sid", bcl, external{Subject: "248289761001"}, ""},
		{"sub of 255 bytes, sid of 255 bytes", bcl, external{Subject: long[1:], SessionID: long[1:]}, ""},
		{"UUID sid", bcl, external{Subject: "f:1b2c:alice", SessionID: "5a1f3c8e-6b1d-4c2a-9f0e-7d3b2a1c0e9f"}, ""},
		{"non-ASCII sub of 255 bytes", plain, external{Subject: strings.Repeat("é", 127) + "x"}, ""},
		{"sub of 256 bytes", plain, external{Subject: long}, "subject_invalid"},
		{"multi-byte sub over 255 bytes", plain, external{Subject: strings.Repeat("é", 128)}, "subject_invalid"},
		{"sub with NUL", plain, external{Subject: "a\x00b"}, "subject_invalid"},
		{"sub with DEL", plain, external{Subject: "a\x7fb"}, "subject_invalid"},
		{"sub with C1 control", plain, external{Subject: "a\u0085b"}, "subject_invalid"},
		{"sid of 256 bytes, back-channel logout", bcl, external{Subject: "s", SessionID: long}, "session_id_invalid"},
		{"sid with tab, back-channel logout", bcl, external{Subject: "s", SessionID: "a\tb"}, "session_id_invalid"},
		{"sid of 256 bytes, unused", plain, external{Subject: "s", SessionID: long}, ""},
		{"bad sub and sid: sub first", bcl, external{Subject: long, SessionID: long}, "subject_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.p.checkIdentifiers(tc.ext)
			got := ""
			if f != nil {
				got = f.reason
				if f.status != 502 {
					t.Errorf("status = %d, want 502", f.status)
				}
			}
			if got != tc.reason {
				t.Errorf("reason = %q, want %q", got, tc.reason)
			}
		})
	}
}
