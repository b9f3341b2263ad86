package keys

import "errors"

// Errors returned by a Set. They are deliberately not the auth sentinels:
// an unknown kid in a token is a verification failure, not a missing record.
var (
	// ErrUnknownKey: no key of the configured algorithm has this kid.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrRetiredKey: the key existed but its verification grace is over.
	ErrRetiredKey = errors.New("retired signing key")
	// ErrDecrypt: a stored private key could not be opened with
	// keys.encryption_key (wrong key, or none configured).
	ErrDecrypt = errors.New("cannot decrypt signing key")
	// ErrUnsupported: the operation does not apply to the algorithm
	// (for example Rotate with HS256, whose secret lives in configuration).
	ErrUnsupported = errors.New("not supported for this algorithm")
	// ErrAlgorithmMismatch: the store's active signing key is of another
	// algorithm than tokens.algorithm, and the Set was not allowed to
	// change it (WithAlgorithmChange).
	ErrAlgorithmMismatch = errors.New("tokens.algorithm differs from the store's active signing key")
)
