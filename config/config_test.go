package config_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
)

// load and parse are config.Load and config.Decode into a Config with
// every notifier table declared, as the server loads a file.
func load(path string, environ []string) (*config.Config, []config.Issue, error) {
	return config.Load(path, environ, providers.Kinds().Notifiers()...)
}

func parse(data []byte, environ []string) (*config.Config, []config.Issue, error) {
	cfg := &config.Config{}
	warnings, err := config.Decode(data, environ, cfg, providers.Kinds().Notifiers()...)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// fixture returns the path of a file under testdata/config.
func fixture(parts ...string) string {
	return filepath.Join(append([]string{"..", "testdata", "config"}, parts...)...)
}

// mustLoad loads a valid fixture, failing the test on any error.
func mustLoad(t *testing.T, name string, environ []string) (*config.Config, []config.Issue) {
	t.Helper()
	cfg, warnings, err := load(fixture("valid", name), environ)
	if err != nil {
		t.Fatalf("Load(%s): unexpected error:\n%v", name, err)
	}
	return cfg, warnings
}

// problemsOf extracts the Errors from an error returned by Load or Decode.
func problemsOf(t *testing.T, err error) config.Errors {
	t.Helper()
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is not a config.Errors: %T %v", err, err)
	}
	return errs
}

// hasProblem reports whether errs has a problem at exactly path whose
// message contains reason.
func hasProblem(errs config.Errors, path, reason string) bool {
	for _, p := range errs {
		if p.Path == path && strings.Contains(p.Message, reason) {
			return true
		}
	}
	return false
}

func TestInvalidFixtures(t *testing.T) {
	const node = "probe.service[0].node[0]"
	tests := []struct {
		file, path, reason string
	}{
		{"missing-server.cfg", "server", "required table missing"},
		{"missing-assets.cfg", "assets", "required table missing"},
		{"missing-branding.cfg", "branding", "required table missing"},
		{"missing-metrics.cfg", "metrics", "required table missing"},
		{"missing-probe.cfg", "probe", "required table missing"},
		{"missing-probe-service.cfg", "probe.service", "required key missing"},
		{"missing-service-node.cfg", "probe.service[0].node", "required key missing"},
		{"missing-manager-token.cfg", "server.manager_token", "required key missing"},
		{"missing-page-url.cfg", "branding.page_url", "required key missing"},
		{"server-not-table.cfg", "server", "must be a table (got string)"},
		{"probe-service-not-array.cfg", "probe.service", "must be an array of tables (got string)"},
		{"bad-inet-hostname.cfg", "server.inet", `must be an IP address and port, e.g. 0.0.0.0:8080 (got "localhost:8080")`},
		{"bad-inet-no-port.cfg", "server.inet", `must be an IP address and port`},
		{"bad-log-level.cfg", "server.log_level", `must be one of off, error, warn, info, debug, trace (got "verbose")`},
		{"string-for-bool.cfg", "server.mcp_server", "must be a boolean"},
		{"duplicate-service.cfg", "probe.service[1].id", "configuration has duplicate service identifier: web"},
		{"duplicate-node.cfg", "probe.service[0].node[1].id", "configuration has duplicate node identifier: api in service: web"},
		{"replicas-on-push.cfg", node + ".replicas", "non-poll node cannot have replicas"},
		{"scripts-on-poll.cfg", node + ".scripts", "non-script node cannot have scripts"},
		{"tcp-with-path.cfg", node + ".replicas[1]", `tcp replica needs host:port without a path (got path "/")`},
		{"tcp-without-port.cfg", node + ".replicas[1]", "tcp replica needs host:port without a path (port missing"},
		{"icmp-with-port.cfg", node + ".replicas[1]", `icmp replica needs a host only, without a port (got port "7")`},
		{"icmp-with-slash.cfg", node + ".replicas[1]", `icmp replica needs a host only, without a path`},
		{"ssh-without-port.cfg", node + ".replicas[1]", "ssh replica needs host:port without a path (port missing"},
		{"ftp-replica.cfg", node + ".replicas[1]", `invalid replica url: unsupported scheme "ftp"`},
		{"unparsable-replica.cfg", node + ".replicas[1]", "invalid replica url"},
		{"http-method-lowercase.cfg", node + ".http_method", `must be one of HEAD, GET, POST, PUT, PATCH, in uppercase (got "get")`},
		{"bad-regex.cfg", node + ".http_body_healthy_match", "invalid regular expression"},
		{"bad-header.cfg", node + `.http_headers."Bad Header"`, `invalid HTTP header name "Bad Header"`},
		{"bad-header-value.cfg", node + ".http_headers.X-Injected", "invalid HTTP header value"},
		{"negative-integer.cfg", "metrics.poll_interval", "must be a non-negative integer (got -1)"},
		{"float-for-integer.cfg", "metrics.poll_retry", "must be an integer, not a float (got 1.5)"},
		{"string-for-integer.cfg", "metrics.poll_delay_dead", "must be an integer (got string)"},
		{"u16-overflow.cfg", "metrics.poll_parallelism", "out of range: must be at most 65535 (got 70000)"},
		{"u32-overflow.cfg", node + ".rabbitmq_queue_nack_dead_above", "out of range: must be at most 4294967295"},
		{"script-timeout-zero.cfg", "metrics.script_timeout", "must be greater than 0"},
		{"bad-url.cfg", "branding.page_url", "not absolute"},
		{"bad-url-port.cfg", "branding.website_url", `invalid port "99999"`},
		{"bad-mode.cfg", node + ".mode", `must be one of poll, push, script, local (got "Poll")`},
		{"missing-mode.cfg", node + ".mode", "required key missing"},
		{"telegram-thread-string.cfg", "notify.telegram.message_thread_id", "must be an integer (got string)"},
		{"bad-backoff-function.cfg", "notify.reminder_backoff_function", `must be one of none, linear, square, cubic (got "exponential")`},
		{"notifier-missing-key.cfg", "notify.slack.hook_url", "required key missing"},
		{"rabbitmq-missing-key.cfg", "plugins.rabbitmq.virtualhost", "required key missing"},
		{"toml-syntax.cfg", "", "TOML syntax error at line 19, column"},
		{"toml-duplicate-key.cfg", "", "TOML syntax error at line 6, column 1: key manager_token is already defined"},
	}

	covered := map[string]bool{"multiple-problems.cfg": true} // TestMultipleProblems
	for _, tc := range tests {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			cfg, _, err := load(fixture("invalid", tc.file), nil)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if cfg != nil {
				t.Error("Load returned a Config along with an error")
			}
			errs := problemsOf(t, err)
			if !hasProblem(errs, tc.path, tc.reason) {
				t.Errorf("no problem at %q containing %q; got:\n%v", tc.path, tc.reason, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Error() does not contain %q:\n%v", tc.reason, err)
			}
		})
	}

	// Every fixture in the directory must have an expectation.
	entries, err := os.ReadDir(fixture("invalid"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !covered[e.Name()] {
			t.Errorf("fixture invalid/%s has no test case", e.Name())
		}
	}
}

