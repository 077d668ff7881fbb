package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
)

// Load reads the configuration file at path and decodes it with Parse.
// An unreadable file yields a plain error.
func Load(path string, environ []string, notifiers ...Notifier) (*Config, []Issue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	return Parse(data, filepath.Dir(path), environ, notifiers...)
}

// Parse decodes, defaults and validates the text of a configuration file:
// ${NAME} references are substituted from environ (os.Environ format, see
// Interpolate), the result is parsed as TOML and assigned onto the schema.
// notifiers declare the [notify.<name>] tables; any other one is an unknown
// table.
//
// All problems are collected: on failure the error is an Errors value with
// one Issue per offending key, and the Config is nil. Problems are what the
// original refuses at start (spec §2.11), plus an unresolved ${NAME} in a
// secret. Warnings (returned even when loading fails) never fail: unknown
// keys and tables, an unresolved ${NAME} elsewhere, a secret equal to a
// published example, values the original accepts that cannot work. Both
// come in a fixed order: tables in schema order, depth first; within a
// table, issues in field order (an id repeated in an array of tables comes
// after that array), then unknown keys in file order.
//
// baseDir, the directory of the file, is reserved: as in the original,
// assets.path stays relative to the working directory.
func Parse(data []byte, baseDir string, environ []string, notifiers ...Notifier) (*Config, []Issue, error) {
	_ = baseDir
	cfg := &Config{}
	warnings, err := Decode(data, environ, cfg, notifiers...)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// Decode is Parse for any schema: it substitutes ${NAME} references, parses
// data as TOML and assigns it onto dst, a pointer to a tagged struct (see
// schema.go), with the same defaults, checks, warnings and errors. Other
// file formats that share Vigil's conventions (the Vigil Local agent's)
// declare their own root struct and decode through it.
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
