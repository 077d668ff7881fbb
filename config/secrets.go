package config

import (
	"regexp"
	"slices"
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

// IsExampleSecret reports whether value is a published example secret (see
// exampleSecretSource): a secret key holding one already has a warning.
func IsExampleSecret(value string) bool { return exampleSecretSource(value) != "" }

// exampleSecretSource returns where value is published as an example
// secret, or "" when it is not a known example. This is the one list of
// example secrets: the values shipped in this repository's config.cfg,
// deploy/ files and README (a test keeps it in step with them) and the
// placeholders of the original Vigil's sample config.cfg, which existing
// installations may have kept.
func exampleSecretSource(value string) string {
	switch value {
	case "change-me-manager", "change-me-reporter":
		return "the example config.cfg"
	case "change-me-manager-token", "change-me-reporter-token":
		return "deploy/kubernetes/secret.example.yaml"
	case "...":
		return "the example deploy/kubernetes/configmap.yaml"
	case "REPLACE_THIS_WITH_A_VERY_SECRET_KEY", "REPLACE_THIS_WITH_A_SECRET_KEY",
		"RABBITMQ_ADMIN_PASSWORD", "user-password", "auth-token", "xmpp-password",
		"xxxx", "xxxxx", "xxxxxxxxxx:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"https://hooks.slack.com/services/xxxx", "https://domain.com/webhooks/xxxx":
		return "the original Vigil's sample config.cfg"
	}
	return ""
}

// unresolvedRefs returns the names of the ${NAME} references left in a
// decoded string value, in order, each once. After Interpolate, any such
// reference names a variable that was not set (or was skipped). In
// "${${A}}" the reference is the inner ${A}, as for Interpolate.
func unresolvedRefs(s string) []string {
	var names []string
	for _, ref := range regexp.MustCompile(`\$\{(?:[^}]*\$\{)?([^}]*)\}`).FindAllStringSubmatch(s, -1) {
		if name := ref[1]; name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// refProblem words an unresolved ${name}.
func (d *decoder) refProblem(name string) string {
	if d.skipped[name] {
		return "environment variable " + name + " is set but not substituted: its name or value contains $, { or }"
	}
	msg := "environment variable " + name + " is not set"
	if strings.Contains(name, ":-") || strings.Contains(name, ":=") {
		msg += " (${NAME} has no default-value syntax)"
	}
	return msg
}

// checkString applies the rules every string value goes through: an
// unresolved ${NAME} reference is an error in a secret (a tag option: a
// literal "${NAME}" must never become a password) and a warning elsewhere;
// a secret equal to a published example is a warning. It reports whether
// the value may be used.
func (d *decoder) checkString(path, value string, secret bool) bool {
	ok := true
	for _, name := range unresolvedRefs(value) {
		switch {
		case secret:
			d.fail(path, "%s", d.refProblem(name))
			ok = false
		case strings.Contains(path, ".scripts["):
			d.warn(path, "%s; ${%s} is left in the script for the shell", d.refProblem(name), name)
		default:
			d.warn(path, "%s; ${%s} is kept as written", d.refProblem(name), name)
		}
	}
	if src := exampleSecretSource(value); ok && secret && src != "" {
		if strings.HasPrefix(path, "server.") {
			d.warn(path, "is the example value from %s: anyone who has read it can use what it protects; set a secret of your own", src)
		} else {
			d.warn(path, "is the placeholder from %s, not a real credential: replace it", src)
		}
	}
	return ok
}