func TestMultipleProblems(t *testing.T) {
	_, _, err := load(fixture("invalid", "multiple-problems.cfg"), nil)
	errs := problemsOf(t, err)
	want := []struct{ path, reason string }{
		{"server.log_level", `got "loud"`},
		{"server.inet", `(got "localhost:8080")`},
		{"server.manager_token", "required key missing"},
		{"metrics.poll_retry", "must be a non-negative integer (got -2)"},
		{"metrics.poll_parallelism", "must be at most 65535"},
		{"notify.reminder_backoff_function", "exponential"},
		{"notify.telegram.message_thread_id", "must be an integer (got string)"},
		{"probe.service[0].node[1].replicas", "non-poll node cannot have replicas"},
		{"probe.service[0].node[1].id", "configuration has duplicate node identifier: api in service: web"},
		{"probe.service[1].id", "configuration has duplicate service identifier: web"},
		{"probe.service[1].node[0].replicas[0]", "tcp replica needs host:port without a path"},
		{"probe.service[1].node[0].replicas[1]", "icmp replica needs a host only"},
		{"probe.service[1].node[0].replicas[2]", "ssh replica needs host:port without a path"},
		{"probe.service[1].node[0].replicas[3]", "unsupported scheme"},
		{"probe.service[1].node[0].http_method", `got "get"`},
	}
	for _, w := range want {
		if !hasProblem(errs, w.path, w.reason) {
			t.Errorf("missing problem %s: …%s…", w.path, w.reason)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(errs), len(want), err)
	}
	// One problem per line, formatted "path: message".
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(errs) {
		t.Fatalf("Error() has %d lines for %d problems", len(lines), len(errs))
	}
	const wantLine = "probe.service[1].node[0].replicas[0]: tcp replica needs host:port without a path"
	found := false
	for _, l := range lines {
		if strings.HasPrefix(l, wantLine) {
			found = true
		}
	}
	if !found {
		t.Errorf("no line starting with %q in:\n%v", wantLine, err)
	}
}

