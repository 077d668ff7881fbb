package config

import (
	"errors"
	"fmt"
	"math"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// decoder converts the generic document produced by go-toml into a Config,
// collecting every problem and warning on the way.
type decoder struct {
	order    keyOrder
	env      envState
	problems Errors
	warnings []Warning
}

// fail records a problem at path.
func (d *decoder) fail(path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// warn records a warning at path.
func (d *decoder) warn(path, format string, args ...any) {
	d.warnings = append(d.warnings, Warning{Path: path, Message: fmt.Sprintf(format, args...)})
}

// table is one TOML table being converted. Every key read through its
// accessors is marked as known; done reports the others as warnings.
type table struct {
	d    *decoder
	path string
	m    map[string]any
	used map[string]bool
}

// table wraps the decoded TOML table m found at path.
func (d *decoder) table(path string, m map[string]any) *table {
	return &table{d: d, path: path, m: m, used: map[string]bool{}}
}

// at returns the TOML path of key in this table.
func (t *table) at(key string) string { return joinPath(t.path, key) }

// lookup returns the raw value of key and marks the key as known. A
// missing required key is recorded as a problem.
func (t *table) lookup(key string, required bool) (any, bool) {
	t.used[key] = true
	v, ok := t.m[key]
	if !ok && required {
		t.d.fail(t.at(key), "required key missing")
	}
	return v, ok
}

// has reports whether key is present, and marks it as known.
func (t *table) has(key string) bool {
	t.used[key] = true
	_, ok := t.m[key]
	return ok
}

// done reports every key of the table that no accessor read as an unknown
// key or table (a warning, never an error), in document order. When a known
// key of the same table is close enough to be the intended one (see
// suggestKey), the warning names it: unknown key (did you mean "x"?).
func (t *table) done() {
	var known []string
	for k := range t.used {
		known = append(known, k)
	}
	for _, k := range t.d.order.keys(t.path, t.m) {
		if t.used[k] {
			continue
		}
		what := "key"
		switch v := t.m[k].(type) {
		case map[string]any:
			what = "table"
		case []any:
			if len(v) > 0 && isTable(v[0]) {
				what = "table"
			}
		}
		if s := suggestKey(k, known); s != "" {
			t.d.warn(t.at(k), "unknown %s (did you mean %q?)", what, s)
		} else {
			t.d.warn(t.at(k), "unknown %s, ignored", what)
		}
	}
}

// isTable reports whether v is a decoded TOML table.
func isTable(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// typeName names the TOML type of a decoded value, for error messages.
func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case map[string]any:
		return "table"
	case []any:
		if len(v) > 0 && isTable(v[0]) {
			return "array of tables"
		}
		return "array"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "date-time"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sub returns the sub-table at key. A present value that is not a table is
// a problem; a missing one is a problem only when required.
func (t *table) sub(key string, required bool) (*table, bool) {
	v, ok := t.lookup(key, false)
	if !ok {
		if required {
			t.d.fail(t.at(key), "required table missing")
		}
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.d.fail(t.at(key), "must be a table (got %s)", typeName(v))
		return nil, false
	}
	return t.d.table(t.at(key), m), true
}

// subArray returns the array of tables at key ([[key]] sections, or an
// array of inline tables). ok is false when the key is absent or invalid;
// elements that are not tables are reported and skipped.
func (t *table) subArray(key string, required bool) ([]*table, bool) {
	v, ok := t.lookup(key, required)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.d.fail(t.at(key), "must be an array of tables (got %s)", typeName(v))
		return nil, false
	}
	out := make([]*table, 0, len(arr))
	for i, e := range arr {
		p := indexPath(t.at(key), i)
		m, ok := e.(map[string]any)
		if !ok {
			t.d.fail(p, "must be a table (got %s)", typeName(e))
			continue
		}
		out = append(out, t.d.table(p, m))
	}
	return out, true
}

// str reads a string. ok is true only when the key is present and valid.
func (t *table) str(key string, required bool) (string, bool) {
	v, ok := t.lookup(key, required)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.d.fail(t.at(key), "must be a string (got %s)", typeName(v))
		return "", false
	}
	return s, t.d.checkString(t.at(key), s)
}

// strDefault reads an optional string, returning def when absent or invalid.
func (t *table) strDefault(key, def string) string {
	if s, ok := t.str(key, false); ok {
		return s
	}
	return def
}

// strPtr reads an optional string; nil when absent or invalid.
func (t *table) strPtr(key string) *string {
	if s, ok := t.str(key, false); ok {
		return &s
	}
	return nil
}

// strings reads an array of strings.
func (t *table) strings(key string, required bool) ([]string, bool) {
	v, ok := t.lookup(key, required)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.d.fail(t.at(key), "must be an array of strings (got %s)", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	valid := true
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.d.fail(indexPath(t.at(key), i), "must be a string (got %s)", typeName(e))
			valid = false
			continue
		}
		if !t.d.checkString(indexPath(t.at(key), i), s) {
			valid = false
		}
		out = append(out, s)
	}
	return out, valid
}

