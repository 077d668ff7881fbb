package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// tomlSeeds are documents on the edges of TOML's rules against defining a
// key or table twice, and of its scalars.
var tomlSeeds = []string{
	"a = 1\na = 2", "[a]\n[a]", "[a.b]\n[a]", "[a]\nb.c = 1\n[a.b]", "a.b = 1\n[a.c]\nx = 1", "[a.b.d]\n[a]\nb.c = 1",
	"a = {b = 1}\n[a.c]", "a = {b = 1}\na.c = 2", "a = {b = 1, b = 2}", "a = [{b = 1}, {b = 1, b = 2}]",
	"[[a]]\nb = 1\n[[a]]\nb = 2\n[a.c]\nd = 1", "a = []\n[[a]]", "[a]\n[[a]]", "[[a]]\n[a]", "[[a.b]]\n[a]\n[[a.b]]",
	"a = 1\n[a.b]", "a.b = 1\na.b.c = 2", "x = 0x7FFFFFFFFFFFFFFF", "x = 0x8000000000000000", "x = -9223372036854775808",
	"x = 9223372036854775808", "x = 0o777\ny = 0b101\nz = 1_000", "x = 1e400", "x = -inf\ny = +nan\nz = 1_0.5e-3",
	"x = 1979-05-27T07:32:00Z\ny = 1979-05-27\nz = 07:32:00\nw = 1979-05-27 07:32:00", "x = 2021-02-30", "x = 25:00:00",
	"'lit.key' = 1\n\"q\\tk\" = 2\n[\"t a\".b]\nc = [1, [2, 3], {d = 4}]", "a = \"\"\"\nmulti\\\n  line\"\"\"",
	"x = [ # c\n 1, # d\n]", "[a]\nb = {c.d = 1, c.e = 2}", "[a]\nb = {c.d = 1}\n[a.b.c]", "a = 1 b = 2", "= 1", "[a",
}

// TestParseTOMLMatchesGoToml: parseTOML accepts exactly what go-toml does,
// with the same values, its order lists every key of every table once and,
// for errors, go-toml's message and position.
func TestParseTOMLMatchesGoToml(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "config", "*", "*.cfg"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstGoToml(t, string(data))
	}
	for _, s := range tomlSeeds {
		checkAgainstGoToml(t, s)
	}
}

func FuzzParseTOML(f *testing.F) {
	for _, s := range tomlSeeds {
		f.Add(s)
	}
	f.Fuzz(checkAgainstGoToml)
}

// checkAgainstGoToml compares parseTOML with go-toml's map decoding and
// checks that its key order lists exactly the keys of each table.
func checkAgainstGoToml(t *testing.T, doc string) {
	t.Helper()
	var want map[string]any
	wantErr := toml.Unmarshal([]byte(doc), &want)
	got, keys, err := parseTOML([]byte(doc))
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: parseTOML error %v, go-toml error %v", doc, err, wantErr)
	}
	if err != nil {
		var de *toml.DecodeError
		if !errors.As(wantErr, &de) {
			return
		}
		row, col := de.Position()
		msg := fmt.Sprintf("TOML syntax error at line %d, column %d: %s", row, col, strings.TrimPrefix(de.Error(), "toml: "))
		if err.Error() != msg {
			t.Fatalf("%q: error\n%v\nwant\n%s", doc, err, msg)
		}
		return
	}
	if g := plain(got); !reflect.DeepEqual(g, plain(want)) {
		t.Fatalf("%q: parsed\n%#v\nwant\n%#v", doc, g, plain(want))
	}
	walkTables("", got, func(p string, m map[string]any) {
		listed := map[string]bool{}
		for _, k := range keys[p] {
			if _, ok := m[k]; !ok || listed[k] {
				t.Fatalf("%q: order of %q lists %q wrongly: %q", doc, p, k, keys[p])
			}
			listed[k] = true
		}
		if len(listed) != len(m) {
			t.Fatalf("%q: order of %q is %q, keys %v", doc, p, keys[p], m)
		}
	})
}

// walkTables calls f for every table within v, found at path p.
func walkTables(p string, v any, f func(p string, m map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(p, v)
		for k, e := range v {
			walkTables(joinPath(p, k), e, f)
		}
	case []any:
		for i, e := range v {
			walkTables(indexPath(p, i), e, f)
		}
	}
}

// plain turns both trees into comparable values: maps, slices, scalars,
// dates and times as "date-time", NaN as "NaN".
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = plain(e)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
		return v
	case string, int64, bool:
		return v
	}
	return "date-time"
}

// TestParseTOMLKeyOrder: keys come in the order they first appear, whether
// set by headers, dotted keys, inline tables or arrays of tables.
func TestParseTOMLKeyOrder(t *testing.T) {
	doc := `z = 1
b.y = 2
b.a = {q = 1, c = [{m = 1, l = 2}, {k = 1, j = 2}]}
[[s]]
y = 1
x = 1
[s.h]
b = "1"
a = "2"
[[s]]
x = 1
y = 1
[s.h]
a = "2"
b = "1"
[[s.n]]
w = 1
v = 1
[b.d]
[a]
`
	root, keys, err := parseTOML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	walkTables("", root, func(p string, _ map[string]any) { got = append(got, p+": "+strings.Join(keys[p], " ")) })
	slices.Sort(got)
	want := []string{
		": z b s a", "b: y a d", "b.a: q c", "b.a.c[0]: m l", "b.a.c[1]: k j", "b.d: ",
		"s[0]: y x h", "s[0].h: b a", "s[1]: x y h n", "s[1].h: a b", "s[1].n[0]: w v", "a: ",
	}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("key order:\n%q\nwant\n%q", got, want)
	}
}