// TestOriginalSample loads the original Vigil's published sample with every
// section enabled: no error, one warning per placeholder that cannot work,
// and every value as written.
func TestOriginalSample(t *testing.T) {
	cfg, warnings := mustLoad(t, "original-sample.cfg", nil)
	const guessable = "is the example value from the original Vigil's sample config.cfg: anyone who has read it"
	const placeholder = "is the placeholder from the original Vigil's sample config.cfg, not a real credential"
	want := []struct{ path, reason string }{
		{"server.manager_token", guessable},
		{"server.reporter_token", guessable},
		{"plugins.rabbitmq.auth_password", placeholder},
		{"notify.email.smtp_password", placeholder},
		{"notify.twilio.account_sid", `must be letters and digits only, such as AC followed by 32 hexadecimal digits (got "account-sid")`},
		{"notify.twilio.auth_token", placeholder},
		{"notify.slack.hook_url", placeholder},
		{"notify.zulip.bot_api_key", placeholder},
		{"notify.telegram.bot_token", placeholder},
		{"notify.pushover.app_token", placeholder},
		{"notify.gotify.app_token", placeholder},
		{"notify.xmpp.xmpp_password", placeholder},
		{"notify.matrix.access_token", placeholder},
		{"notify.webex.token", placeholder},
		{"notify.webhook.hook_url", placeholder},
	}
	if len(warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(warnings), len(want), warningLines(warnings))
	}
	for i, w := range want {
		if i >= len(warnings) || warnings[i].Path != w.path || !strings.Contains(warnings[i].Message, w.reason) {
			t.Errorf("warning %d: want %s: …%s…\ngot:\n%s", i, w.path, w.reason, warningLines(warnings))
			break
		}
	}

	wantServer := config.Server{
		LogLevel: "debug", Inet: "[::1]:8080", Workers: 4, MetricsEnabled: true,
		ManagerToken: "REPLACE_THIS_WITH_A_VERY_SECRET_KEY", ReporterToken: "REPLACE_THIS_WITH_A_SECRET_KEY",
	}
	if cfg.Server != wantServer {
		t.Errorf("server = %+v", cfg.Server)
	}
	if cfg.Branding.SupportURL != "mailto:support@acme.example" {
		t.Errorf("support_url = %q", cfg.Branding.SupportURL)
	}
	if got := cfg.Metrics.PushSystemCPUSickAbove; got != float32(0.90) {
		t.Errorf("push_system_cpu_sick_above = %v", got)
	}
	wantRabbit := &config.RabbitMQ{
		APIURL: "http://127.0.0.1:15672/", AuthUsername: "rabbitmq-administrator", AuthPassword: "RABBITMQ_ADMIN_PASSWORD",
		Virtualhost: "acme", QueueReadyHealthyBelow: 500, QueueNackHealthyBelow: 100,
		QueueReadyDeadAbove: 20000, QueueNackDeadAbove: 5000, QueueLoadedRetryDelay: 500 * time.Millisecond,
	}
	if !reflect.DeepEqual(cfg.Plugins.RabbitMQ, wantRabbit) {
		t.Errorf("rabbitmq = %+v", cfg.Plugins.RabbitMQ)
	}
	wantNotify := &config.Notify{
		StartupNotification: true, ReminderInterval: 300 * time.Second,
		ReminderBackoffFunction: "linear", ReminderBackoffLimit: 3,
		Notifiers: map[string]any{
			"email": &providers.Email{
				To: "status@acme.example", From: "status@acme.example", SMTPHost: "localhost", SMTPPort: 587,
				SMTPUsername: "user-access", SMTPPassword: "user-password", SMTPEncrypt: false,
			},
			"twilio": &providers.Twilio{
				To: []string{"+336xxxxxxx", "+337xxxxxxx"}, ServiceSID: "service-sid",
				AccountSID: "account-sid", AuthToken: "auth-token", Options: providers.Options{RemindersOnly: true},
			},
			"slack": &providers.Slack{HookURL: "https://hooks.slack.com/services/xxxx", MentionChannel: true},
			"zulip": &providers.Zulip{
				BotEmail: "bot-name@domain.zulipchat.com", BotAPIKey: "xxxx", Channel: "vigil",
				APIURL: "https://domain.zulipchat.com/api/v1/",
			},
			"telegram": &providers.Telegram{BotToken: "xxxxxxxxxx:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ChatID: "xxxxxxxxx"},
			"pushover": &providers.Pushover{AppToken: "xxxx", UserKeys: []string{"xxxx"}},
			"gotify":   &providers.Gotify{AppURL: "https://push.gotify.net/", AppToken: "xxxx"},
			"xmpp":     &providers.XMPP{From: "vigil@acme.example", To: "oncall@acme.example", XMPPPassword: "xmpp-password"},
			"matrix":   &providers.Matrix{HomeserverURL: "https://matrix.org/", AccessToken: "xxxx", RoomID: "!abc123:matrix.org"},
			"webex":    &providers.Webex{EndpointURL: "https://webexapis.com/v1/messages", Token: "xxxxx", RoomID: "yyyyy"},
			"webhook":  &providers.Webhook{HookURL: "https://domain.com/webhooks/xxxx"},
		},
	}
	if !reflect.DeepEqual(cfg.Notify, wantNotify) {
		t.Errorf("notify =\n%+v\nwant\n%+v", cfg.Notify, wantNotify)
	}

	var ids []string
	for _, s := range cfg.Probe.Services {
		var nodes []string
		for _, n := range s.Nodes {
			nodes = append(nodes, n.ID+"/"+string(n.Mode))
		}
		ids = append(ids, s.ID+":"+strings.Join(nodes, ","))
	}
	wantIDs := []string{
		"web:router/poll,load-balancer/poll,help/poll,api/poll,status/poll",
		"relay:socket-client/push",
		"internal:gateway/local,capacity/local",
		"plugin:plugin-health/script",
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("services = %v, want %v", ids, wantIDs)
	}
	var kinds []config.ReplicaKind
	for _, n := range cfg.Probe.Services[0].Nodes {
		for _, r := range n.Replicas {
			kinds = append(kinds, r.Kind)
		}
	}
	if want := []config.ReplicaKind{config.KindICMP, config.KindICMP, config.KindTCP, config.KindTCP, config.KindTCP, config.KindTCP, config.KindHTTP, config.KindHTTP}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("replica kinds = %v, want %v", kinds, want)
	}
	status := cfg.Probe.Services[0].Nodes[4]
	if status.HTTPBodyHealthyMatch == nil || !status.HTTPBodyHealthyMatch.MatchString("User-agent: *") {
		t.Errorf("http_body_healthy_match = %v", status.HTTPBodyHealthyMatch)
	}
	push := cfg.Probe.Services[1].Nodes[0]
	if !push.RevealReplicaName || push.RabbitMQQueue != "client" || *push.RabbitMQQueueNackHealthyBelow != 100 || *push.RabbitMQQueueNackDeadAbove != 1000 {
		t.Errorf("push node = %+v", push)
	}
	script := cfg.Probe.Services[3].Nodes[0]
	if len(script.Scripts) != 1 || !strings.Contains(script.Scripts[0], `if [ -z "$status" ]; then`) ||
		strings.Count(script.Scripts[0], "\n") < 10 || script.LinkLabel != "See status details" {
		t.Errorf("script node = %+v", script)
	}
	if got := pollReplicaCount(cfg); got != 8 {
		t.Errorf("poll replicas = %d, want 8", got)
	}
}

// pollReplicaCount returns the number of poll replicas over all nodes of
// all services (duplicates already collapsed).
func pollReplicaCount(c *config.Config) int {
	n := 0
	for _, s := range c.Probe.Services {
		for _, node := range s.Nodes {
			n += len(node.Replicas)
		}
	}
	return n
}

