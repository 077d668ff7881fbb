package config

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// Notifier is the schema of one [notify.<name>] table, declared by the
// package that implements the notifier: New returns a fresh value to decode
// the table into, a pointer to a tagged struct like config's own tables.
// Load stores it in Notify.Notifiers under Name.
type Notifier struct {
	Name string
	New  func() any
}

// decoder assigns a document's tables onto the tagged structs of the schema,
// collecting every issue with its path.
type decoder struct {
	// skipped holds the environment variables that are set but never
	// substituted (see Interpolate), to explain a ${NAME} left in a value.
	skipped   map[string]bool
	keys      order // the keys of each table of the document, in order
	notifiers []Notifier
	issues    []Issue
	ok        map[string]bool // paths of the keys that decoded without a problem
}

func (d *decoder) add(path string, warning bool, format string, args ...any) {
	d.issues = append(d.issues, Issue{Path: path, Message: fmt.Sprintf(format, args...), Warning: warning})
}

func (d *decoder) fail(path, format string, args ...any) { d.add(path, false, format, args...) }
func (d *decoder) warn(path, format string, args ...any) { d.add(path, true, format, args...) }

// field is one key of a schema struct: `toml:"key,options"` and an optional
// `default:"value"` (in the field's unit).
type field struct {
	index          []int
	key, opts, def string
}

func (f field) has(opt string) bool { return strings.Contains(f.opts+",", ","+opt+",") }

// fieldsOf lists the tagged fields of a struct type, those of an embedded
// struct without a tag included.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for _, sf := range reflect.VisibleFields(t) {
		if tag, ok := sf.Tag.Lookup("toml"); ok && tag != "-" && sf.IsExported() {
			key, opts, _ := strings.Cut(tag, ",")
			out = append(out, field{sf.Index, key, "," + opts, sf.Tag.Get("default")})
		}
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	headersType  = reflect.TypeFor[[]Header]()
	regexpType   = reflect.TypeFor[regexp.Regexp]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isText reports whether values of type t decode through UnmarshalText.
func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textType) }

// isTable reports whether values of type t decode from a table.
func isTable(t reflect.Type) bool { return t.Kind() == reflect.Struct && !isText(t) }

// setDefaults gives the fields of the struct v, and of its sub-tables, their
// default values.
func (d *decoder) setDefaults(v reflect.Value) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		if isTable(fv.Type()) {
			d.setDefaults(fv)
		} else if f.def != "" {
			// A default is a TOML value, or else a bare string.
			def := map[string]any{"v": f.def}
			_ = toml.Unmarshal([]byte("v = "+f.def), &def)
			d.value("", def["v"], fv, f)
		}
	}
}

