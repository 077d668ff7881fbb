package config_test

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
)

// kv is one key = value line of a TOML table (the value is TOML text).
type kv struct{ key, value string }

// goodNotifiers returns warning-free notifier tables, with realistic values.
func goodNotifiers() map[string][]kv {
	return map[string][]kv{
		"email": {{"to", `"ops@example.com"`}, {"from", `"status@example.com"`}, {"smtp_host", `"smtp.example.com"`},
			{"smtp_port", "587"}, {"smtp_username", `"mailer"`}, {"smtp_password", `"mail-secret"`}},
		"twilio": {{"to", `["+33612345678"]`}, {"service_sid", `"MG0123456789abcdef0123456789abcdef"`},
			{"account_sid", `"AC0123456789abcdef0123456789abcdef"`}, {"auth_token", `"0123456789abcdef0123456789abcdef"`}},
		"slack":    {{"hook_url", `"https://hooks.slack.com/services/T000/B000/abcdef"`}},
		"zulip":    {{"bot_email", `"vigil-bot@acme.zulipchat.com"`}, {"bot_api_key", `"k3y"`}, {"channel", `"ops"`}, {"api_url", `"https://acme.zulipchat.com/api/v1/"`}},
		"telegram": {{"bot_token", `"123456789:AAE-abc_def"`}, {"chat_id", `"-100123"`}},
		"pushover": {{"app_token", `"azGDORePK8gMaC0QOYAMyEEuzJnyUi"`}, {"user_keys", `["uQiRzpo4DXghDmr9QzzfQu27cmVRsG"]`}},
		"gotify":   {{"app_url", `"https://push.example.com"`}, {"app_token", `"AbCdEf"`}},
		"xmpp":     {{"from", `"vigil@example.com"`}, {"to", `"ops@example.com"`}, {"xmpp_password", `"xmpp-secret"`}},
		"matrix":   {{"homeserver_url", `"https://matrix.example.org"`}, {"access_token", `"syt_abc"`}, {"room_id", `"!room:example.org"`}},
		"webex":    {{"endpoint_url", `"https://webexapis.com/v1/messages"`}, {"token", `"webex-secret"`}, {"room_id", `"Y2lzY29zcGFyazovL3Vz"`}},
		"webhook":  {{"hook_url", `"https://example.com/hooks/vigil"`}},
	}
}

// notifierText is the [notify.kind] table of goodNotifiers with some values
// replaced (a replacement of "" drops the key).
func notifierText(kind string, override map[string]string) string {
	var b strings.Builder
	b.WriteString("[notify]\n[notify." + kind + "]\n")
	for _, l := range goodNotifiers()[kind] {
		v := l.value
		if o, ok := override[l.key]; ok {
			v = o
		}
		if v != "" {
			b.WriteString(l.key + " = " + v + "\n")
		}
	}
	return b.String()
}

// parseNotifier parses the minimal configuration followed by a notifier
// table; it fails the test on an error.
func parseNotifier(t *testing.T, table string, environ []string) []config.Issue {
	t.Helper()
	text := strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(minimalText) + table
	_, warnings, err := parse([]byte(text), environ)
	if err != nil {
		t.Fatalf("error for\n%s\n%v", table, err)
	}
	return warnings
}

func TestGoodNotifiersHaveNoWarning(t *testing.T) {
	for kind := range goodNotifiers() {
		if ws := parseNotifier(t, notifierText(kind, nil), nil); len(ws) != 0 {
			t.Errorf("%s:\n%s", kind, warningLines(ws))
		}
	}
}

