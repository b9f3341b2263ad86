package keys

import (
	"context"
	"time"
)

// Key is a signing key as stored. Private is PKCS#8 DER, AES-GCM sealed when
// Encrypted; Public is PKIX DER. HS256 keys are never stored (the secret
// comes from configuration).
type Key struct {
	ID          string // kid
	Algorithm   string // RS256 | ES256 | EdDSA
	Private     []byte
	Public      []byte
	Encrypted   bool
	CreatedAt   time.Time
	ActivatedAt time.Time
	// RetiresAt is zero for the active key; after rotation it is when the
	// key stops verifying and leaves the JWKS (rotation + access_ttl + leeway).
	RetiresAt time.Time
}

// Store persists signing keys.
//
// Errors: auth.ErrConflict, auth.ErrUnavailable (wrapped).
type Store interface {
	// Keys returns every stored key, retired ones included.
	Keys(ctx context.Context) ([]Key, error)
	// RotateKey stores next as the active key and sets RetiresAt=retireAt on
	// every key that had none, in one transaction — but only when the active
	// key is currently expectActive ("" = no key yet). Otherwise it returns
	// auth.ErrConflict and changes nothing, so that instances rotating at
	// once agree on one winner.
	RotateKey(ctx context.Context, expectActive string, next Key, retireAt time.Time) error
	// DeleteRetiredKeys removes keys whose RetiresAt is before cutoff.
	DeleteRetiredKeys(ctx context.Context, cutoff time.Time) (int, error)
	// SealKey replaces the private part of key id, stored in clear, with
	// sealed and marks it Encrypted — only while it is still in clear, so
	// that instances sealing the same key at once leave one sealed form.
	// A key already sealed, or gone, is left as it is (nil).
	SealKey(ctx context.Context, id string, sealed []byte) error
}