// boolean reads a boolean, returning def when absent or invalid.
func (t *table) boolean(key string, def bool) bool {
	v, ok := t.lookup(key, false)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		t.d.fail(t.at(key), "must be a boolean, true or false (got %s)", typeName(v))
		return def
	}
	return b
}

// Integer widths of the original's unsigned fields.
const (
	maxU16 = math.MaxUint16
	maxU32 = math.MaxUint32
	// maxU64 is the largest value a TOML integer can hold (TOML integers
	// are signed 64-bit); the original's u64 fields accept all of them.
	maxU64 = math.MaxInt64
)

// uint reads an unsigned integer of at most max. Floats, negative values and
// values above max are problems naming the key.
func (t *table) uint(key string, max uint64, required bool) (uint64, bool) {
	v, ok := t.lookup(key, required)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		if n < 0 {
			t.d.fail(t.at(key), "must be a non-negative integer (got %d)", n)
			return 0, false
		}
		if uint64(n) > max {
			t.d.fail(t.at(key), "out of range: must be at most %d (got %d)", max, n)
			return 0, false
		}
		return uint64(n), true
	case float64:
		t.d.fail(t.at(key), "must be an integer, not a float (got %v)", n)
	default:
		t.d.fail(t.at(key), "must be an integer (got %s)", typeName(v))
	}
	return 0, false
}

// uintDefault reads an optional unsigned integer as an int, def when absent
// or invalid.
func (t *table) uintDefault(key string, max uint64, def int) int {
	if n, ok := t.uint(key, max, false); ok {
		return int(n)
	}
	return def
}

// uint32Ptr reads an optional u32; nil when absent or invalid.
func (t *table) uint32Ptr(key string) *uint32 {
	if n, ok := t.uint(key, maxU32, false); ok {
		v := uint32(n)
		return &v
	}
	return nil
}

// int64Ptr reads an optional signed 64-bit integer; nil when absent or
// invalid.
func (t *table) int64Ptr(key string) *int64 {
	v, ok := t.lookup(key, false)
	if !ok {
		return nil
	}
	switch n := v.(type) {
	case int64:
		return &n
	case float64:
		t.d.fail(t.at(key), "must be an integer, not a float (got %v)", n)
	default:
		t.d.fail(t.at(key), "must be an integer (got %s)", typeName(v))
	}
	return nil
}

// duration reads an unsigned integer counted in unit (time.Second or
// time.Millisecond). ok is false when absent or invalid.
func (t *table) duration(key string, unit time.Duration, required bool) (time.Duration, bool) {
	n, ok := t.uint(key, maxU64, required)
	if !ok {
		return 0, false
	}
	if n > uint64(math.MaxInt64/int64(unit)) {
		t.d.fail(t.at(key), "out of range: must be at most %d (got %d)", math.MaxInt64/int64(unit), n)
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// durationDefault reads an optional duration, def when absent or invalid.
func (t *table) durationDefault(key string, unit, def time.Duration) time.Duration {
	if v, ok := t.duration(key, unit, false); ok {
		return v
	}
	return def
}

// float32 reads an f32; TOML integers are accepted as well ("1" is 1.0).
func (t *table) float32(key string, def float32) float32 {
	v, ok := t.lookup(key, false)
	if !ok {
		return def
	}
	switch n := v.(type) {
	case float64:
		if !math.IsInf(n, 0) && math.Abs(n) > math.MaxFloat32 {
			t.d.fail(t.at(key), "out of range for a 32-bit float (got %v)", n)
			return def
		}
		return float32(n)
	case int64:
		return float32(n)
	default:
		t.d.fail(t.at(key), "must be a number (got %s)", typeName(v))
		return def
	}
}

// url reads a URL-typed string and returns its normalised serialisation.
func (t *table) url(key string, required bool) (string, bool) {
	s, ok := t.str(key, required)
	if !ok {
		return "", false
	}
	u, err := normalizeURL(s)
	if err != nil {
		var ue *urlError
		if isSecret(t.at(key)) && errors.As(err, &ue) {
			t.d.fail(t.at(key), "%s", ue.redacted())
		} else {
			t.d.fail(t.at(key), "%v", err)
		}
		return "", false
	}
	return u, true
}
