package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
)

// peerFields are the settings every instance sharing the stores must agree
// on (docs/deploy.md, "Instances must agree"), in the order they are
// reported: tokens or cookies one instance issues with another value are
// refused by the others.
var peerFields = []string{
	peers.FieldVersion, peers.FieldPublicURL, peers.FieldAlgorithm, peers.FieldAudience, peers.FieldHMACSecret,
	peers.FieldEncryptionKey, peers.FieldCookieName, peers.FieldCookieDomain, peers.FieldCookieSecure,
	peers.FieldIdleTimeout, peers.FieldAbsoluteTimeout,
}

// peerSettings is this instance's value of each of peerFields. hmacKID
// names the HS256 secret (the kid its tokens carry), "" for the other
// algorithms; the encryption key is named by a digest alike. Neither
// secret is ever stored or logged.
func peerSettings(cfg config.Config, version, hmacKID string) map[string]string {
	aud := slices.Clone(cfg.Tokens.Audience)
	slices.Sort(aud)
	return map[string]string{
		peers.FieldVersion:         version,
		peers.FieldPublicURL:       cfg.EffectivePublicURL(),
		peers.FieldAlgorithm:       cfg.Tokens.Algorithm,
		peers.FieldAudience:        strings.Join(aud, ","),
		peers.FieldHMACSecret:      labelled("kid", hmacKID),
		peers.FieldEncryptionKey:   labelled("digest", secretDigest(cfg.Keys.EncryptionKey)),
		peers.FieldCookieName:      cfg.CookieName(),
		peers.FieldCookieDomain:    cfg.Sessions.Cookie.Domain,
		peers.FieldCookieSecure:    strconv.FormatBool(cfg.SecureCookies()),
		peers.FieldIdleTimeout:     cfg.Sessions.IdleTimeout.D().String(),
		peers.FieldAbsoluteTimeout: cfg.Sessions.AbsoluteTimeout.D().String(),
	}
}

// labelled is "label v", or "(unset)" for "".
func labelled(label, v string) string {
	if v == "" {
		return "(unset)"
	}
	return label + " " + v
}

// secretDigest names secret without revealing it (as the kid names the
// HS256 secret): 64 bits of a labelled SHA-256, "" for no secret. Secrets
// are at least 32 bytes, so the digest cannot be searched back to one.
func secretDigest(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("gatehouse-peer-digest\x00" + secret))
	return hex.EncodeToString(sum[:8])
}

// newPeerMonitor builds the monitor of this instance's settings over the
// store that also holds the revocation feed (Redis when configured, else
// the main store), so that it sees the instances this one shares
// revocations with.
func (a *App) newPeerMonitor(version string) *peers.Monitor {
	var s peers.Store = a.Store
	if a.Redis != nil {
		s = a.Redis
	}
	if version == "" {
		version = "devel"
	}
	kid := ""
	if a.Config.Tokens.Algorithm == "HS256" {
		kid, _, _ = a.Keys.Signing()
	}
	host, _ := os.Hostname()
	self := peers.Record{ID: instanceID(), Host: host, Listen: a.Config.Listen,
		Settings: peerSettings(a.Config, version, kid)}
	return peers.NewMonitor(s, self, peerFields, peers.WithLogger(a.Log), peers.WithClock(a.now),
		peers.WithObserver(a.Metrics.PeerMismatch))
}

// instanceID names this process among its peers: 64 random bits.
func instanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
