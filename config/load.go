package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Load reads the configuration file at path and decodes it into a Config
// with Decode. An unreadable file yields a plain error.
func Load(path string, environ []string, notifiers ...Notifier) (*Config, []Issue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	cfg := &Config{}
	warnings, err := Decode(data, environ, cfg, notifiers...)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// Decode substitutes the ${NAME} references of data from environ
// (os.Environ format, see Interpolate), parses it as TOML and assigns it
// onto dst, a pointer to a tagged struct (see schema.go): *Config for a
// Vigil configuration file; other formats that share its conventions (the
// Vigil Local agent's) declare their own root struct. notifiers declare the
// [notify.<name>] tables; any other one is an unknown table.
//
// All problems are collected: on failure the error is an Errors value with
// one Issue per offending key, and dst must not be used. Problems are what
// the original refuses at start (spec §2.11), plus an unresolved ${NAME} in
// a secret. Warnings (returned even when decoding fails) never fail: unknown
// keys and tables, an unresolved ${NAME} elsewhere, a secret equal to a
// published example, values the original accepts that cannot work. Both
// come in a fixed order: tables in schema order, depth first; within a
// table, issues in field order (an id repeated in an array of tables comes
// after that array), then unknown keys in file order.
func Decode(data []byte, environ []string, dst any, notifiers ...Notifier) ([]Issue, error) {
	// A UTF-8 byte-order mark is harmless text to editors; tolerate it.
	data = bytes.TrimPrefix(Interpolate(data, environ), []byte("\xef\xbb\xbf"))
	root, keys, err := parseTOML(data)
	if err != nil {
		return nil, err
	}
	_, skipped := envVars(environ)
	d := &decoder{skipped: skipped, keys: keys, notifiers: notifiers, ok: map[string]bool{}}
	d.decodeStruct("", root, reflect.ValueOf(dst).Elem())
	var warnings []Issue
	var problems Errors
	for _, i := range d.issues {
		if i.Warning {
			warnings = append(warnings, i)
		} else {
			problems = append(problems, i)
		}
	}
	if len(problems) > 0 {
		return warnings, problems
	}
	return warnings, nil
}

// Issue is one remark about a configuration file: the TOML path of the key
// or table it concerns, with zero-based array indexes
// ("probe.service[1].node[0].replicas[2]"; empty for the whole file, e.g. a
// TOML syntax error) and the reason. A warning never fails a load: unknown
// keys and tables, and values the original accepts that cannot work.
type Issue struct {
	Path, Message string
	Warning       bool
}

// String formats the issue as "path: message", or just the message when the
// path is empty.
func (i Issue) String() string {
	if i.Path == "" {
		return i.Message
	}
	return i.Path + ": " + i.Message
}

// Errors is every problem found in a configuration file: Load and Parse
// report them all at once, so an operator can fix them in one go. Use
// errors.As to retrieve it from the error they return.
type Errors []Issue

// Error joins the problems, one "path: message" per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

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