// warningLines formats warnings one per line, for failure messages.
func warningLines(ws []config.Issue) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("  " + w.String() + "\n")
	}
	return b.String()
}

func TestEveryKey(t *testing.T) {
	cfg, warnings := mustLoad(t, "every-key.cfg", nil)
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings: %v", warnings)
	}

	wantServer := config.Server{
		LogLevel: "info", Inet: "0.0.0.0:9090", Workers: 8, MCPServer: true,
		ManagerToken: "manager-secret", ReporterToken: "reporter-secret", MetricsEnabled: true,
	}
	if cfg.Server != wantServer {
		t.Errorf("server = %+v, want %+v", cfg.Server, wantServer)
	}
	if cfg.Assets != (config.Assets{Path: "./no-such-assets-dir/", PathExists: false}) {
		t.Errorf("assets = %+v", cfg.Assets)
	}
	wantBranding := config.Branding{
		PageTitle:   "Example Status",
		PageURL:     "https://status.example.com/",
		CompanyName: "Example SAS",
		IconColor:   "#1972F5",
		IconURL:     "https://example.com/icon.png",
		LogoColor:   "#000000",
		LogoURL:     "https://example.com/logo.svg",
		WebsiteURL:  "http://example.com/",
		SupportURL:  "mailto:support@example.com",
		CustomHTML:  `<meta name="x" content="y">`,
	}
	if cfg.Branding != wantBranding {
		t.Errorf("branding = %+v, want %+v", cfg.Branding, wantBranding)
	}
	wantMetrics := config.Metrics{
		PollInterval:               60 * time.Second,
		PollRetry:                  3,
		PollRetryWait:              250 * time.Millisecond,
		PollHTTPStatusHealthyAbove: 100,
		PollHTTPStatusHealthyBelow: 300,
		PollDelayDead:              15 * time.Second,
		PollDelaySick:              3 * time.Second,
		PollParallelism:            1, // 0 is stored as 1
		PushDelayDead:              30 * time.Second,
		PushSystemCPUSickAbove:     0.5,
		PushSystemRAMSickAbove:     1, // a TOML integer for an f32
		ScriptInterval:             600 * time.Second,
		ScriptParallelism:          1,
		ScriptTimeout:              30 * time.Second,
		LocalDelayDead:             50 * time.Second,
		PushReplicasMax:            0,
	}
	if cfg.Metrics != wantMetrics {
		t.Errorf("metrics = %+v, want %+v", cfg.Metrics, wantMetrics)
	}
	wantRabbit := &config.RabbitMQ{
		APIURL: "http://127.0.0.1:15672/", AuthUsername: "admin", AuthPassword: "rabbit-secret",
		Virtualhost: "example", QueueReadyHealthyBelow: 500, QueueNackHealthyBelow: 100,
		QueueReadyDeadAbove: 20000, QueueNackDeadAbove: 5000, QueueLoadedRetryDelay: 750 * time.Millisecond,
	}
	if !reflect.DeepEqual(cfg.Plugins.RabbitMQ, wantRabbit) {
		t.Errorf("rabbitmq = %+v", cfg.Plugins.RabbitMQ)
	}

	threadID := int64(-42)
	wantNotify := &config.Notify{
		StartupNotification:     false,
		ReminderInterval:        300 * time.Second,
		ReminderBackoffFunction: "cubic",
		ReminderBackoffLimit:    5,
		ReminderEscalate:        true,
		Notifiers: map[string]any{
			"email": &providers.Email{
				To: "oncall@example.com", From: "status@example.com", SMTPHost: "smtp.example.com",
				SMTPPort: 465, SMTPUsername: "mailer", SMTPPassword: "mail-secret", SMTPEncrypt: false,
				Options: providers.Options{RemindersOnly: true},
			},
			"twilio": &providers.Twilio{
				To: []string{"+33600000001", "+33600000002"}, ServiceSID: "service-sid",
				AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "0123456789abcdef0123456789abcdef", Options: providers.Options{RemindersOnly: true},
			},
			"slack": &providers.Slack{HookURL: "https://hooks.slack.com/services/T0000/B0000/everykey", MentionChannel: true, Options: providers.Options{RemindersOnly: true}},
			"zulip": &providers.Zulip{
				BotEmail: "bot@example.zulipchat.com", BotAPIKey: "zulip-key", Channel: "vigil",
				APIURL: "https://example.zulipchat.com/api/v1/", Options: providers.Options{RemindersOnly: true},
			},
			"telegram": &providers.Telegram{BotToken: "123456:every-key_token", ChatID: "@example", MessageThreadID: &threadID, Options: providers.Options{RemindersOnly: true}},
			"pushover": &providers.Pushover{AppToken: "pushover-token", UserKeys: []string{"key-1", "key-2", "key-3"}, Options: providers.Options{RemindersOnly: true}},
			"gotify":   &providers.Gotify{AppURL: "https://push.example.com/", AppToken: "gotify-token", Options: providers.Options{RemindersOnly: true}},
			"xmpp":     &providers.XMPP{To: "oncall@example.com", From: "vigil@example.com", XMPPPassword: "xmpp-secret", Options: providers.Options{RemindersOnly: true}},
			"matrix":   &providers.Matrix{HomeserverURL: "https://matrix.org/", AccessToken: "matrix-token", RoomID: "!abc123:matrix.org", Options: providers.Options{RemindersOnly: true}},
			"webex":    &providers.Webex{EndpointURL: "https://webexapis.com/v1/messages", Token: "webex-token", RoomID: "webex-room", Options: providers.Options{RemindersOnly: true}},
			"webhook":  &providers.Webhook{HookURL: "https://example.com/webhooks/vigil"},
		},
	}
	if !reflect.DeepEqual(cfg.Notify, wantNotify) {
		t.Errorf("notify =\n%+v\nwant\n%+v", cfg.Notify, wantNotify)
	}

	svcs := cfg.Probe.Services
	if len(svcs) != 4 {
		t.Fatalf("%d services", len(svcs))
	}
	web := svcs[0]
	if web.ID != "web" || web.Label != "Web nodes" || len(web.Nodes) != 5 {
		t.Fatalf("web = %+v", web)
	}

	router := web.Nodes[0]
	wantRouter := []config.Replica{
		{ID: "icmp://edge-1.example.net", Kind: config.KindICMP, Host: "edge-1.example.net"},
		{ID: "icmp://[2001:db8::1]", Kind: config.KindICMP, Host: "2001:db8::1"},
		{ID: "icmp://edge-2.example.net?ignored=1#fragment", Kind: config.KindICMP, Host: "edge-2.example.net"},
	}
	if router.Mode != config.ModePoll || !reflect.DeepEqual(router.Replicas, wantRouter) {
		t.Errorf("router replicas = %+v", router.Replicas)
	}

	lb := web.Nodes[1]
	wantLB := []config.Replica{
		{ID: "tcp://edge-1.example.net:80", Kind: config.KindTCP, Host: "edge-1.example.net", Port: "80"},
		{ID: "tcp://[::1]:8080", Kind: config.KindTCP, Host: "::1", Port: "8080"},
		{ID: "ssh://bastion.example.net:22", Kind: config.KindSSH, Host: "bastion.example.net", Port: "22"},
		{ID: "SSH://user@Bastion.example.net:2222?x=1#y", Kind: config.KindSSH, Host: "Bastion.example.net", Port: "2222"},
	}
	if !reflect.DeepEqual(lb.Replicas, wantLB) {
		t.Errorf("load-balancer replicas = %+v", lb.Replicas)
	}

	api := web.Nodes[2]
	wantAPIReplicas := []config.Replica{
		{ID: "https://API.example.com", Kind: config.KindHTTP, URL: "https://api.example.com/"},
		{ID: "http://api.example.com:8080/health?full=1", Kind: config.KindHTTP, URL: "http://api.example.com:8080/health?full=1"},
	}
	if !reflect.DeepEqual(api.Replicas, wantAPIReplicas) {
		t.Errorf("api replicas = %+v", api.Replicas)
	}
	wantHeaders := []config.Header{
		{"Authorization", "Bearer xxxx"}, {"X-Multi", "a"}, {"X-Multi", "b"}, {"Accept", "text/plain"},
	}
	if !reflect.DeepEqual(api.HTTPHeaders, wantHeaders) {
		t.Errorf("api headers = %+v, want %+v", api.HTTPHeaders, wantHeaders)
	}
	if api.HTTPMethod != "POST" || api.HTTPBody == nil || *api.HTTPBody != `{"ping": true}` {
		t.Errorf("api method/body = %q %v", api.HTTPMethod, api.HTTPBody)
	}
	if api.HTTPBodyHealthyMatch == nil || api.HTTPBodyHealthyMatch.String() != `^ok\b` {
		t.Errorf("api match = %v", api.HTTPBodyHealthyMatch)
	}
	if !api.RevealReplicaName || api.LinkURL != "https://example.com/" || api.LinkLabel != "Details" {
		t.Errorf("api link = %v %q %q", api.RevealReplicaName, api.LinkURL, api.LinkLabel)
	}

	sub := web.Nodes[3]
	wantSub := []config.Header{{Name: "Zeta", Value: "1"}, {Name: "Alpha", Value: "2"}, {Name: "Alpha", Value: "3"}, {Name: "Middle", Value: "4"}}
	if !reflect.DeepEqual(sub.HTTPHeaders, wantSub) || sub.HTTPMethod != "HEAD" {
		t.Errorf("sub-table headers = %+v (%q)", sub.HTTPHeaders, sub.HTTPMethod)
	}
	dotted := web.Nodes[4]
	if want := []config.Header{{Name: "X-Second", Value: "2"}, {Name: "X-First", Value: "1"}}; !reflect.DeepEqual(dotted.HTTPHeaders, want) {
		t.Errorf("dotted headers = %+v", dotted.HTTPHeaders)
	}
	if empty := svcs[2].Nodes[2]; empty.Mode != config.ModePoll || empty.Replicas != nil {
		t.Errorf("empty poll node = %+v", empty)
	}

	push := svcs[1].Nodes[0]
	if push.Mode != config.ModePush || push.RabbitMQQueue != "client" ||
		push.RabbitMQQueueNackHealthyBelow == nil || *push.RabbitMQQueueNackHealthyBelow != 100 ||
		push.RabbitMQQueueNackDeadAbove == nil || *push.RabbitMQQueueNackDeadAbove != 4294967295 {
		t.Errorf("push node = %+v", push)
	}
	if push.HTTPBody != nil || push.HTTPBodyHealthyMatch != nil || push.HTTPHeaders != nil {
		t.Errorf("push node has HTTP settings: %+v", push)
	}

	internal := svcs[2]
	if internal.Nodes[0].Mode != config.ModeLocal {
		t.Errorf("gateway mode = %q", internal.Nodes[0].Mode)
	}
	script := internal.Nodes[1]
	if script.Mode != config.ModeScript || len(script.Scripts) != 2 ||
		strings.TrimSpace(script.Scripts[0]) != "exit 0" || script.Scripts[1] != "exit 1" {
		t.Errorf("scripts = %q", script.Scripts)
	}

	inline := svcs[3].Nodes[0]
	if want := []config.Header{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}; !reflect.DeepEqual(inline.HTTPHeaders, want) {
		t.Errorf("inline-array node headers = %+v", inline.HTTPHeaders)
	}
	if inline.ID != "api" || inline.Replicas[0].URL != "https://example.org/" {
		t.Errorf("inline-array node = %+v", inline)
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	cfg, warnings := mustLoad(t, "unknown-keys.cfg", nil)
	if cfg.Notify == nil || cfg.Notify.Notifiers["webhook"] == nil {
		t.Fatal("known tables next to unknown ones were not decoded")
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.Path)
		if w.Message == "" {
			t.Errorf("warning %s has no message", w.Path)
		}
	}
	want := []string{
		"server.foo",
		"server.extra",
		"metrics.poll_intervall",
		"plugins.kafka",
		"notify.webhook.reminders_only",
		"notify.nosuch",
		"probe.service[0].node[1].typo",
		`probe.service[0].node[1]."odd key.with dots"`,
		"probe.service[0].node[1].nested",
		"probe.service[0].colour",
		"nosuch_array",
		"unknown_table",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warning paths =\n%q\nwant\n%q", got, want)
	}
}

