package user

import (
	"strings"
	"unicode/utf8"

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

// fitsName reports whether name is at most MaxNameLen characters once
// clean, as every account's is: the one check of the length, for CheckName
// and for a login's name (checkPassword).
func fitsName(name string) bool {
	return utf8.RuneCountInString(CleanName(name)) <= MaxNameLen
}

// attemptName is the name a login attempt is known by in the audit trail
// and the login throttle: UTF-8 without NUL (PostgreSQL's text takes
// neither; both become U+FFFD) and CleanName, cut after MaxNameLen
// characters and marked with "…" (no account has such a name). The name is
// the client's to choose, up to the request body cap, and every refused
// attempt — throttled ones too — is stored and logged under it, and counted
// under throttle keys named after it.
func attemptName(name string) string {
	// Stored as text: PostgreSQL takes only UTF-8, and no NUL.
	name = CleanName(strings.ReplaceAll(strings.ToValidUTF8(name, "\uFFFD"), "\x00", "\uFFFD"))
	i := 0
	for n := 0; i < len(name) && n < MaxNameLen; n++ {
		_, size := utf8.DecodeRuneInString(name[i:])
		i += size
	}
	if i == len(name) {
		return name
	}
	return name[:i] + "…"
}
