package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// table is a TOML table with its keys in document order. Values are string,
// int64, float64, bool, dateTime, []any (arrays, arrays of tables included)
// and *table.
type table struct {
	keys []string
	vals map[string]any
	// how tells how the table was defined, for TOML's rules against
	// defining anything twice: 'i' implicitly by the header of a sub-table,
	// 'h' by its own header, 'd' by a dotted key, 'v' inline (a value).
	how byte
	// aot marks the keys holding arrays of tables made by [[key]] headers.
	aot map[string]bool
}

// dateTime is a TOML date, time or date-time as written; no key takes one.
type dateTime string

func (t *table) set(k string, v any) {
	if t.vals == nil {
		t.vals = map[string]any{}
	}
	t.keys = append(t.keys, k)
	t.vals[k] = v
}

// parseTOML parses a document in one pass of go-toml's parser into ordered
// tables. It applies TOML's rules against defining a key or a table twice
// and converts scalars the way go-toml does, with go-toml's wording, so a
// document loads exactly when go-toml accepts it. An error is an Errors
// value with one problem naming the line and column.
func parseTOML(data []byte) (*table, error) {
	var p unstable.Parser
	p.Reset(data)
	root := &table{how: 'h'}
	cur := root
	dates, checked := false, false
	for p.NextExpression() {
		e := p.Expression()
		var err error
		switch e.Kind {
		case unstable.KeyValue:
			err = keyValue(cur, e, &dates)
		case unstable.Table, unstable.ArrayTable:
			cur, err = header(root, e)
		default:
		}
		if err != nil {
			it := e.Key()
			it.Next()
			return nil, syntaxError(data, int(it.Node().Raw.Offset), err)
		}
		// No key takes a date or a time: the first one found defers to
		// go-toml's verdict on the whole document, for its many checks of
		// dates, so that a file loads exactly when go-toml accepts it.
		if dates && !checked {
			checked = true
			var m map[string]any
			if err := toml.Unmarshal(data, &m); err != nil {
				return nil, syntaxError(data, 0, err)
			}
		}
	}
	if err := p.Error(); err != nil {
		return nil, syntaxError(data, len(data), err)
	}
	return root, nil
}

// syntaxError words err as a problem of the whole file, located where
// go-toml says, at the highlight of a parser error, else at off.
func syntaxError(data []byte, off int, err error) Errors {
	msg := err.Error()
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		msg = pe.Message
		if o := cap(data) - cap(pe.Highlight); pe.Highlight != nil && o >= 0 && o <= len(data) {
			off = o
		}
	}
	line, col := 1+bytes.Count(data[:off], []byte("\n")), off-bytes.LastIndexByte(data[:off], '\n')
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col = de.Position()
		msg = strings.TrimPrefix(msg, "toml: ")
	}
	return Errors{{Message: fmt.Sprintf("TOML syntax error at line %d, column %d: %s", line, col, msg)}}
}

// header returns the table opened by a [a.b] or [[a.b]] header.
func header(root *table, e *unstable.Node) (*table, error) {
	t := root
	it := e.Key()
	for it.Next() {
		k := string(it.Node().Data)
		v, ok := t.vals[k]
		x, _ := v.(*table)
		switch {
		case !it.IsLast():
			switch {
			case !ok:
				x = &table{how: 'i'}
				t.set(k, x)
			case t.aot[k]:
				arr := v.([]any)
				x = arr[len(arr)-1].(*table)
			case x == nil || x.how == 'v':
				return nil, fmt.Errorf("key %s already exists as a value", k)
			}
			t = x
			continue
		case e.Kind == unstable.ArrayTable:
			if ok && !t.aot[k] {
				return nil, fmt.Errorf("key %s already exists as a %s, but should be an array table", k, kindName(x))
			}
			n := &table{how: 'h'}
			if !ok {
				t.set(k, []any{n})
				if t.aot == nil {
					t.aot = map[string]bool{}
				}
				t.aot[k] = true
			} else {
				t.vals[k] = append(v.([]any), n)
			}
			return n, nil
		case !ok:
			x = &table{how: 'h'}
			t.set(k, x)
			return x, nil
		case t.aot[k]:
			return nil, fmt.Errorf("table %s already exists as an array of tables", k)
		case x != nil && x.how == 'i':
			x.how = 'h'
			return x, nil
		case x != nil && x.how == 'h':
			return nil, fmt.Errorf("table %s already exists", k)
		case x != nil && x.how == 'd':
			return nil, fmt.Errorf("table %s already exists as defined by a dotted key", k)
		}
		return nil, fmt.Errorf("key %s should be a table, not a value", k)
	}
	return t, nil
}

// kindName words what an existing key holds, as go-toml does.
func kindName(x *table) string {
	switch {
	case x == nil || x.how == 'v':
		return "value"
	case x.how == 'd':
		return "kv-table"
	}
	return "table"
}

// keyValue stores a (possibly dotted) key = value in t; dates tells whether
// a date or time was found.
func keyValue(t *table, e *unstable.Node, dates *bool) error {
	it := e.Key()
	for it.Next() {
		k := string(it.Node().Data)
		v, ok := t.vals[k]
		if it.IsLast() {
			if ok {
				return fmt.Errorf("key %s is already defined", k)
			}
			val, err := value(e.Value(), dates)
			if err == nil {
				t.set(k, val)
			}
			return err
		}
		x, _ := v.(*table)
		if !ok {
			x = &table{how: 'd'}
			t.set(k, x)
		} else if x == nil || x.how != 'd' {
			return fmt.Errorf("key %s is already defined", k)
		}
		t = x
	}
	return nil
}

// value converts a value node.
func value(n *unstable.Node, dates *bool) (any, error) {
	b := n.Data
	switch n.Kind {
	case unstable.String:
		return string(b), nil
	case unstable.Bool:
		return b[0] == 't', nil
	case unstable.Integer:
		// The parser has checked the digits, signs and prefixes.
		s := strings.ReplaceAll(string(b), "_", "")
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			base := map[string]string{"0x": "hexadecimal", "0o": "octal", "0b": "binary"}[s[:min(len(s), 2)]]
			return nil, unstable.NewParserError(b, "%s number is too large to fit in a 64-bit signed integer", cmp.Or(base, "decimal"))
		}
		return i, nil
	case unstable.Float:
		s := strings.ReplaceAll(string(b), "_", "")
		switch strings.TrimLeft(s, "+-") {
		case "inf":
			return math.Inf(1 - 2*strings.Count(s, "-")), nil
		case "nan":
			return math.NaN(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, unstable.NewParserError(b, "unable to parse float: %s", err)
		}
		return f, nil
	case unstable.Array, unstable.InlineTable:
		var arr []any
		t := &table{how: 'd'}
		it := n.Children()
		for it.Next() {
			var err error
			switch c := it.Node(); {
			case n.Kind == unstable.InlineTable:
				err = keyValue(t, c, dates)
			case c.Kind != unstable.Comment:
				var v any
				v, err = value(c, dates)
				arr = append(arr, v)
			}
			if err != nil {
				return nil, err
			}
		}
		if t.how = 'v'; n.Kind == unstable.InlineTable {
			return t, nil
		}
		return append([]any{}, arr...), nil
	}
	*dates = true
	return dateTime(b), nil
}
