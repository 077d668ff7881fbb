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
	return m, keyOrder(data), nil
}

// order lists the keys of each table, by the table's path (as joinPath and
// indexPath write it), in the order they first appear in the document.
type order map[string][]string

// keyOrder walks a document go-toml has accepted and records its key order.
func keyOrder(data []byte) order {
	o, seen, arrays := order{}, map[string]bool{}, map[string]int{}
	add := func(parent, k string) string {
		p := joinPath(parent, k)
		if !seen[p] {
			seen[p] = true
			o[parent] = append(o[parent], k)
		}
		return p
	}
	var keyValue func(p string, e *unstable.Node)
	var value func(p string, v *unstable.Node)
	keyValue = func(p string, e *unstable.Node) {
		for it := e.Key(); it.Next(); {
			p = add(p, string(it.Node().Data))
		}
		value(p, e.Value())
	}
	value = func(p string, v *unstable.Node) {
		i := 0
		for it := v.Children(); it.Next(); {
			switch c := it.Node(); {
			case v.Kind == unstable.InlineTable:
				keyValue(p, c)
			case v.Kind == unstable.Array && c.Kind != unstable.Comment:
				value(indexPath(p, i), c)
				i++
			}
		}
	}
	var parser unstable.Parser
	parser.Reset(data)
	cur := ""
	for parser.NextExpression() {
		switch e := parser.Expression(); e.Kind {
		case unstable.KeyValue:
			keyValue(cur, e)
		case unstable.Table, unstable.ArrayTable:
			cur = ""
			for it := e.Key(); it.Next(); {
				cur = add(cur, string(it.Node().Data))
				if it.IsLast() && e.Kind == unstable.ArrayTable {
					arrays[cur]++
				}
				// Inside an array of tables, a header names its last element.
				if n := arrays[cur]; n > 0 {
					cur = indexPath(cur, n-1)
				}
			}
		}
	}
	return o
}