// TestNotifierPlaceholders: every notifier loads the placeholders of the
// original's sample and odd values the original accepts; the ones that
// cannot work are warnings naming the key and the reason, never errors.
func TestNotifierPlaceholders(t *testing.T) {
	const placeholder = "is the placeholder from the original Vigil's sample config.cfg"
	type want struct{ path, reason string }
	cases := []struct {
		kind     string
		override map[string]string
		want     []want
	}{
		// email
		{"email", map[string]string{"smtp_username": `"user-access"`, "smtp_password": `"user-password"`},
			[]want{{"notify.email.smtp_password", placeholder}}},
		{"email", map[string]string{"to": `"Ops <ops@example.com>"`}, nil},
		{"email", map[string]string{"to": `"not an address"`},
			[]want{{"notify.email.to", `is not an email address (got "not an address"): no email can be sent`}}},
		{"email", map[string]string{"from": `"Status <status@example.com>"`},
			[]want{{"notify.email.from", "is not a bare email address"}}},
		{"email", map[string]string{"to": `""`, "from": `""`},
			[]want{{"notify.email.to", "is not an email address"}, {"notify.email.from", "is not a bare email address"}}},
		{"email", map[string]string{"smtp_host": `""`, "smtp_port": "0"},
			[]want{{"notify.email.smtp_host", `is not a host name or IP address (got "")`}, {"notify.email.smtp_port", "port 0 cannot be connected to"}}},
		{"email", map[string]string{"smtp_password": ""},
			[]want{{"notify.email.smtp_username", "is set but smtp_password is not"}}},
		{"email", map[string]string{"smtp_username": ""},
			[]want{{"notify.email.smtp_password", "is set but smtp_username is not"}}},
		{"email", map[string]string{"smtp_username": "", "smtp_password": "", "smtp_host": "", "smtp_port": ""}, nil},
		// twilio
		{"twilio", map[string]string{"to": `["+336xxxxxxx", "+337xxxxxxx"]`, "service_sid": `"service-sid"`}, nil},
		{"twilio", map[string]string{"account_sid": `"account-sid"`, "auth_token": `"auth-token"`}, []want{
			{"notify.twilio.account_sid", `must be letters and digits only, such as AC followed by 32 hexadecimal digits (got "account-sid"); Twilio's client refuses anything else: no SMS can be sent`},
			{"notify.twilio.auth_token", placeholder},
		}},
		{"twilio", map[string]string{"auth_token": `"not/a-token"`},
			[]want{{"notify.twilio.auth_token", "must be letters and digits only"}}},
		{"twilio", map[string]string{"to": "[]"}, []want{{"notify.twilio.to", "lists no phone number"}}},
		{"twilio", map[string]string{"to": `["+33612345678", " "]`, "service_sid": `""`},
			[]want{{"notify.twilio.to[1]", "is empty"}, {"notify.twilio.service_sid", "is empty"}}},
		{"twilio", map[string]string{"account_sid": `""`, "auth_token": `""`},
			[]want{{"notify.twilio.account_sid", `(got "")`}, {"notify.twilio.auth_token", "must be letters and digits only"}}},
		// slack
		{"slack", map[string]string{"hook_url": `"https://hooks.slack.com/services/xxxx"`}, []want{{"notify.slack.hook_url", placeholder}}},
		{"slack", map[string]string{"hook_url": `"HTTPS://Hooks.Slack.com:443/services/a%zz?x=1#f"`}, nil},
		{"slack", map[string]string{"hook_url": `"ftp://hooks.slack.com/services/secret"`},
			[]want{{"notify.slack.hook_url", "is a ftp: URL, not http or https: no message can be posted"}}},
		// zulip
		{"zulip", map[string]string{"bot_email": `"bot-name@domain.zulipchat.com"`, "bot_api_key": `"xxxx"`, "channel": `"vigil"`, "api_url": `"https://domain.zulipchat.com/api/v1/"`},
			[]want{{"notify.zulip.bot_api_key", placeholder}}},
		{"zulip", map[string]string{"bot_email": `"a:b"`}, []want{{"notify.zulip.bot_email", "contains ':'"}}},
		{"zulip", map[string]string{"bot_email": `""`, "bot_api_key": `" "`, "channel": `""`, "api_url": `"mailto:zulip@example.com"`}, []want{
			{"notify.zulip.bot_email", "is empty"}, {"notify.zulip.bot_api_key", "is empty"}, {"notify.zulip.channel", "is empty"},
			{"notify.zulip.api_url", `is not an http or https URL (got "mailto:zulip@example.com")`},
		}},
		// telegram
		{"telegram", map[string]string{"bot_token": `"xxxxxxxxxx:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`, "chat_id": `"xxxxxxxxx"`},
			[]want{{"notify.telegram.bot_token", placeholder}}},
		{"telegram", map[string]string{"chat_id": `"@channel"`}, nil},
		{"telegram", map[string]string{"bot_token": `"bot-token"`}, []want{{"notify.telegram.bot_token", "is not a bot token of the form <bot id>:<secret>"}}},
		{"telegram", map[string]string{"bot_token": `"1:a/b"`}, []want{{"notify.telegram.bot_token", "is not a bot token"}}},
		{"telegram", map[string]string{"chat_id": `""`}, []want{{"notify.telegram.chat_id", "is empty"}}},
		// pushover
		{"pushover", map[string]string{"app_token": `"xxxx"`, "user_keys": `["xxxx"]`}, []want{{"notify.pushover.app_token", placeholder}}},
		{"pushover", map[string]string{"user_keys": "[]"}, []want{{"notify.pushover.user_keys", "lists no user key"}}},
		{"pushover", map[string]string{"app_token": `""`, "user_keys": `["a", ""]`},
			[]want{{"notify.pushover.app_token", "is empty"}, {"notify.pushover.user_keys[1]", "is empty"}}},
		// gotify
		{"gotify", map[string]string{"app_url": `"https://push.gotify.net"`, "app_token": `"xxxx"`}, []want{{"notify.gotify.app_token", placeholder}}},
		{"gotify", map[string]string{"app_url": `"https://push.example.com/sub/path"`}, nil},
		{"gotify", map[string]string{"app_url": `"ws://push.example.com"`, "app_token": `""`},
			[]want{{"notify.gotify.app_url", "is not an http or https URL"}, {"notify.gotify.app_token", "is empty"}}},
		// xmpp
		{"xmpp", map[string]string{"xmpp_password": `"xmpp-password"`}, []want{{"notify.xmpp.xmpp_password", placeholder}}},
		{"xmpp", map[string]string{"from": `"vigil@example.com/status"`, "to": `"example.com"`}, nil},
		{"xmpp", map[string]string{"from": `"example.com"`, "to": `"ops@"`, "xmpp_password": `""`}, []want{
			{"notify.xmpp.to", `is not a JID such as ops@example.com (got "ops@")`},
			{"notify.xmpp.from", `is not an account JID such as vigil@example.com (got "example.com")`},
			{"notify.xmpp.xmpp_password", "is empty"},
		}},
		// matrix
		{"matrix", map[string]string{"homeserver_url": `"https://matrix.org"`, "access_token": `"xxxx"`, "room_id": `"!abc123:matrix.org"`},
			[]want{{"notify.matrix.access_token", placeholder}}},
		{"matrix", map[string]string{"access_token": `""`, "room_id": `""`},
			[]want{{"notify.matrix.access_token", "is empty"}, {"notify.matrix.room_id", "is empty"}}},
		// webex
		{"webex", map[string]string{"token": `"xxxxx"`, "room_id": `"yyyyy"`}, []want{{"notify.webex.token", placeholder}}},
		{"webex", map[string]string{"endpoint_url": `"mailto:x@example.com"`}, []want{{"notify.webex.endpoint_url", "is not an http or https URL"}}},
		// webhook
		{"webhook", map[string]string{"hook_url": `"https://domain.com/webhooks/xxxx"`}, []want{{"notify.webhook.hook_url", placeholder}}},
		{"webhook", map[string]string{"hook_url": `"http://[::1]:8080/hook?token=a%2"`}, nil},
		{"webhook", map[string]string{"hook_url": `"file:///tmp/hook"`}, []want{{"notify.webhook.hook_url", "is a file: URL"}}},
	}
	for _, tc := range cases {
		table := notifierText(tc.kind, tc.override)
		ws := parseNotifier(t, table, nil)
		ok := len(ws) == len(tc.want)
		for i := 0; ok && i < len(ws); i++ {
			ok = ws[i].Path == tc.want[i].path && strings.Contains(ws[i].Message, tc.want[i].reason)
		}
		if !ok {
			t.Errorf("for\n%swarnings:\n%swant %v", table, warningLines(ws), tc.want)
		}
		// Warnings about secrets never quote them.
		secrets := taggedSecrets()
		for _, w := range ws {
			for _, v := range tc.override {
				if v = strings.Trim(v, `"`); secrets[w.Path] && len(v) > 4 && strings.Contains(w.Message, v) {
					t.Errorf("%s quotes the secret: %s", w.Path, w.Message)
				}
			}
		}
	}
}

