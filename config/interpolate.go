package config

import "strings"

// Interpolate performs Vigil's environment substitution on the raw text of a
// configuration file, before any TOML parsing (spec §2.1):
//
//   - only the braced form ${NAME} is recognised; $NAME and $$ are left
//     untouched;
//   - ${NAME} is replaced, verbatim (no quoting or escaping), by the value of
//     the variable NAME from environ when such a variable exists;
//   - references to undefined variables are left literally in the text;
//   - there is no default-value syntax (${X:-y} only matches a variable
//     literally named "X:-y");
//   - the whole text is processed, comments and script bodies included.
//
// environ uses the os.Environ format ("NAME=value"). When a name occurs more
// than once the last entry wins (the original collects the environment into a
// hash map). Variables whose name or value contains '$', '{' or '}' are
// skipped: the original refuses to start when any such variable exists, even
// an unrelated one (spec §11 item 13); this implementation simply never
// substitutes them. Because every substituted value is then free of '$',
// a single left-to-right scan is equivalent to the original's repeated
// whole-text replacement, and substituted text is never rescanned.
func Interpolate(text []byte, environ []string) []byte {
	vars, _ := envVars(environ)
	if len(vars) == 0 {
		return text
	}

	s := string(text)
	var out strings.Builder
	out.Grow(len(s))
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end >= 0 {
			name := s[i+2 : i+2+end]
			if value, ok := vars[name]; ok {
				out.WriteString(value)
				s = s[i+2+end+1:]
				continue
			}
		}
		// Not a substitutable reference: keep the '$' and rescan from the
		// next byte, so that "$${A}" or "${${A}}" still expand their inner
		// ${A}, exactly like a plain string replacement of "${A}" would.
		out.WriteByte('$')
		s = s[i+1:]
	}
	return []byte(out.String())
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
