package user

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// CleanName is the username as stored and shown: NFKC-normalised and trimmed.
func CleanName(name string) string {
	return strings.TrimSpace(norm.NFKC.String(name))
}

// NameKey is the comparison key of a username: CleanName, case-folded. Two
// usernames with the same key are the same account ("Alice", "alice",
// "ＡＬＩＣＥ").
func NameKey(name string) string {
	return norm.NFKC.String(cases.Fold().String(CleanName(name)))
}