// taggedSecrets returns the paths of the keys whose tag says secret, in the
// schema and in every notifier table.
func taggedSecrets() map[string]bool {
	out := map[string]bool{}
	var walk func(path string, t reflect.Type)
	walk = func(path string, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("toml")
			if !ok && f.Anonymous {
				walk(path, f.Type)
				continue
			}
			key, opts, _ := strings.Cut(tag, ",")
			p := strings.TrimPrefix(path+"."+key, ".")
			if slices.Contains(strings.Split(opts, ","), "secret") {
				out[p] = true
			}
			walk(p, f.Type)
		}
	}
	walk("", reflect.TypeFor[config.Config]())
	for _, k := range providers.Kinds() {
		walk("notify."+k.Name, reflect.TypeOf(k.Section()))
	}
	return out
}

// secretPaths is the list of secrets the README documents.
func secretPaths() []string {
	return []string{
		"server.manager_token", "server.reporter_token", "server.metrics_token", "server.mcp_token",
		"plugins.rabbitmq.auth_password", "storage.dsn",
		"notify.email.smtp_password", "notify.twilio.auth_token", "notify.slack.hook_url",
		"notify.zulip.bot_api_key", "notify.telegram.bot_token", "notify.pushover.app_token",
		"notify.gotify.app_token", "notify.xmpp.xmpp_password", "notify.matrix.access_token",
		"notify.webex.token", "notify.webhook.hook_url",
	}
}

