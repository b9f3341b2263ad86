package jsonmember

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// Repeat is a member named a second time in one object of a JSON text.
type Repeat struct {
	// Name is the second occurrence's name, as the text spells it.
	Name string
	// In is the RFC 6901 JSON Pointer of the object that holds it: "" for
	// the top-level object, "/headers" for the object under its "headers".
	In string
}

// Repeated returns the first member of the JSON text b named twice in one
// object, at any depth (in arrays too), names compared as encoding/json
// matches struct fields (strings.EqualFold); ok is false when there is
// none, and for a b that is not valid JSON (callers check a body they have
// decoded already). b is read in one pass over its bytes, with the names
// of each object kept by their folded form in a map: a 1 MiB body of
// 100,000 distinct names costs about what decoding it does, not the
// 5·10⁹ comparisons (a minute of CPU) of comparing each name with every
// earlier one, nor the allocation per token of json.Decoder.Token (ten
// times the decoding, which an unauthenticated login body could ask for).
func Repeated(b []byte) (r Repeat, ok bool) { return find(b, false) }

// RepeatedTopLevel is Repeated for the members of the top-level object
// only: names in nested objects are not compared, and a b that is not an
// object has no repeat.
func RepeatedTopLevel(b []byte) (r Repeat, ok bool) { return find(b, true) }

// frame is one open object or array while b is walked.
type frame struct {
	object    bool
	expectKey bool                // object: the next string is a name
	seen      map[string]struct{} // object: folded names so far
	name      string              // object: the current member's name
	index     int                 // array: the current element's index
}

// find walks the valid JSON text b byte by byte: outside strings, only
// the structural characters matter, and a string is a member's name when
// its object expects one (after '{' or ',').
func find(b []byte, topOnly bool) (Repeat, bool) {
	if !json.Valid(b) {
		return Repeat{}, false
	}
	var stack []frame
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{object: true, expectKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if f := &stack[len(stack)-1]; f.object {
				f.expectKey = true
			} else {
				f.index++
			}
		case '"':
			end := stringEnd(b, i)
			f := &stack[len(stack)-1]
			if f.object && f.expectKey && (!topOnly || len(stack) == 1) {
				name := unquote(b[i : end+1])
				f.name, f.expectKey = name, false
				if f.seen == nil {
					f.seen = map[string]struct{}{}
				}
				key := fold(name)
				if _, dup := f.seen[key]; dup {
					return Repeat{Name: name, In: pointer(stack[:len(stack)-1])}, true
				}
				f.seen[key] = struct{}{}
			} else if f.object && f.expectKey {
				// A name below the top level for RepeatedTopLevel: not
				// compared, but it is the member's name, not a value.
				f.expectKey = false
			}
			i = end
		}
	}
	return Repeat{}, false
}

// stringEnd returns the index of the quote that closes the string whose
// opening quote is at b[start].
func stringEnd(b []byte, start int) int {
	for i := start + 1; ; i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte (\" or \\ included) is not the end
		case '"':
			return i
		}
	}
}

// unquote returns the name the quoted JSON string q decodes to, as
// encoding/json reads it (escapes resolved, invalid UTF-8 replaced by
// U+FFFD); a plain ASCII name is copied as it is.
func unquote(q []byte) string {
	for _, c := range q {
		if c == '\\' || c >= 0x80 {
			var s string
			_ = json.Unmarshal(q, &s) // q is a valid JSON string
			return s
		}
	}
	return string(q[1 : len(q)-1])
}

// pointer is the RFC 6901 JSON Pointer of the value the innermost frame
// of stack is at: each object's current name (with "~" and "/" escaped),
// each array's current index. Built only for a repeat, so that a deeply
// nested body costs no string per level.
func pointer(stack []frame) string {
	var sb strings.Builder
	for _, f := range stack {
		sb.WriteByte('/')
		if f.object {
			sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(f.name))
		} else {
			sb.WriteString(strconv.Itoa(f.index))
		}
	}
	return sb.String()
}

// fold maps every rune of s to the least rune of its simple case folding
// orbit, so that fold(x) == fold(y) exactly when strings.EqualFold(x, y)
// (which compares runes by that orbit, as encoding/json matches field
// names): "K", "k" and the Kelvin sign fold alike, as do "S", "s" and "ſ".
func fold(s string) string {
	if ascii(s) {
		// The least rune of an ASCII letter's orbit is its upper case
		// ('K' below the Kelvin sign, 'S' below 'ſ'); the fast path.
		return strings.ToUpper(s)
	}
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
