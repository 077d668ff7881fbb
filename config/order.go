package config

import (
	"slices"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyOrder maps the TOML path of every table of a document (as formatted by
// joinPath and indexPath, "" for the root) to its keys in document order.
//
// go-toml decodes tables into Go maps, which forget the order of keys. The
// order matters for http_headers (headers are sent in file order) and makes
// warnings deterministic, so it is recovered by a second, light pass over the
// document with go-toml's streaming parser (package unstable): it follows
// table headers, array-of-tables headers, dotted keys, inline tables and
// arrays, and records each key the first time it is seen under its parent.
// The pass runs only after go-toml accepted the document, so it does not
// validate anything itself.
type keyOrder map[string][]string

// recordKeyOrder builds the keyOrder of a document that go-toml has already
// decoded successfully. On a parser error it returns what it collected so
// far; callers fall back to sorted keys for tables it does not know.
func recordKeyOrder(data []byte) keyOrder {
	r := orderRecorder{
		order:  keyOrder{},
		seen:   map[string]bool{},
		arrays: map[string]int{},
	}
	var p unstable.Parser
	p.Reset(data)
	current := ""
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table:
			current = r.header(expr, false)
		case unstable.ArrayTable:
			current = r.header(expr, true)
		case unstable.KeyValue:
			r.keyValue(current, expr)
		default:
		}
	}
	return r.order
}

// orderRecorder is the state of recordKeyOrder.
type orderRecorder struct {
	order keyOrder
	// seen holds "parent\x00key" for every recorded key.
	seen map[string]bool
	// arrays counts the elements of every array of tables ([[x]] headers),
	// keyed by the array's path.
	arrays map[string]int
}

// add records key under parent (once) and returns the key's path.
func (r *orderRecorder) add(parent, key string) string {
	id := parent + "\x00" + key
	if !r.seen[id] {
		r.seen[id] = true
		r.order[parent] = append(r.order[parent], key)
	}
	return joinPath(parent, key)
}

// header handles a [a.b.c] or [[a.b.c]] header and returns the path of the
// table it opens. A key naming an array of tables designates its last
// element, as in TOML.
func (r *orderRecorder) header(expr *unstable.Node, array bool) string {
	var keys []string
	it := expr.Key()
	for it.Next() {
		keys = append(keys, string(it.Node().Data))
	}
	path := ""
	for i, k := range keys {
		path = r.add(path, k)
		if array && i == len(keys)-1 {
			n := r.arrays[path]
			r.arrays[path] = n + 1
			path = indexPath(path, n)
		} else if n, ok := r.arrays[path]; ok && n > 0 {
			path = indexPath(path, n-1)
		}
	}
	return path
}

// keyValue handles a (possibly dotted) key = value under the table at parent.
func (r *orderRecorder) keyValue(parent string, expr *unstable.Node) {
	path := parent
	it := expr.Key()
	for it.Next() {
		path = r.add(path, string(it.Node().Data))
	}
	r.value(path, expr.Value())
}

// value descends into inline tables and arrays found at path.
func (r *orderRecorder) value(path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if child := it.Node(); child.Kind == unstable.KeyValue {
				r.keyValue(path, child)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			child := it.Node()
			if child.Kind == unstable.Comment {
				continue
			}
			r.value(indexPath(path, i), child)
			i++
		}
	default:
	}
}

// keys returns the keys of the table m found at path, in document order when
// known; keys the recorder did not see (none in practice) follow, sorted.
func (o keyOrder) keys(path string, m map[string]any) []string {
	out := make([]string, 0, len(m))
	done := make(map[string]bool, len(m))
	for _, k := range o[path] {
		if _, ok := m[k]; ok && !done[k] {
			done[k] = true
			out = append(out, k)
		}
	}
	if len(out) == len(m) {
		return out
	}
	var rest []string
	for k := range m {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// joinPath appends a key to a TOML path. Keys that are not bare TOML keys
// (letters, digits, '-' and '_') are quoted, so a path is never ambiguous:
// server."foo.bar" is the key "foo.bar" of table server.
func joinPath(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath appends an array index to a TOML path: path[i].
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// isBareKey reports whether key can be written unquoted in TOML.
func isBareKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
