package keys

import (
	"context"
	"time"
)

// Key is a signing key as stored. Private is PKCS#8 DER, AES-GCM sealed when
// Encrypted; Public is PKIX DER. HS256 keys are never stored (the secret
// comes from configuration).
type Key struct {
	ID        string // kid
	Algorithm string // RS256 | ES256 | EdDSA
	Private   []byte
	Public    []byte
	Encrypted bool
	CreatedAt time.Time
	// ActivatedAt is when the key became active; for a Pending key, when a
	// scheduled rotation is to make it active.
	ActivatedAt time.Time
	// RetiresAt is zero for the active key and a pending one; after rotation
	// it is when the key stops verifying and leaves the JWKS (rotation +
	// access_ttl + leeway).
	RetiresAt time.Time
	// Pending marks the next key of a scheduled rotation (keys.rotate_every):
	// published in the JWKS, verifying, but not signing until it is made
	// active (at ActivatedAt) by RotateKey. At most one key is pending, and
	// only for the active key it was announced after.
	Pending bool
}

// Store persists signing keys.
//
// Errors: auth.ErrConflict, auth.ErrUnavailable (wrapped).
type Store interface {
	// Keys returns every stored key, retired ones included, and the pending
	// key (Pending) announced after the current active key, if any.
	Keys(ctx context.Context) ([]Key, error)
	// RotateKey stores next as the active key and sets RetiresAt=retireAt on
	// every key that had none, in one transaction — but only when the active
	// key is currently expectActive ("" = no key yet). Otherwise it returns
	// auth.ErrConflict and changes nothing, so that instances rotating at
	// once agree on one winner. When next.ID is the pending key's, that key
	// becomes the active one as stored, with next.ActivatedAt (the rest of
	// next is ignored); any other pending key is retired at retireAt like the
	// rest (it was published, so it leaves the JWKS no earlier than they do).
	// Either way no key is pending afterwards.
	RotateKey(ctx context.Context, expectActive string, next Key, retireAt time.Time) error
	// AddPendingKey stores next as the pending key, to become active at
	// next.ActivatedAt — but only when the active key is currently
	// expectActive and no key is pending for it. Otherwise it returns
	// auth.ErrConflict and changes nothing, so that instances announcing at
	// once agree on one next key. An empty expectActive is
	// auth.ErrInvalidInput: a first key is made active at once (RotateKey).
	AddPendingKey(ctx context.Context, expectActive string, next Key) error
	// DeleteRetiredKeys removes keys whose RetiresAt is before cutoff; never
	// the active or the pending key.
	DeleteRetiredKeys(ctx context.Context, cutoff time.Time) (int, error)
	// SealKey replaces the private part of key id (pending or not), stored in clear, with
	// sealed and marks it Encrypted — only while it is still in clear, so
	// that instances sealing the same key at once leave one sealed form.
	// A key already sealed, or gone, is left as it is (nil).
	SealKey(ctx context.Context, id string, sealed []byte) error
}
