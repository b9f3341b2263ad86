package password

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
)

// Length limits, in characters. The upper bound keeps one hash cheap to
// compute for an attacker-chosen input.
const (
	MinLength = 8
	MaxLength = 1024
	// MinScore is the lowest zxcvbn score (0-4) accepted: 3 means "safely
	// unguessable: moderate protection from offline slow-hash scenario".
	MinScore = 3
)

// TooLong reports whether password has more than MaxLength characters
// (runes; a byte of invalid UTF-8 counts as one). It is the one count of the
// upper bound: CheckStrength refuses such a password when it is set, and a
// login refuses it before hashing, since no account can have it.
func TooLong(password string) bool {
	// Each character is at least one byte: a short string needs no count.
	return len(password) > MaxLength && utf8.RuneCountInString(password) > MaxLength
}

// ErrWeak matches every refusal of CheckStrength; the message says why.
var ErrWeak = errors.New("password too weak")

// CheckStrength refuses passwords that are not UTF-8 text, too short, too
// long, or easy to guess (zxcvbn, whose dictionaries include the most
// common passwords). The user's own inputs (username) count as guessable.
// Invalid UTF-8 is refused because JSON (the login and admin APIs) decodes
// it as U+FFFD: such a password could not be typed there.
func CheckStrength(password string, userInputs ...string) error {
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: it must be UTF-8 text", ErrWeak)
	case utf8.RuneCountInString(password) < MinLength:
		return fmt.Errorf("%w: it must be at least %d characters", ErrWeak, MinLength)
	case TooLong(password):
		return fmt.Errorf("%w: it must be at most %d characters", ErrWeak, MaxLength)
	}
	// zxcvbn's cost grows with length; the first 100 characters decide.
	sample := password
	if len(sample) > 100 {
		r := []rune(sample)
		if len(r) > 100 {
			sample = string(r[:100])
		}
	}
	m := zxcvbn.PasswordStrength(sample, userInputs)
	if m.Score < MinScore {
		return fmt.Errorf("%w: it is common or easy to guess (strength %d of 4, needs %d; estimated crack time %s) — use a longer passphrase of unrelated words",
			ErrWeak, m.Score, MinScore, m.CrackTimeDisplay)
	}
	return nil
}
