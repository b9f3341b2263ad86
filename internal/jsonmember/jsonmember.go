package jsonmember

import (
	"bytes"
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
// none. It is meant for a body already decoded, hence well-formed; of a
// malformed b it reports at most a repeat before the fault. The names of
// each object are kept by their folded form in a map: a 1 MiB body of
// 100,000 distinct names costs one pass, not the 5·10⁹ comparisons (a
// minute of CPU) of comparing each name with every earlier one.
func Repeated(b []byte) (r Repeat, ok bool) { return find(b, false) }

// RepeatedTopLevel is Repeated for the members of the top-level object
// only: names in nested objects are not compared (their values are
// skipped whole), and a b that is not an object has no repeat.
func RepeatedTopLevel(b []byte) (r Repeat, ok bool) { return find(b, true) }

// frame is one open object or array while b is walked.
type frame struct {
	object    bool
	expectKey bool                // object: the next token is a name (or '}')
	seen      map[string]struct{} // object: folded names so far
	name      string              // object: the current member's name
	index     int                 // array: the current element's index
}

func find(b []byte, topOnly bool) (Repeat, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []frame
	for {
		t, err := dec.Token()
		if err != nil {
			return Repeat{}, false // io.EOF: the end; otherwise malformed
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone(stack)
			continue
		}
		if top != nil && top.object && top.expectKey {
			name, _ := t.(string)
			top.name, top.expectKey = name, false
			if top.seen == nil {
				top.seen = map[string]struct{}{}
			}
			key := fold(name)
			if _, dup := top.seen[key]; dup {
				return Repeat{Name: name, In: pointer(stack[:len(stack)-1])}, true
			}
			top.seen[key] = struct{}{}
			if topOnly {
				// The top-level object's member: skip its value whole,
				// nothing in it is compared.
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return Repeat{}, false
				}
				valueDone(stack)
			}
			continue
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, expectKey: true})
		case json.Delim('['):
			if topOnly {
				return Repeat{}, false // the top-level value (members' values are skipped): no object
			}
			stack = append(stack, frame{})
		default:
			valueDone(stack)
		}
	}
}

// valueDone moves the innermost open container past the value just read.
func valueDone(stack []frame) {
	if len(stack) == 0 {
		return
	}
	if f := &stack[len(stack)-1]; f.object {
		f.expectKey = true
	} else {
		f.index++
	}
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
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}
