package mfatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator is a software WebAuthn authenticator for tests: ES256
// keys, attestation "none", authenticator data with real flags and sign
// counts, clientDataJSON as a browser writes it. The server side verifies
// its answers with go-webauthn, unmocked. Fields may be changed between
// ceremonies to forge answers (another origin, another RP ID).
type Authenticator struct {
	// RPID is hashed into authenticator data (default: the options' rp.id).
	RPID string
	// Origin goes into clientDataJSON.
	Origin string
	// Attachment is "platform" or "cross-platform" (the authenticator's
	// authenticatorAttachment).
	Attachment string
	// BackupEligible sets flags BE and BS (a synced passkey).
	BackupEligible bool
	// NoUserVerification clears flag UV (a key without PIN or biometric).
	NoUserVerification bool
	// NoUserPresence clears flag UP (no touch: a forged or silent answer).
	NoUserPresence bool
	// BackupStateOnly sets flag BS without BE, a combination WebAuthn
	// forbids (§6.1.3).
	BackupStateOnly bool
	// CrossOrigin and TopOrigin go into clientDataJSON: the call came
	// from an iframe whose top-level page is TopOrigin.
	CrossOrigin bool
	TopOrigin   string
	// CredentialID, when set, is the ID of the next credential Create
	// makes (default: 32 random bytes).
	CredentialID []byte
	// AttestationFormat and AttestationStatement replace the attestation
	// "none" with an empty statement that Create sends by default.
	AttestationFormat    string
	AttestationStatement map[string]any
}

// Key is a credential the authenticator holds.
type Key struct {
	ID         []byte
	UserHandle []byte
	// Count is the signature counter; each assertion increments it first.
	Count uint32
	priv  *ecdsa.PrivateKey
}

// ID64 is the key's credential ID in base64url, as the API names it.
func (k *Key) ID64() string { return b64(k.ID) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Flags of authenticator data (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (a *Authenticator) flags() byte {
	var f byte
	if !a.NoUserPresence {
		f |= flagUP
	}
	if a.BackupStateOnly {
		f |= flagBS
	}
	if !a.NoUserVerification {
		f |= flagUV
	}
	if a.BackupEligible {
		f |= flagBE | flagBS
	}
	return f
}

func (a *Authenticator) authData(rpID string, flags byte, count uint32) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	return binary.BigEndian.AppendUint32(out, count)
}

func (a *Authenticator) clientData(t testing.TB, typ, challenge string) []byte {
	t.Helper()
	cd := map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": a.CrossOrigin}
	if a.TopOrigin != "" {
		cd["topOrigin"] = a.TopOrigin
	}
	b, err := json.Marshal(cd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// creationOptions is what the tests read of a registration begin answer.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// Create answers the options of a registration begin (its JSON body)
// with a new ES256 credential, as navigator.credentials.create would, and
// returns the PublicKeyCredential JSON and the key.
func (a *Authenticator) Create(t testing.TB, optionsJSON []byte) (json.RawMessage, *Key) {
	t.Helper()
	var o creationOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("registration options %s: %v", optionsJSON, err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	userHandle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.PublicKey.User.ID, err)
	}
	k := &Key{ID: a.CredentialID, UserHandle: userHandle, priv: priv}
	if k.ID == nil {
		k.ID = make([]byte, 32)
		_, _ = rand.Read(k.ID)
	}
	pub, err := priv.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: raw[1:33], YCoord: raw[33:],
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := a.authData(o.PublicKey.RP.ID, a.flags()|flagAT, k.Count)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.ID)))
	ad = append(ad, k.ID...)
	ad = append(ad, cose...)
	format, stmt := "none", map[string]any{}
	if a.AttestationFormat != "" {
		format, stmt = a.AttestationFormat, a.AttestationStatement
	}
	att, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{format, stmt, ad})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(k.ID), "rawId": b64(k.ID), "type": "public-key", "authenticatorAttachment": a.Attachment,
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData(t, "webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att),
			"transports":        []string{"usb"},
		},
		"clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body, k
}

// requestOptions is what the tests read of a login begin answer.
type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Get answers the options of a login begin (its JSON body) with an
// assertion by k, as navigator.credentials.get would: the counter moves
// forward first, the user handle is included (discoverable credential).
func (a *Authenticator) Get(t testing.TB, optionsJSON []byte, k *Key) json.RawMessage {
	t.Helper()
	var o requestOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("login options %s: %v", optionsJSON, err)
	}
	k.Count++
	ad := a.authData(o.PublicKey.RPID, a.flags(), k.Count)
	cd := a.clientData(t, "webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(k.ID), "rawId": b64(k.ID), "type": "public-key", "authenticatorAttachment": a.Attachment,
		"response": map[string]any{
			"clientDataJSON": b64(cd), "authenticatorData": b64(ad), "signature": b64(sig), "userHandle": b64(k.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}
