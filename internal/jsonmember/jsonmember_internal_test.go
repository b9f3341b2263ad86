package jsonmember

import (
	"fmt"
	"strings"
	"testing"
)

// TestRepeated: a member is a repeat exactly when strings.EqualFold
// (encoding/json's field matching) says so, also for the runes whose
// folding is not plain ASCII case; Repeated compares the names of every
// object at any depth and says which object holds the repeat,
// RepeatedTopLevel only those of the top-level object; a body of 1 MiB
// of distinct names is read in one pass with its last member's repeat
// found; and a text that is not valid JSON has no repeat.
func TestRepeated(t *testing.T) {
	var many strings.Builder
	many.WriteString("{")
	for n := 0; many.Len() < 1<<20-64; n++ {
		fmt.Fprintf(&many, `"%x":0,`, n)
	}
	deep := strings.Repeat(`{"a":`, 5000) + `{"b":1,"B":2}` + strings.Repeat("}", 5000)
	none := Repeat{}
	tests := []struct {
		name, body    string
		any, topLevel Repeat // none = no repeat
	}{
		{"distinct", `{"username":"a","password":"b"}`, none, none},
		{"exact repeat", `{"username":"a","username":"b"}`, Repeat{Name: "username"}, Repeat{Name: "username"}},
		{"case", `{"username":"a","USERNAME":"b"}`, Repeat{Name: "USERNAME"}, Repeat{Name: "USERNAME"}},
		{"Kelvin sign", `{"k":1,"\u212a":2}`, Repeat{Name: "\u212a"}, Repeat{Name: "\u212a"}},
		{"long s", `{"s":1,"\u017f":2}`, Repeat{Name: "\u017f"}, Repeat{Name: "\u017f"}},
		{"sigma forms", `{"\u03c3":1,"\u03c2":2}`, Repeat{Name: "\u03c2"}, Repeat{Name: "\u03c2"}},
		{"not alike", `{"i":1,"\u0131":2}`, none, none},
		{"escaped names", `{"\u0041":1, "a" : 2}`, Repeat{Name: "a"}, Repeat{Name: "a"}},
		{"quote and backslash in names", `{"a\"b\\":1,"A\"B\\":2}`, Repeat{Name: `A"B\`}, Repeat{Name: `A"B\`}},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`, none, none},
		{"same name in parent and child", `{"a":{"a":1}}`, none, none},
		{"nested object", `{"a":{"b":1,"B":2},"b":3}`, Repeat{Name: "B", In: "/a"}, none},
		{"nested, top level repeats later", `{"a":{"b":1,"b":2},"c":1,"c":2}`, Repeat{Name: "b", In: "/a"}, Repeat{Name: "c"}},
		{"in an array", `{"list":[1,{"x":1},{"y":1,"y":2}]}`, Repeat{Name: "y", In: "/list/2"}, none},
		{"escaped pointer", `{"a/b~c":{"k":1,"K":2}}`, Repeat{Name: "K", In: "/a~1b~0c"}, none},
		{"top-level array", `[{"a":1,"a":2}]`, Repeat{Name: "a", In: "/0"}, none},
		{"values are no names", `{"a":"b","b":"a","c":["a","a"],"d":{"e":"e"}}`, none, none},
		{"empty objects and arrays", `{"a":{},"b":[],"c":[[],{}],"d":{}}`, none, none},
		{"deep", deep, Repeat{Name: "B", In: strings.Repeat("/a", 5000)}, none},
		{"many distinct", many.String() + `"x":0}`, none, none},
		{"many, last repeats", many.String() + `"0":1}`, Repeat{Name: "0"}, Repeat{Name: "0"}},
		{"invalid UTF-8 decodes to the same name", "{\"a\xff\":1,\"a\xfe\":2}", Repeat{Name: "a\ufffd"}, Repeat{Name: "a\ufffd"}},
		{"names below the top level", `{"a":{"x":{"y":1},"x":2},"b":[{"k":1,"k":2}]}`, Repeat{Name: "x", In: "/a"}, none},
		{"malformed after the repeat", `{"a":1,"a":`, none, none},
		{"malformed before the repeat", `{"a":1,,"a":2}`, none, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				find func([]byte) (Repeat, bool)
				want Repeat
			}{{"Repeated", Repeated, tt.any}, {"RepeatedTopLevel", RepeatedTopLevel, tt.topLevel}} {
				got, ok := f.find([]byte(tt.body))
				if ok != (f.want != none) || got != f.want {
					t.Errorf("%s = %+.80v, %v; want %+.80v", f.name, got, ok, f.want)
				}
			}
		})
	}
}

// TestFold: fold(x) == fold(y) exactly when strings.EqualFold(x, y).
func TestFold(t *testing.T) {
	for _, pair := range [][2]string{{"k", "\u212a"}, {"S", "\u017f"}, {"\u03a3", "\u03c2"}, {"i", "\u0131"}, {"I", "\u0130"},
		{"ǅ", "ǆ"}, {"roles", "ROLES"}, {"roles", "role"}} {
		if a, b := fold(pair[0]) == fold(pair[1]), strings.EqualFold(pair[0], pair[1]); a != b {
			t.Errorf("fold(%q) == fold(%q) is %v, strings.EqualFold %v", pair[0], pair[1], a, b)
		}
	}
}

// BenchmarkRepeatedTopLevel: the check of a 1 MiB body of distinct names,
// the worst an unauthenticated JSON login can send. It should cost the
// same order as decoding the body (json.Unmarshal), not ten times that.
func BenchmarkRepeatedTopLevel(b *testing.B) {
	var body strings.Builder
	body.WriteString(`{"username":"a"`)
	for n := 0; body.Len() < 1<<20-16; n++ {
		fmt.Fprintf(&body, `,"m%x":0`, n)
	}
	body.WriteString("}")
	raw := []byte(body.String())
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, ok := RepeatedTopLevel(raw); ok {
			b.Fatal("a repeat in distinct names")
		}
	}
}