// decodeStruct decodes the table t found at path into the struct v: defaults
// first, then each field from its key, then the struct's Check method; the
// table's issues so far are put in field order. Then comes a warning for
// every key no field reads, in document order, naming the closest known key
// when one is likely meant.
func (d *decoder) decodeStruct(path string, t map[string]any, v reflect.Value) {
	start := len(d.issues)
	d.setDefaults(v)
	var known []string // the keys of the fields, in field order
	guard, _ := v.Addr().Interface().(interface{ refuse(key string) string })
	for _, f := range fieldsOf(v.Type()) {
		fv, p := v.FieldByIndex(f.index), joinPath(path, f.key)
		raw, present := t[f.key]
		switch {
		case f.has("notifiers"):
			known = append(known, d.decodeNotifiers(path, t, fv)...)
			continue
		case present && guard != nil && guard.refuse(f.key) != "":
			d.fail(p, "%s", guard.refuse(f.key))
		case present:
			d.ok[p] = d.value(p, raw, fv, f)
		case f.has("required") && isTable(fv.Type()):
			d.fail(p, "required table missing")
		case f.has("required"):
			d.fail(p, "required key missing")
		}
		known = append(known, f.key)
	}
	if c, ok := v.Addr().Interface().(interface{ Check(*Report) }); ok {
		c.Check(&Report{d: d, path: path})
	}
	rank := func(i Issue) int { // the field of the key the path goes through
		rel := strings.TrimPrefix(i.Path, path+".")
		return slices.Index(known, rel[:strings.IndexAny(rel+"[", ".[")])
	}
	slices.SortStableFunc(d.issues[start:], func(a, b Issue) int { return rank(a) - rank(b) })
	for _, k := range d.keys[path] {
		if slices.Contains(known, k) {
			continue
		}
		what, hint := "key", ", ignored"
		if strings.Contains(typeName(t[k]), "table") {
			what = "table"
		}
		if s := suggestKey(k, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.warn(joinPath(path, k), "unknown %s%s", what, hint)
	}
}

// decodeNotifiers decodes the [notify.<name>] tables the schema knows into v
// (a map[string]any), in schema order, and returns their names.
func (d *decoder) decodeNotifiers(path string, t map[string]any, v reflect.Value) (names []string) {
	for _, n := range d.notifiers {
		names = append(names, n.Name)
		if raw, ok := t[n.Name]; ok {
			if section := n.New(); d.value(joinPath(path, n.Name), raw, reflect.ValueOf(section).Elem(), field{}) {
				if v.IsNil() {
					v.Set(reflect.ValueOf(map[string]any{}))
				}
				v.SetMapIndex(reflect.ValueOf(n.Name), reflect.ValueOf(section))
			}
		}
	}
	return names
}

// value decodes the TOML value raw found at p into v and reports whether it
// is valid; every problem is recorded with its path.
func (d *decoder) value(p string, raw any, v reflect.Value, f field) bool {
	t := v.Type()
	switch k := t.Kind(); {
	case k == reflect.Pointer:
		n := reflect.New(t.Elem())
		ok := d.value(p, raw, n.Elem(), f)
		if ok {
			v.Set(n)
		}
		return ok
	case k == reflect.Interface:
		v.Set(reflect.ValueOf(raw))
		return true
	case t == headersType:
		return d.headers(p, raw, v)
	case isTable(t):
		tbl, ok := want[map[string]any](d, p, raw, "a table")
		if ok {
			d.decodeStruct(p, tbl, v)
		}
		return ok
	case k == reflect.Slice && isTable(t.Elem()):
		return d.tables(p, raw, v)
	case k == reflect.Slice:
		return d.strings(p, raw, v, f)
	case k == reflect.Bool:
		b, ok := want[bool](d, p, raw, "a boolean, true or false")
		if ok {
			v.SetBool(b)
		}
		return ok
	case k == reflect.Float32, k == reflect.Float64:
		x, isFloat := raw.(float64)
		n, isInt := raw.(int64)
		switch {
		case isInt:
			x = float64(n)
		case !isFloat:
			d.fail(p, "must be a number (got %s)", typeName(raw))
			return false
		case v.OverflowFloat(x):
			d.fail(p, "out of range for a %d-bit float (got %v)", t.Bits(), x)
			return false
		}
		v.SetFloat(x)
		return true
	case k == reflect.Int, k == reflect.Int64, k == reflect.Uint32:
		return d.integer(p, raw, v, f)
	}
	s, ok := want[string](d, p, raw, "a string")
	return ok && d.checkString(p, s, f.has("secret")) && d.text(p, s, v, f)
}

// want returns raw as a T, or records that the value at p must be what.
func want[T any](d *decoder, p string, raw any, what string) (T, bool) {
	x, ok := raw.(T)
	if !ok {
		d.fail(p, "must be %s (got %s)", what, typeName(raw))
	}
	return x, ok
}

// integer decodes an integer: a u64 of the original (int, or a duration in
// seconds or, with ms, milliseconds), a u16, a u32 or a signed int64.
func (d *decoder) integer(p string, raw any, v reflect.Value, f field) bool {
	unit, limit := int64(1), int64(math.MaxInt64)
	switch {
	case v.Type() == durationType && f.has("ms"):
		unit = int64(time.Millisecond)
	case v.Type() == durationType:
		unit = int64(time.Second)
	case f.has("u16"):
		limit = math.MaxUint16
	case v.Kind() == reflect.Uint32:
		limit = math.MaxUint32
	}
	n, isInt := raw.(int64)
	switch x, isFloat := raw.(float64); {
	case isFloat:
		d.fail(p, "must be an integer, not a float (got %v)", x)
	case !isInt:
		d.fail(p, "must be an integer (got %s)", typeName(raw))
	case n < 0 && (v.Kind() != reflect.Int64 || unit > 1):
		d.fail(p, "must be a non-negative integer (got %d)", n)
	case n > limit/unit:
		d.fail(p, "out of range: must be at most %d (got %d)", limit/unit, n)
	case v.CanUint():
		v.SetUint(uint64(n))
		return true
	default:
		v.SetInt(n * unit)
		return true
	}
	return false
}

// text stores a string in v: through UnmarshalText for the types that have
// it, normalised for a url field.
func (d *decoder) text(p, s string, v reflect.Value, f field) bool {
	var err error
	switch {
	case isText(v.Type()):
		err = v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
		if err != nil && v.Type() == regexpType {
			err = fmt.Errorf("invalid regular expression: %w", err)
		}
	case f.has("url"):
		if s, err = normalizeURL(s); f.has("secret") && errors.Unwrap(err) != nil {
			err = fmt.Errorf("invalid URL (value not shown): %w", errors.Unwrap(err))
		}
	}
	if err != nil {
		d.fail(p, "%v", err)
	} else if !isText(v.Type()) {
		v.SetString(s)
	}
	return err == nil
}

// strings decodes an array of strings into a slice of strings or of a type
// with UnmarshalText, reporting every element's problem.
func (d *decoder) strings(p string, raw any, v reflect.Value, f field) bool {
	arr, ok := want[[]any](d, p, raw, "an array of strings")
	v.Set(reflect.MakeSlice(v.Type(), len(arr), len(arr)))
	for i, e := range arr {
		ep := indexPath(p, i)
		s, isString := want[string](d, ep, e, "a string")
		ok = isString && d.checkString(ep, s, f.has("secret")) && d.text(ep, s, v.Index(i), f) && ok
	}
	return ok
}

// tables decodes an array of tables into a slice of structs. An element
// that is not a table stays zero, so indexes keep matching the file.
func (d *decoder) tables(p string, raw any, v reflect.Value) bool {
	arr, ok := want[[]any](d, p, raw, "an array of tables")
	v.Set(reflect.MakeSlice(v.Type(), len(arr), len(arr)))
	for i, e := range arr {
		if t, isTable := want[map[string]any](d, indexPath(p, i), e, "a table"); isTable {
			d.decodeStruct(indexPath(p, i), t, v.Index(i))
		}
	}
	return ok
}

// headers decodes a node's http_headers table in file order; a header whose
// value is an array of strings is repeated once per value.
func (d *decoder) headers(p string, raw any, v reflect.Value) bool {
	t, ok := want[map[string]any](d, p, raw, "a table of header names to strings or arrays of strings")
	var out []Header
	for _, name := range d.keys[p] {
		hp, val := joinPath(p, name), t[name]
		values, isArray := val.([]any)
		switch _, isString := val.(string); {
		case !validHeaderName(name):
			d.fail(hp, "invalid HTTP header name %q", name)
			continue
		case isString:
			values = []any{val}
		case !isArray:
			d.fail(hp, "must be a string or an array of strings (got %s)", typeName(val))
		}
		for i, e := range values {
			ep := hp
			if isArray {
				ep = indexPath(hp, i)
			}
			switch s, ok := want[string](d, ep, e, "a string"); {
			case !ok:
			case !validHeaderValue(s):
				d.fail(ep, "invalid HTTP header value %q (control characters such as CR, LF or NUL are not allowed)", s)
			default:
				d.checkString(ep, s, false)
				out = append(out, Header{Name: name, Value: s})
			}
		}
	}
	if ok {
		v.Set(reflect.ValueOf(out))
	}
	return ok
}

// typeName names the TOML type of a value, for messages.
func typeName(v any) string {
	if a, ok := v.([]any); ok && len(a) > 0 {
		if _, ok := a[0].(map[string]any); ok {
			return "array of tables"
		}
	}
	return cmp.Or(map[reflect.Kind]string{reflect.Slice: "array", reflect.Map: "table", reflect.String: "string",
		reflect.Float64: "float", reflect.Bool: "boolean", reflect.Int64: "integer"}[reflect.TypeOf(v).Kind()], "date-time")
}

// Report is given to the Check method of a schema struct once its table is
// decoded. Warn and Fail record an issue at a key of that table ("key", or
// "key[2]" and "key[2].sub" inside arrays). They record nothing for a key
// that is absent or did not decode, so checks only speak of values the file
// gave that are otherwise valid.
type Report struct {
	d    *decoder
	path string
}

// Warn records a warning at key.
func (r *Report) Warn(key, format string, args ...any) { r.add(key, true, format, args) }

// Fail records a problem at key.
func (r *Report) Fail(key, format string, args ...any) { r.add(key, false, format, args) }

func (r *Report) add(key string, warning bool, format string, args []any) {
	if r.ok(key) {
		r.d.add(r.path+"."+key, warning, format, args...)
	}
}

// ok reports whether key is present and decoded without a problem.
func (r *Report) ok(key string) bool {
	if i := strings.LastIndexByte(key, '['); strings.HasSuffix(key, "]") {
		key = key[:i]
	}
	return r.d.ok[r.path+"."+key]
}

// joinPath appends a key to a TOML path, quoted unless it is a bare key:
// server."foo.bar" is the key "foo.bar" of table server.
func joinPath(parent, key string) string {
	if key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath appends an array index to a TOML path: path[i].
func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// suggestKey returns the known key closest to an unknown one, or "" when
// none is close enough to be a likely typo. Keys are compared without
// regard to case, with '-' and '_' treated alike, by optimal string
// alignment distance (Levenshtein plus transposition of two adjacent
// characters). A key is suggested when its distance is at most 1 for
// unknown keys of up to 4 characters, 2 up to 8 characters and 3 beyond,
// and smaller than the length of the shorter key; the closest one wins, ties
// going to the alphabetically first.
func suggestKey(unknown string, known []string) string {
	fold := func(k string) string { return strings.ReplaceAll(strings.ToLower(k), "-", "_") }
	u := fold(unknown)
	best, bestDist := "", min(3, (len([]rune(u))+3)/4)+1
	for _, k := range known {
		f := fold(k)
		d := osaDistance(u, f)
		if k != unknown && d < min(len([]rune(u)), len([]rune(f))) && (d < bestDist || d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

// osaDistance is the optimal string alignment distance between a and b
// (counted in runes): insertions, deletions, substitutions and
// transpositions of adjacent runes each cost 1.
func osaDistance(sa, sb string) int {
	a, b := []rune(sa), []rune(sb)
	// d[i][j] is the distance between the first i runes of a and j of b.
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		for j := range d[i] {
			if i == 0 || j == 0 {
				d[i][j] = i + j
				continue
			}
			sub := d[i-1][j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, sub)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