func TestMinimalDefaults(t *testing.T) {
	cfg, warnings := mustLoad(t, "minimal.cfg", nil)
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	want := config.Config{
		Server: config.Server{
			LogLevel: "error", Inet: "[::1]:8080", Workers: 4,
			ManagerToken: "manager-secret", ReporterToken: "reporter-secret", MetricsEnabled: true,
		},
		Assets: config.Assets{Path: "./res/assets/"},
		Branding: config.Branding{
			PageTitle:   "Status Page",
			PageURL:     "https://status.example.com/",
			CompanyName: "Example SAS",
			IconColor:   "#1972F5",
			IconURL:     "https://example.com/icon.png",
			LogoColor:   "#1972F5",
			LogoURL:     "https://example.com/logo.svg",
			WebsiteURL:  "https://example.com/",
			SupportURL:  "mailto:support@example.com",
		},
		Metrics: config.Metrics{
			PollInterval:               120 * time.Second,
			PollRetry:                  2,
			PollRetryWait:              500 * time.Millisecond,
			PollHTTPStatusHealthyAbove: 200,
			PollHTTPStatusHealthyBelow: 400,
			PollDelayDead:              10 * time.Second,
			PollDelaySick:              5 * time.Second,
			PollParallelism:            4,
			PushDelayDead:              20 * time.Second,
			PushSystemCPUSickAbove:     0.99,
			PushSystemRAMSickAbove:     0.99,
			ScriptInterval:             300 * time.Second,
			ScriptParallelism:          2,
			ScriptTimeout:              300 * time.Second,
			LocalDelayDead:             40 * time.Second,
			PushReplicasMax:            1000,
		},
		Probe:   config.Probe{Services: []config.Service{}},
		Storage: config.Storage{Enabled: true, StorageCluster: config.StorageCluster{LeaseTTL: 10 * time.Second, LeaseRenew: 2 * time.Second}},
	}
	// The working directory of the test is config/, where ./res/assets/
	// does not exist.
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("minimal config =\n%+v\nwant\n%+v", *cfg, want)
	}
	if cfg.Notify != nil || cfg.Plugins.RabbitMQ != nil {
		t.Error("optional tables decoded although absent")
	}
}

