package config

import (
	"errors"
	"fmt"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// parseTOML parses a document as go-toml decodes it into an any, so that a
// document loads exactly when go-toml accepts it, and returns it with the
// order of its keys. Values are string, int64, float64, bool, a date or time
// type, []any (arrays, arrays of tables included) and map[string]any. An
// error is an Errors value with one problem worded by go-toml, naming the
// line and column.
func parseTOML(data []byte) (map[string]any, order, error) {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			msg = fmt.Sprintf("TOML syntax error at line %d, column %d: %s", line, col, msg)
		}
		return nil, nil, Errors{{Message: msg}}
	}
	// One pass of go-toml's parser, on a document it has accepted, records
	// the key order: a table header sets the current table, and inside an
	// array of tables it names the array's last element.
	o, arrays, cur := order{}, map[string]int{}, ""
	var parser unstable.Parser
	parser.Reset(data)
	for parser.NextExpression() {
		switch e := parser.Expression(); e.Kind {
		case unstable.KeyValue:
			o.walk(cur, e)
		case unstable.Table, unstable.ArrayTable:
			cur = ""
			for it := e.Key(); it.Next(); {
				cur = o.add(cur, string(it.Node().Data))
				if it.IsLast() && e.Kind == unstable.ArrayTable {
					arrays[cur]++
				}
				if n := arrays[cur]; n > 0 {
					cur = indexPath(cur, n-1)
				}
			}
		}
	}
	return m, o, nil
}

// order lists the keys of each table, by the table's path (as joinPath and
// indexPath write it), in the order they first appear in the document.
type order map[string][]string

// add records the key k of the table at parent, once, and returns its path;
// every key seen gets an entry, nil while it holds no key.
func (o order) add(parent, k string) string {
	p := joinPath(parent, k)
	if _, seen := o[p]; !seen {
		o[p] = nil
		o[parent] = append(o[parent], k)
	}
	return p
}

// walk records the key of a key-value node n at path p, or the keys in the
// value n, then those of its inline tables, arrays included.
func (o order) walk(p string, n *unstable.Node) {
	if n.Kind == unstable.KeyValue {
		for it := n.Key(); it.Next(); {
			p = o.add(p, string(it.Node().Data))
		}
		n = n.Value()
	}
	i := 0
	for it := n.Children(); it.Next(); {
		if c := it.Node(); n.Kind == unstable.InlineTable {
			o.walk(p, c)
		} else if n.Kind == unstable.Array && c.Kind != unstable.Comment {
			o.walk(indexPath(p, i), c)
			i++
		}
	}
}