// withSecret returns a configuration whose key at path is value (TOML
// text), everything else valid and warning-free.
func withSecret(path, value string) string {
	manager, reporter, extra := `"m"`, `"r"`, ""
	table, key, _ := strings.Cut(path, ".")
	switch {
	case path == "server.manager_token":
		manager = value
	case path == "server.reporter_token":
		reporter = value
	case path == "server.metrics_token":
		manager += "\nmetrics_token = " + value
	case path == "server.mcp_token":
		manager += "\nmcp_token = " + value
	case path == "plugins.rabbitmq.auth_password":
		extra = `[plugins.rabbitmq]
api_url = "http://127.0.0.1:15672"
auth_username = "vigil"
auth_password = ` + value + `
virtualhost = "/"
queue_ready_healthy_below = 1
queue_nack_healthy_below = 1
queue_ready_dead_above = 1
queue_nack_dead_above = 1
`
	case path == "storage.dsn":
		extra = "[storage]\ndsn = " + value + "\n"
	case table == "notify":
		kind, k, _ := strings.Cut(key, ".")
		extra = notifierText(kind, map[string]string{k: value})
	}
	text := strings.Replace(minimalText, `"MANAGER"`, manager, 1)
	text = strings.Replace(text, `"REPORTER"`, reporter, 1)
	return strings.Replace(text, "EXTRA", "", 1) + extra
}

