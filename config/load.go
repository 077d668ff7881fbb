package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// Load reads the configuration file at path and decodes it with Parse.
// environ is the process environment in os.Environ format, used for ${NAME}
// interpolation. An unreadable file yields a plain error; problems inside the
// file yield an Errors value listing every one of them. Warnings (unknown keys
// and tables) are returned even when loading fails.
func Load(path string, environ []string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	return Parse(data, filepath.Dir(path), environ)
}

// Parse decodes, defaults and validates the text of a configuration file:
//
//  1. ${NAME} references are substituted from environ (see Interpolate);
//  2. the result is parsed as TOML;
//  3. every table and key of spec §2 is converted to its Go type, defaults
//     are applied, and all cross-field rules are checked (§2.11, §3.3).
//
// All problems are collected: on failure the returned error is an Errors
// value with one Problem per offending key, and the Config is nil. Problems
// are what the original refuses at start (spec §2.11), plus an unresolved
// ${NAME} in a secret (see isSecret). Warnings name their full TOML path and
// never fail: unknown keys and tables (with the closest known key when one
// is likely meant, see suggestKey), an unresolved ${NAME} elsewhere, a
// secret equal to a published example, and notifier values the original
// accepts but that cannot work (see notify). The order of problems and
// warnings is deterministic: tables in the order of spec §2, keys of one
// table in the order they are read, unknown keys last in file order.
//
// baseDir is the directory of the configuration file. It is accepted for
// future use and does not affect anything today: as in the original,
// assets.path stays relative to the working directory, and
// Assets.PathExists reports whether that path, as written, names an
// existing directory.
func Parse(data []byte, baseDir string, environ []string) (*Config, []Warning, error) {
	_ = baseDir // reserved, see the doc comment

	data = Interpolate(data, environ)
	// A UTF-8 byte-order mark is harmless text to editors; tolerate it.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, nil, Errors{syntaxProblem(err)}
	}

	d := &decoder{order: recordKeyOrder(data), env: newEnvState(environ)}
	cfg := d.config(d.table("", doc))
	if len(d.problems) > 0 {
		return nil, d.warnings, d.problems
	}
	return cfg, d.warnings, nil
}

// syntaxProblem turns a go-toml error into a Problem (with an empty path)
// carrying the line and column of the error.
func syntaxProblem(err error) Problem {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return Problem{Message: "invalid TOML: " + err.Error()}
	}
	row, col := de.Position()
	// go-toml's DecodeError.Key is relative to the enclosing table, not a
	// full path, so the position is the reliable locator here.
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	return Problem{Message: fmt.Sprintf("TOML syntax error at line %d, column %d: %s", row, col, msg)}
}
