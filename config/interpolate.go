package config

import (
	"regexp"
	"strings"
)

// Interpolate performs Vigil's environment substitution on the raw text of
// a configuration file, comments and scripts included, before parsing (spec
// §2.1): each ${NAME} is replaced verbatim by the value of NAME in environ
// (os.Environ format; the last entry of a name wins). $NAME, $$, undefined
// variables and ${X:-y} (no default-value syntax: it names "X:-y") stay as
// written. Variables whose name or value contains '$', '{' or '}' are never
// substituted (the original refuses to start when one exists, spec §11 item
// 13), so substituted text never holds a reference and one left-to-right
// scan equals the original's repeated replacement.
func Interpolate(text []byte, environ []string) []byte {
	vars, _ := envVars(environ)
	// A reference whose name holds '$', '{' or '}' names no substitutable
	// variable, and "$${A}" or "${${A}}" still expand their inner ${A}.
	return regexp.MustCompile(`\$\{[^${}]*\}`).ReplaceAllFunc(text, func(ref []byte) []byte {
		if value, ok := vars[string(ref[2:len(ref)-1])]; ok {
			return []byte(value)
		}
		return ref
	})
}

// envVars collects the substitutable variables of environ (the last entry
// of a name wins) and the names that are set but skipped because their name
// or value contains '$', '{' or '}'.
func envVars(environ []string) (vars map[string]string, skipped map[string]bool) {
	vars = make(map[string]string, len(environ))
	skipped = map[string]bool{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if strings.ContainsAny(name, "${}") || strings.ContainsAny(value, "${}") {
			delete(vars, name)
			skipped[name] = true
			continue
		}
		delete(skipped, name)
		vars[name] = value
	}
	return vars, skipped
}