// TestUnresolvedVariableInSecret: for every secret key an unresolved
// ${NAME} is an error naming the variable; a set one is substituted.
func TestUnresolvedVariableInSecret(t *testing.T) {
	if got, want := taggedSecrets(), secretPaths(); len(got) != len(want) {
		t.Errorf("keys tagged secret: %v, want %v", slices.Sorted(maps.Keys(got)), want)
	}
	for _, path := range secretPaths() {
		if !taggedSecrets()[path] {
			t.Errorf("%s is not tagged secret", path)
		}
		text := withSecret(path, `"${VIGIL_TEST_SECRET}"`)
		_, _, err := parse([]byte(text), []string{"OTHER=1"})
		if err == nil {
			t.Errorf("%s: unresolved ${VIGIL_TEST_SECRET} accepted", path)
			continue
		}
		errs := problemsOf(t, err)
		want := path + ": environment variable VIGIL_TEST_SECRET is not set"
		if len(errs) != 1 || errs[0].String() != want {
			t.Errorf("%s: got\n%v\nwant %s", path, err, want)
		}

		// Part of a value counts too, and a set variable is substituted.
		prefix := "x"
		switch {
		case strings.HasSuffix(path, "hook_url"):
			prefix = "https://hooks.example.com/"
		case path == "notify.telegram.bot_token":
			prefix = "123:x"
		}
		value := prefix + "${VIGIL_TEST_SECRET}"
		if _, _, err := parse([]byte(withSecret(path, `"`+value+`"`)), nil); err == nil || !strings.Contains(err.Error(), "VIGIL_TEST_SECRET is not set") {
			t.Errorf("%s: partial reference: %v", path, err)
		}
		// A reference nested in another is still one.
		if _, _, err := parse([]byte(withSecret(path, `"${${VIGIL_TEST_SECRET}}"`)), nil); err == nil || !strings.Contains(err.Error(), "VIGIL_TEST_SECRET is not set") {
			t.Errorf("%s: nested reference: %v", path, err)
		}
		cfg, warnings, err := parse([]byte(withSecret(path, `"`+value+`"`)), []string{"VIGIL_TEST_SECRET=s3cret"})
		if err != nil || len(warnings) != 0 {
			t.Errorf("%s with the variable set: %v\n%s", path, err, warningLines(warnings))
			continue
		}
		if got := secretValue(cfg, path); got != prefix+"s3cret" {
			t.Errorf("%s = %q", path, got)
		}
	}
}

// secretValue reads the value of a secret key from a loaded Config.
func secretValue(c *config.Config, path string) string {
	switch path {
	case "server.manager_token":
		return c.Server.ManagerToken
	case "server.reporter_token":
		return c.Server.ReporterToken
	case "server.metrics_token":
		return c.Server.MetricsToken
	case "server.mcp_token":
		return c.Server.MCPToken
	case "plugins.rabbitmq.auth_password":
		return c.Plugins.RabbitMQ.AuthPassword
	case "storage.dsn":
		return c.Storage.DSN
	}
	kind, key, _ := strings.Cut(strings.TrimPrefix(path, "notify."), ".")
	v := reflect.ValueOf(c.Notify.Notifiers[kind]).Elem()
	for i := range v.NumField() {
		if tag := v.Type().Field(i).Tag.Get("toml"); strings.HasPrefix(tag+",", key+",") {
			return v.Field(i).String()
		}
	}
	return "(unknown path " + path + ")"
}

