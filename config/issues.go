package config

import "strings"

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