// minimalText is the minimal valid configuration, with %s placeholders
// replaced by callers through strings.Replace.
const minimalText = `
[server]
manager_token = "MANAGER"
reporter_token = "REPORTER"
[assets]
[branding]
page_url = "https://status.example.com"
company_name = "Example"
icon_color = "#fff"
icon_url = "https://example.com/i.png"
logo_color = "#fff"
logo_url = "https://example.com/l.svg"
website_url = "https://example.com"
support_url = "https://example.com/support"
[metrics]
EXTRA
[probe]
service = []
`

// withPollNode is minimalText with one service "s" holding one poll node
// "n" that has the given keys.
func withPollNode(keys string) string {
	text := strings.Replace(minimalText, "[probe]\nservice = []\n", `[probe]
[[probe.service]]
id = "s"
label = "S"
[[probe.service.node]]
id = "n"
label = "N"
mode = "poll"
`+keys, 1)
	return strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(text)
}

// parseWith parses minimalText with its placeholders replaced.
func parseWith(t *testing.T, manager, reporter, extra string, environ []string) (*config.Config, []config.Issue, error) {
	t.Helper()
	text := strings.NewReplacer("MANAGER", manager, "REPORTER", reporter, "EXTRA", extra).Replace(minimalText)
	return parse([]byte(text), environ)
}

func TestNotifyDefaults(t *testing.T) {
	cfg, _, err := parseWith(t, "m", "r", "[notify]\n[notify.email]\nto = \"a@x\"\nfrom = \"b@x\"\n[notify.webhook]\nhook_url = \"HTTPS://Hooks.Example.com\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Notify{
		StartupNotification:     true,
		ReminderBackoffFunction: "none",
		ReminderBackoffLimit:    3,
		Notifiers: map[string]any{
			"email":   &providers.Email{To: "a@x", From: "b@x", SMTPHost: "localhost", SMTPPort: 587, SMTPEncrypt: true},
			"webhook": &providers.Webhook{HookURL: "https://hooks.example.com/"},
		},
	}
	if !reflect.DeepEqual(cfg.Notify, want) {
		t.Errorf("notify = %+v, want %+v", cfg.Notify, want)
	}
}

