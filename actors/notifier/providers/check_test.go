package providers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-go/vigil/config"
)

// problemPaths lists the key paths of configuration problems, in order.
func problemPaths(errs config.Errors) []string {
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	return paths
}

// TestPlaceholdersBuild: every notifier builds from the original sample's
// placeholders, and from the blank or odd values the original accepts (the
// configuration loader warns about the ones that cannot work); the
// providers refuse none of them.
func TestPlaceholdersBuild(t *testing.T) {
	cases := []struct {
		name string
		n    config.Notify
	}{
		{"email sample", config.Notify{Email: &config.Email{From: "status@acme.example", To: "status@acme.example", SMTPHost: "localhost",
			SMTPPort: 587, SMTPUsername: "user-access", SMTPPassword: "user-password"}}},
		{"email odd", config.Notify{Email: &config.Email{From: "Status <s@x>", To: "not an address", SMTPPort: 0}}},
		{"twilio sample", config.Notify{Twilio: &config.Twilio{To: []string{"+336xxxxxxx", "+337xxxxxxx"}, ServiceSID: "service-sid",
			AccountSID: "account-sid", AuthToken: "auth-token", RemindersOnly: true}}},
		{"twilio empty", config.Notify{Twilio: &config.Twilio{To: []string{}, AccountSID: "AC/../x"}}},
		{"slack sample", config.Notify{Slack: &config.Slack{HookURL: "https://hooks.slack.com/services/xxxx", MentionChannel: true}}},
		{"slack ftp", config.Notify{Slack: &config.Slack{HookURL: "ftp://hooks.slack.com/x"}}},
		{"zulip sample", config.Notify{Zulip: &config.Zulip{BotEmail: "bot-name@domain.zulipchat.com", BotAPIKey: "xxxx", Channel: "vigil",
			APIURL: "https://domain.zulipchat.com/api/v1/"}}},
		{"zulip odd", config.Notify{Zulip: &config.Zulip{BotEmail: "a:b", APIURL: "mailto:x"}}},
		{"telegram sample", config.Notify{Telegram: &config.Telegram{BotToken: "xxxxxxxxxx:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ChatID: "xxxxxxxxx"}}},
		{"telegram odd", config.Notify{Telegram: &config.Telegram{BotToken: "12 34/..", ChatID: " "}}},
		{"pushover sample", config.Notify{Pushover: &config.Pushover{AppToken: "xxxx", UserKeys: []string{"xxxx"}}}},
		{"pushover empty", config.Notify{Pushover: &config.Pushover{}}},
		{"gotify sample", config.Notify{Gotify: &config.Gotify{AppURL: "https://push.gotify.net/", AppToken: "xxxx"}}},
		{"gotify odd", config.Notify{Gotify: &config.Gotify{AppURL: "ftp://push.example.com/"}}},
		{"xmpp sample", config.Notify{XMPP: &config.XMPP{From: "vigil@acme.example", To: "oncall@acme.example", XMPPPassword: "xmpp-password"}}},
		{"xmpp odd", config.Notify{XMPP: &config.XMPP{From: "example.com", To: "ops@"}}},
		{"matrix sample", config.Notify{Matrix: &config.Matrix{HomeserverURL: "https://matrix.org/", AccessToken: "xxxx", RoomID: "!abc123:matrix.org"}}},
		{"matrix odd", config.Notify{Matrix: &config.Matrix{HomeserverURL: "matrix.example.org"}}},
		{"webex sample", config.Notify{Webex: &config.Webex{EndpointURL: "https://webexapis.com/v1/messages", Token: "xxxxx", RoomID: "yyyyy"}}},
		{"webex odd", config.Notify{Webex: &config.Webex{EndpointURL: "mailto:x@example.com"}}},
		{"webhook sample", config.Notify{Webhook: &config.Webhook{HookURL: "https://domain.com/webhooks/xxxx"}}},
		{"webhook odd", config.Notify{Webhook: &config.Webhook{HookURL: "file:///tmp/hook"}}},
	}
	for _, tc := range cases {
		n := tc.n
		built, notes, problems := Build(&config.Config{Notify: &n}, tDeps(nil))
		if len(built) != 1 || len(notes) != 0 || len(problems) != 0 {
			t.Errorf("%s: built %d, notes %v, problems %v", tc.name, len(built), notes, problems)
		}
	}
}

// refusingAPI is a local server standing in for every cloud API: it
// counts the requests that reach it and fails them.
func refusingAPI(t *testing.T) (*http.Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, "refused by the test", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return clientTo(t, srv), &hits
}

// TestPlaceholderDeliveries: what placeholders do when a notification is
// sent. Unusable credentials and addresses fail before any request; an
// empty recipient list sends nothing; other placeholders reach the API,
// which refuses them.
func TestPlaceholderDeliveries(t *testing.T) {
	n := provCases()[1].n
	ctx := context.Background()

	client, hits := refusingAPI(t)
	d := tDeps(client)
	tw, _ := newTwilio(&config.Notify{Twilio: &config.Twilio{To: []string{"+336xxxxxxx"}, ServiceSID: "service-sid",
		AccountSID: "account-sid", AuthToken: "auth-token"}}, d)
	if err := tw.Send(ctx, n, nil); err == nil || hits.Load() != 0 {
		t.Errorf("twilio with placeholder credentials: err %v, %d requests", err, hits.Load())
	}

	empty, _ := newTwilio(&config.Notify{Twilio: &config.Twilio{To: []string{}, AccountSID: twTestAccount, AuthToken: twTestToken}}, d)
	if err := empty.Send(ctx, n, nil); err != nil || hits.Load() != 0 {
		t.Errorf("twilio without recipients: err %v, %d requests", err, hits.Load())
	}
	po, _ := newPushover(&config.Notify{Pushover: &config.Pushover{AppToken: "xxxx"}}, d)
	if err := po.Send(ctx, n, nil); err != nil || hits.Load() != 0 {
		t.Errorf("pushover without user keys: err %v, %d requests", err, hits.Load())
	}

	x, _ := newXMPP(&config.Notify{XMPP: &config.XMPP{From: "example.com", To: "ops@example.com", XMPPPassword: "pw"}}, d)
	if err := x.Send(ctx, n, nil); err == nil || !strings.Contains(err.Error(), `from "example.com" is not an account JID`) {
		t.Errorf("xmpp without a local part: %v", err)
	}
	x, _ = newXMPP(&config.Notify{XMPP: &config.XMPP{From: "vigil@example.com", To: "ops@", XMPPPassword: "pw"}}, d)
	if err := x.Send(ctx, n, nil); err == nil || !strings.Contains(err.Error(), `to "ops@" is not a JID`) {
		t.Errorf("xmpp with a bad recipient: %v", err)
	}

	// Non-HTTP URLs fail in the notifiers' real client, before any
	// connection.
	real := tDeps(NewHTTPClient())
	for _, p := range []func() (any, error){
		func() (any, error) {
			p, _ := newSlack(&config.Notify{Slack: &config.Slack{HookURL: "ftp://hooks.slack.com/x"}}, real)
			return p, p.Send(ctx, n, nil)
		},
		func() (any, error) {
			p, _ := newWebhook(&config.Notify{Webhook: &config.Webhook{HookURL: "file:///tmp/hook"}}, real)
			return p, p.Send(ctx, n, nil)
		},
		func() (any, error) {
			p, _ := newWebex(&config.Notify{Webex: &config.Webex{EndpointURL: "mailto:x@example.com", Token: "t", RoomID: "r"}}, real)
			return p, p.Send(ctx, n, nil)
		},
	} {
		if prov, err := p(); err == nil || !strings.Contains(err.Error(), "unsupported protocol scheme") {
			t.Errorf("%T with a non-HTTP URL: %v", prov, err)
		}
	}

	// The sample's Slack hook reaches the (stand-in) API and is refused.
	sl, _ := newSlack(&config.Notify{Slack: &config.Slack{HookURL: "https://hooks.slack.com/services/xxxx"}}, d)
	if err := sl.Send(ctx, n, nil); err == nil || hits.Load() != 1 {
		t.Errorf("slack placeholder: err %v, %d requests", err, hits.Load())
	}
}

// TestBuildReportsUnparsableURL: the one problem left to the providers is a
// URL they cannot parse (the loader never hands them one).
func TestBuildReportsUnparsableURL(t *testing.T) {
	cfg := &config.Config{Notify: &config.Notify{
		Gotify:  &config.Gotify{AppURL: "http://[::1", AppToken: "t"},
		Matrix:  &config.Matrix{HomeserverURL: "http://[::1", AccessToken: "t", RoomID: "r"},
		Webhook: &config.Webhook{HookURL: "https://example.com/hook"},
	}}
	built, _, problems := Build(cfg, tDeps(nil))
	paths := problemPaths(problems)
	if len(built) != 1 || len(paths) != 2 || paths[0] != "notify.gotify.app_url" || paths[1] != "notify.matrix.homeserver_url" {
		t.Fatalf("built %d, problems %v", len(built), problems)
	}
}