func TestSkippedVariableInSecret(t *testing.T) {
	_, _, err := parse([]byte(withSecret("server.manager_token", `"${VIGIL_MANAGER_TOKEN}"`)), []string{"VIGIL_MANAGER_TOKEN=a$b"})
	want := "server.manager_token: environment variable VIGIL_MANAGER_TOKEN is set but not substituted: its name or value contains $, { or }"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestUnresolvedVariableElsewhere: outside secrets an unresolved ${NAME}
// is a warning naming the key and the variable; the value stays.
func TestUnresolvedVariableElsewhere(t *testing.T) {
	extra := `[probe]
[[probe.service]]
id = "s"
label = "${LABEL}"
[[probe.service.node]]
id = "n"
label = "N"
mode = "poll"
replicas = ["https://example.com/?v=${VERSION}", "https://example.com/${HOME}"]
http_headers = { Authorization = "Bearer ${API_TOKEN}" }
[[probe.service.node]]
id = "sh"
label = "Script"
mode = "script"
scripts = ['''echo "${count} ${count}" ${X:-y}''']
`
	text := strings.Replace(minimalText, "[probe]\nservice = []\n", extra, 1)
	text = strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(text)
	cfg, warnings, err := parse([]byte(text), []string{"HOME=/home/vigil"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"probe.service[0].label: environment variable LABEL is not set; ${LABEL} is kept as written",
		"probe.service[0].node[0].replicas[0]: environment variable VERSION is not set; ${VERSION} is kept as written",
		"probe.service[0].node[0].http_headers.Authorization: environment variable API_TOKEN is not set; ${API_TOKEN} is kept as written",
		"probe.service[0].node[1].scripts[0]: environment variable count is not set; ${count} is left in the script for the shell",
		"probe.service[0].node[1].scripts[0]: environment variable X:-y is not set (${NAME} has no default-value syntax); ${X:-y} is left in the script for the shell",
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := cfg.Probe.Services[0].Label; l != "${LABEL}" {
		t.Errorf("label = %q", l)
	}
	if u := cfg.Probe.Services[0].Nodes[0].Replicas[1].URL; u != "https://example.com//home/vigil" {
		t.Errorf("substituted replica = %q", u)
	}
}

// TestUnresolvedVariableInURL: an unresolved reference in a URL that does
// not parse gives the URL error and names the variable.
func TestUnresolvedVariableInURL(t *testing.T) {
	text := strings.Replace(minimalText, `"https://status.example.com"`, `"https://${STATUS_HOST}/"`, 1)
	text = strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(text)
	_, warnings, err := parse([]byte(text), nil)
	if errs := problemsOf(t, err); !hasProblem(errs, "branding.page_url", "invalid URL") {
		t.Errorf("got %v", err)
	}
	if len(warnings) != 1 || warnings[0].Path != "branding.page_url" || !strings.Contains(warnings[0].Message, "STATUS_HOST is not set") {
		t.Errorf("warnings:\n%s", warningLines(warnings))
	}
}

func TestSecretURLNotQuoted(t *testing.T) {
	_, _, err := parse([]byte(withSecret("notify.slack.hook_url", `"hooks.slack.com/services/T0/B0/very-secret"`)), nil)
	errs := problemsOf(t, err)
	if len(errs) != 1 || errs[0].Path != "notify.slack.hook_url" || strings.Contains(errs[0].Message, "very-secret") ||
		!strings.Contains(errs[0].Message, "not absolute") {
		t.Errorf("got %v", err)
	}
}

func TestExampleSecretsWarn(t *testing.T) {
	_, warnings, err := parse([]byte(withSecret("server.manager_token", `"change-me-manager"`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "server.manager_token: is the example value from the example config.cfg: anyone who has read it can use what it protects; set a secret of your own"
	if len(warnings) != 1 || warnings[0].String() != want {
		t.Errorf("warnings:\n%s", warningLines(warnings))
	}
	// Only secrets are compared with the examples.
	text := strings.Replace(withSecret("server.manager_token", `"m"`), `company_name = "Example"`, `company_name = "change-me-manager"`, 1)
	if _, warnings, _ := parse([]byte(text), nil); len(warnings) != 0 {
		t.Errorf("warnings:\n%s", warningLines(warnings))
	}
}

func TestEmptyServerTokensWarn(t *testing.T) {
	_, warnings, err := parse([]byte(withSecret("server.reporter_token", `""`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].Path != "server.reporter_token" || !strings.Contains(warnings[0].Message, "empty password") {
		t.Errorf("warnings:\n%s", warningLines(warnings))
	}
}

// TestExampleSecretsMatchShippedFiles keeps the one list of example secrets
// in step with the values this repository ships: every literal token or
// password in config.cfg, README.md and deploy/ is in it, and the example
// config.cfg warns about both of its tokens.
func TestExampleSecretsMatchShippedFiles(t *testing.T) {
	root := filepath.Join("..")
	files := []string{filepath.Join(root, "config.cfg"), filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "deploy"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// key = "value" (TOML, possibly commented out) and key: value (YAML).
	assignment := regexp.MustCompile(`(?m)^[\s#]*([a-z_]*(?:token|password))\s*=\s*"([^"]*)"|^\s*([a-z-]*(?:token|password)):\s*(\S+)\s*$`)
	found := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range assignment.FindAllStringSubmatch(string(data), -1) {
			key, value := m[1]+m[3], m[2]+m[4]
			if value == "" || strings.HasPrefix(value, "${") {
				continue
			}
			found++
			if !config.IsExampleSecret(value) {
				t.Errorf("%s: %s = %q is not a known example secret (exampleSecretSource)", f, key, value)
			}
		}
	}
	if found < 4 {
		t.Errorf("found %d example secrets in the shipped files, want at least 4 (config.cfg and secret.example.yaml)", found)
	}

	_, warnings, err := load(filepath.Join(root, "config.cfg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, w := range warnings {
		paths = append(paths, w.Path)
	}
	if want := []string{"server.manager_token", "server.reporter_token"}; !slices.Equal(paths, want) {
		t.Errorf("config.cfg warnings:\n%s", warningLines(warnings))
	}
}

func TestUnknownKeySuggestions(t *testing.T) {
	text := `
[server]
manager_token = "m"
reporter_tokn = "r"
Log_Level = "warn"
foo = 1
[assets]
[branding]
page_url = "https://status.example.com"
company_name = "Example"
icon_color = "#fff"
icon_url = "https://example.com/i.png"
logo_color = "#fff"
logo_url = "https://example.com/l.svg"
website_url = "https://example.com"
suport_url = "https://example.com/support"
[metrics]
poll_intervall = 10
[notify.slak]
hook_url = "https://hooks.slack.com/services/T0/B0/x"
[notify.webhook]
hook-url = "https://example.com/hook"
[probe]
[[probe.servce]]
id = "x"
[[probe.service]]
id = "s"
label = "S"
[[probe.service.node]]
id = "n"
label = "N"
mode = "poll"
replica = ["https://example.com/"]
`
	_, warnings, err := parse([]byte(text), nil)
	errs := problemsOf(t, err)
	for _, p := range []string{"server.reporter_token", "branding.support_url", "notify.webhook.hook_url"} {
		if !hasProblem(errs, p, "required key missing") {
			t.Errorf("no problem at %s:\n%v", p, err)
		}
	}
	want := []string{
		`server.reporter_tokn: unknown key (did you mean "reporter_token"?)`,
		`server.Log_Level: unknown key (did you mean "log_level"?)`,
		`server.foo: unknown key, ignored`,
		`branding.suport_url: unknown key (did you mean "support_url"?)`,
		`metrics.poll_intervall: unknown key (did you mean "poll_interval"?)`,
		`notify.webhook.hook-url: unknown key (did you mean "hook_url"?)`,
		`notify.slak: unknown table (did you mean "slack"?)`,
		`probe.service[0].node[0].replica: unknown key (did you mean "replicas"?)`,
		`probe.servce: unknown table (did you mean "service"?)`,
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