func TestScriptTimeoutDefaultsToInterval(t *testing.T) {
	cfg, _, err := parseWith(t, "m", "r", "script_interval = 42", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.ScriptTimeout != 42*time.Second {
		t.Errorf("script_timeout = %v, want 42s", cfg.Metrics.ScriptTimeout)
	}
	cfg, _, err = parseWith(t, "m", "r", "script_interval = 0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.ScriptTimeout != 300*time.Second {
		t.Errorf("script_timeout with script_interval = 0: %v, want 300s", cfg.Metrics.ScriptTimeout)
	}
}

func TestLogLevelCaseInsensitive(t *testing.T) {
	cfg, _, err := parseWith(t, "m", "r", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.LogLevel != "error" {
		t.Errorf("default log level %q", cfg.Server.LogLevel)
	}
	text := strings.Replace(minimalText, "[server]", "[server]\nlog_level = \"WaRn\"\ninet = \"[::]:80\"", 1)
	text = strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(text)
	cfg, _, err = parse([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.LogLevel != "warn" || cfg.Server.Inet != "[::]:80" {
		t.Errorf("server = %+v", cfg.Server)
	}
}

func TestAssetsPathExists(t *testing.T) {
	dir := t.TempDir()
	text := strings.Replace(minimalText, "[assets]", "[assets]\npath = '"+dir+"'", 1)
	text = strings.NewReplacer("MANAGER", "m", "REPORTER", "r", "EXTRA", "").Replace(text)
	cfg, _, err := parse([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Assets.Path != dir || !cfg.Assets.PathExists {
		t.Errorf("assets = %+v", cfg.Assets)
	}
}

func TestInterpolationInConfig(t *testing.T) {
	environ := []string{
		"VIGIL_MANAGER_TOKEN=abc",
		"PLAIN=plain-value",
		// Values (and names) with $, { or } are skipped, never fatal.
		"WEIRD=${oops}",
		"DOLLAR=a$b",
		"BRACES={}",
		"BAD{NAME}=x",
	}
	extra := "# a comment mentioning ${PLAIN} and ${WEIRD} is harmless\n"
	text := strings.Replace(minimalText, `company_name = "Example"`, `company_name = "${UNDEFINED_VAR}-$PLAIN-$$"`, 1)
	text = strings.NewReplacer("MANAGER", "${VIGIL_MANAGER_TOKEN}", "REPORTER", "r", "EXTRA", extra).Replace(text)
	cfg, warnings, err := parse([]byte(text), environ)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.ManagerToken != "abc" {
		t.Errorf("manager_token = %q, want abc", cfg.Server.ManagerToken)
	}
	// An undefined variable outside secrets stays as written, with a
	// warning; comments are not values and never warn.
	if want := "${UNDEFINED_VAR}-$PLAIN-$$"; cfg.Branding.CompanyName != want {
		t.Errorf("company_name = %q, want %q", cfg.Branding.CompanyName, want)
	}
	if len(warnings) != 1 || warnings[0].String() != "branding.company_name: environment variable UNDEFINED_VAR is not set; ${UNDEFINED_VAR} is kept as written" {
		t.Errorf("warnings:\n%s", warningLines(warnings))
	}
}

func TestInterpolationCanBreakTOMLLikeTheOriginal(t *testing.T) {
	// Values are inserted verbatim: an unquoted reference yields whatever
	// TOML the value spells, and a newline in a comment's variable ends the
	// comment. Both are the original's behaviour, reported as problems.
	_, _, err := parseWith(t, "m", "r", "# ${NL}\n", []string{"NL=x\npoll_interval = -5"})
	errs := problemsOf(t, err)
	if !hasProblem(errs, "metrics.poll_interval", "non-negative") {
		t.Errorf("got %v", err)
	}
}

func TestInterpolate(t *testing.T) {
	environ := []string{"A=1", "B=two", "EMPTY=", "X:-y=colon", "A=last", "BAD=$x", "NOEQUALS", "=nameless"}
	tests := []struct{ in, want string }{
		{"${A}", "last"},
		{"${B}${B}", "twotwo"},
		{"x${EMPTY}y", "xy"},
		{"$A $$ ${", "$A $$ ${"},
		{"${UNDEFINED}", "${UNDEFINED}"},
		{"${X:-y}", "colon"},
		{"${A:-default}", "${A:-default}"},
		{"${BAD}", "${BAD}"},
		{"$${B}", "$two"},
		{"${${B}}", "${two}"},
		{"${}", "${}"},
		{"${B", "${B"},
		{"# ${B} in a comment", "# two in a comment"},
		{"ünï${B}cødé", "ünïtwocødé"},
	}
	for _, tc := range tests {
		if got := string(config.Interpolate([]byte(tc.in), environ)); got != tc.want {
			t.Errorf("Interpolate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := string(config.Interpolate([]byte("${A}"), nil)); got != "${A}" {
		t.Errorf("nil environ: %q", got)
	}
}

func TestParseSyntaxErrorPosition(t *testing.T) {
	_, _, err := parse([]byte("[server]\nmanager_token = \"x\nreporter_token = \"y\"\n"), nil)
	errs := problemsOf(t, err)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "TOML syntax error at line 2, column") {
		t.Errorf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := load(filepath.Join(t.TempDir(), "nope.cfg"), nil)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestReminderIntervalZeroWarns(t *testing.T) {
	cfg, warnings, err := parseWith(t, "m", "r", "[notify]\nreminder_interval = 0\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Notify.ReminderInterval != 0 || len(warnings) != 1 || warnings[0].Path != "notify.reminder_interval" {
		t.Errorf("interval %v, warnings %v", cfg.Notify.ReminderInterval, warnings)
	}
}

func TestNodeKeyOrderSurvivesWeirdKeys(t *testing.T) {
	text := withPollNode(`replicas = ["https://example.com/"]
[probe.service.node.http_headers]
"X-Quoted" = "1"
'X-Literal' = "2"
X-Bare = ["3", "4"]
`)
	cfg, _, err := parse([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Header{{Name: "X-Quoted", Value: "1"}, {Name: "X-Literal", Value: "2"}, {Name: "X-Bare", Value: "3"}, {Name: "X-Bare", Value: "4"}}
	if got := cfg.Probe.Services[0].Nodes[0].HTTPHeaders; !reflect.DeepEqual(got, want) {
		t.Errorf("headers = %+v", got)
	}
}

// TestArrayProblemsNameEveryElement: in an array of strings, an element of
// the wrong type does not hide the problems of the others.
func TestArrayProblemsNameEveryElement(t *testing.T) {
	text := withPollNode(`replicas = ["https://ok.example.com/", 3, "no-scheme", "tcp://db:5432"]
`)
	_, _, err := parse([]byte(text), nil)
	errs := problemsOf(t, err)
	const r = "probe.service[0].node[0].replicas"
	want := config.Errors{
		{Path: r + "[1]", Message: "must be a string (got integer)"},
		{Path: r + "[2]", Message: `invalid replica url: invalid URL "no-scheme": not absolute (a scheme such as https:// is required)`},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("problems:\n%v\nwant:\n%v", errs, want)
	}
}

func TestHeaderProblemsNameArrayElements(t *testing.T) {
	text := withPollNode(`http_headers = { X-Ok = ["fine", "bad\u0000value", 3], X-Table = { a = "b" } }
`)
	_, _, err := parse([]byte(text), nil)
	errs := problemsOf(t, err)
	const h = "probe.service[0].node[0].http_headers"
	for _, w := range []struct{ path, reason string }{
		{h + ".X-Ok[1]", "invalid HTTP header value"},
		{h + ".X-Ok[2]", "must be a string (got integer)"},
		{h + ".X-Table", "must be a string or an array of strings (got table)"},
	} {
		if !hasProblem(errs, w.path, w.reason) {
			t.Errorf("missing %s: %s in\n%v", w.path, w.reason, err)
		}
	}
	if len(errs) != 3 {
		t.Errorf("got %d problems:\n%v", len(errs), err)
	}
}

func TestStorageSection(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "config", "valid", "minimal.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := parse(append(base, []byte("\n[storage]\nenabled = false\npath = \"/var/lib/vigil\"\n")...), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v warnings %v", err, warnings)
	}
	if cfg.Storage != (config.Storage{Enabled: false, Path: "/var/lib/vigil", StorageCluster: config.StorageCluster{LeaseTTL: 10 * time.Second, LeaseRenew: 2 * time.Second}}) {
		t.Fatalf("storage %+v", cfg.Storage)
	}
	_, _, err = parse(append(base, []byte("\n[storage]\nenabled = \"yes\"\n")...), nil)
	if err == nil || !strings.Contains(err.Error(), "storage.enabled") {
		t.Fatalf("bad storage.enabled: %v", err)
	}
}

// TestServiceSLO: slo is a percentage strictly between 0 and 100, written
// as a float or an integer; unset, it is 0.
func TestServiceSLO(t *testing.T) {
	cfg, warnings, err := load(filepath.Join("testdata", "slo-valid.cfg"), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v, warnings %v", err, warnings)
	}
	var got []float64
	for _, s := range cfg.Probe.Services {
		got = append(got, s.SLO)
	}
	if want := []float64{99.9, 99, 0, 99.99999}; !reflect.DeepEqual(got, want) {
		t.Errorf("slo = %v, want %v", got, want)
	}

	_, _, err = load(filepath.Join("testdata", "slo-invalid.cfg"), nil)
	want := []string{
		"probe.service[0].slo: must be more than 0 and less than 100 (got 100)",
		"probe.service[1].slo: must be more than 0 and less than 100 (got 0)",
		"probe.service[2].slo: must be more than 0 and less than 100 (got -1)",
		"probe.service[3].slo: must be more than 0 and less than 100 (got 100.5)",
		"probe.service[4].slo: must be a number (got string)",
		"probe.service[5].slo: must be more than 0 and less than 100 (got NaN)",
		"probe.service[6].slo: must be more than 0 and less than 100 (got +Inf)",
	}
	if got := strings.Split(problemsOf(t, err).Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFloatOutOfRange: a 32-bit float key refuses a value it cannot hold,
// and takes an integer.
func TestFloatOutOfRange(t *testing.T) {
	_, _, err := parseWith(t, "m", "r", "push_system_cpu_sick_above = 1e39", nil)
	if got, want := problemsOf(t, err).Error(), "metrics.push_system_cpu_sick_above: out of range for a 32-bit float (got 1e+39)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	cfg, _, err := parseWith(t, "m", "r", "push_system_cpu_sick_above = 1\npush_system_ram_sick_above = -inf", nil)
	if err != nil || cfg.Metrics.PushSystemCPUSickAbove != 1 || !math.IsInf(float64(cfg.Metrics.PushSystemRAMSickAbove), -1) {
		t.Errorf("err %v, metrics %+v", err, cfg.Metrics)
	}
}
