package config

import "strings"

// Problem is one validation failure of a configuration file: the TOML path of
// the offending key or table (e.g. "probe.service[1].node[0].replicas[2]") and
// the reason. Path is empty for problems that concern the whole file (a TOML
// syntax error outside any known key).
type Problem struct {
	// Path is the full TOML path of the key or table, with zero-based array
	// indexes ("server.inet", "probe.service[0].node[2].mode").
	Path string
	// Message is the human-readable reason, without the path.
	Message string
}

// String formats the problem as "path: message" (or just the message when the
// path is empty).
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Errors is every problem found in a configuration file. Parse and Load
// collect all problems instead of stopping at the first one, so an operator
// can fix them in one go. Use errors.As to retrieve it from the error they
// return.
type Errors []Problem

// Error joins the problems, one per line, each formatted as "path: message".
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Warning is a non-fatal remark about a configuration file, typically an
// unknown key or table: the original Vigil ignores those silently, this
// implementation still ignores them but reports each one so typos are
// noticed.
type Warning struct {
	// Path is the full TOML path of the key or table ("server.foo",
	// "notify.nosuch", "probe.service[0].node[1].typo").
	Path string
	// Message is the human-readable remark, without the path.
	Message string
}

// String formats the warning as "path: message".
func (w Warning) String() string {
	if w.Path == "" {
		return w.Message
	}
	return w.Path + ": " + w.Message
}
