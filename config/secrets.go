package config

import "strings"

// isSecret reports whether the key at path holds a credential: a token or
// password the server checks, or one it sends to another service (a hook
// URL whose path is the credential counts as one). The list:
//
//   - server.manager_token, server.reporter_token, server.metrics_token
//   - plugins.rabbitmq.auth_password
//   - notify.email.smtp_password
//   - notify.twilio.auth_token
//   - notify.slack.hook_url (the URL is the credential)
//   - notify.zulip.bot_api_key
//   - notify.telegram.bot_token
//   - notify.pushover.app_token
//   - notify.gotify.app_token
//   - notify.xmpp.xmpp_password
//   - notify.matrix.access_token
//   - notify.webex.token
//   - notify.webhook.hook_url (webhook endpoints usually embed a token)
//
// For these keys an unresolved ${NAME} is an error (a literal "${NAME}"
// must never become a password), problems never quote the value, and a value
// equal to a published example (exampleSecretSource) is a warning.
// Identifiers that are not secret on their own (Twilio account SID, Pushover
// user keys, chat and room ids, user names) are not in the list.
func isSecret(path string) bool {
	switch path {
	case "server.manager_token", "server.reporter_token", "server.metrics_token",
		"plugins.rabbitmq.auth_password",
		"notify.email.smtp_password",
		"notify.twilio.auth_token",
		"notify.slack.hook_url",
		"notify.zulip.bot_api_key",
		"notify.telegram.bot_token",
		"notify.pushover.app_token",
		"notify.gotify.app_token",
		"notify.xmpp.xmpp_password",
		"notify.matrix.access_token",
		"notify.webex.token",
		"notify.webhook.hook_url":
		return true
	}
	return false
}

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

// envState tells what the environment held for the names used in ${NAME}
// references, so an unresolved reference can be explained.
type envState struct {
	// skipped holds the names that are set but were not substituted because
	// their name or value contains '$', '{' or '}' (see Interpolate).
	skipped map[string]bool
}

// newEnvState records the variables of environ that Interpolate skips.
func newEnvState(environ []string) envState {
	_, skipped := envVars(environ)
	return envState{skipped: skipped}
}

// unresolvedRefs returns the names of the ${NAME} references left in a
// decoded string value, in order, each once. After Interpolate, any such
// reference names a variable that was not set (or was skipped).
func unresolvedRefs(s string) []string {
	var names []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return names
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return names
		}
		name := s[i+2 : i+2+end]
		s = s[i+2+end+1:]
		if name == "" || strings.Contains(name, "${") {
			continue
		}
		dup := false
		for _, n := range names {
			dup = dup || n == name
		}
		if !dup {
			names = append(names, name)
		}
	}
}

// refProblem words an unresolved ${name}.
func (e envState) refProblem(name string) string {
	if e.skipped[name] {
		return "environment variable " + name + " is set but not substituted: its name or value contains $, { or }"
	}
	msg := "environment variable " + name + " is not set"
	if strings.Contains(name, ":-") || strings.Contains(name, ":=") {
		msg += " (${NAME} has no default-value syntax)"
	}
	return msg
}

// checkString applies the rules every decoded string value goes through:
// unresolved ${NAME} references (an error for secrets, a warning
// elsewhere), example secrets and empty server tokens. It reports whether
// the value may be used.
func (d *decoder) checkString(path, value string) bool {
	secret := isSecret(path)
	ok := true
	for _, name := range unresolvedRefs(value) {
		switch {
		case secret:
			d.fail(path, "%s", d.env.refProblem(name))
			ok = false
		case strings.Contains(path, ".scripts["):
			d.warn(path, "%s; ${%s} is left in the script for the shell", d.env.refProblem(name), name)
		default:
			d.warn(path, "%s; ${%s} is kept as written", d.env.refProblem(name), name)
		}
	}
	if !ok || !secret {
		return ok
	}
	if src := exampleSecretSource(value); src != "" {
		if strings.HasPrefix(path, "server.") {
			d.warn(path, "is the example value from %s: anyone who has read it can use what it protects; set a secret of your own", src)
		} else {
			d.warn(path, "is the placeholder from %s, not a real credential: replace it", src)
		}
	}
	return true
}
