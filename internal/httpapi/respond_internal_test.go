package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// TestRepeatedMember: a top-level member is a repeat exactly when
// strings.EqualFold (encoding/json's field matching) says so, also for the
// runes whose folding is not plain ASCII case, and a body of 1 MiB of
// distinct names is read in one pass with its last member's repeat found.
func TestRepeatedMember(t *testing.T) {
	var many strings.Builder
	many.WriteString("{")
	n := 0
	for ; many.Len() < MaxBodyBytes-64; n++ {
		fmt.Fprintf(&many, `"%x":0,`, n)
	}
	tests := []struct {
		name, body, want string // want "" = no repeat
	}{
		{"distinct", `{"username":"a","password":"b"}`, ""},
		{"exact repeat", `{"username":"a","username":"b"}`, "username"},
		{"case", `{"username":"a","USERNAME":"b"}`, "USERNAME"},
		{"Kelvin sign", `{"k":1,"\u212a":2}`, "\u212a"},
		{"long s", `{"s":1,"\u017f":2}`, "\u017f"},
		{"sigma forms", `{"\u03c3":1,"\u03c2":2}`, "\u03c2"},
		{"nested names do not count", `{"a":{"b":1,"B":2},"b":3}`, ""},
		{"not alike", `{"i":1,"\u0131":2}`, ""},
		{"many distinct", many.String() + `"x":0}`, ""},
		{"many, last repeats", many.String() + `"0":1}`, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := repeatedMember([]byte(tt.body))
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("repeatedMember = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
	for _, pair := range [][2]string{{"k", "\u212a"}, {"S", "\u017f"}, {"\u03a3", "\u03c2"}, {"i", "\u0131"}, {"I", "\u0130"}, {"ǅ", "ǆ"}} {
		if a, b := foldName(pair[0]) == foldName(pair[1]), strings.EqualFold(pair[0], pair[1]); a != b {
			t.Errorf("foldName(%q) == foldName(%q) is %v, strings.EqualFold %v", pair[0], pair[1], a, b)
		}
	}
}
