package config

import (
	"errors"
	"fmt"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// table is a TOML table with its keys in document order. Values are as
// go-toml decodes them into an any: string, int64, float64, bool, a date or
// time type, []any (arrays, arrays of tables included) and, here, *table.
type table struct {
	keys []string
	vals map[string]any
}

// parseTOML parses a document into ordered tables. go-toml decodes the
// values, so a document loads exactly when go-toml accepts it; an error is
// an Errors value with one problem worded by go-toml, naming the line and
// column. A second pass of go-toml's parser only records key order.
func parseTOML(data []byte) (*table, error) {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			msg = fmt.Sprintf("TOML syntax error at line %d, column %d: %s", line, col, msg)
		}
		return nil, Errors{{Message: msg}}
	}
	return keyOrder(data).table("", m), nil
}

// order lists the keys of each table, by the table's path (as joinPath and
// indexPath write it), in the order they first appear in the document.
type order map[string][]string

// table returns m, the table at path p, and the tables within, ordered.
func (o order) table(p string, m map[string]any) *table {
	for k, v := range m {
		m[k] = o.value(joinPath(p, k), v)
	}
	return &table{keys: o[p], vals: m}
}

func (o order) value(p string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		return o.table(p, v)
	case []any:
		for i, e := range v {
			v[i] = o.value(indexPath(p, i), e)
		}
	}
	return v
}

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
