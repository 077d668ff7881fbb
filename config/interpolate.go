package config

import "strings"

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
