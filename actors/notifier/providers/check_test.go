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
		s    Section
	}{
		{"email sample", &Email{From: "status@acme.example", To: "status@acme.example", SMTPHost: "localhost",
			SMTPPort: 587, SMTPUsername: "user-access", SMTPPassword: "user-password"}},
		{"email odd", &Email{From: "Status <s@x>", To: "not an address", SMTPPort: 0}},
		{"twilio sample", &Twilio{To: []string{"+336xxxxxxx", "+337xxxxxxx"}, ServiceSID: "service-sid",
			AccountSID: "account-sid", AuthToken: "auth-token", Options: Options{RemindersOnly: true}}},
		{"twilio empty", &Twilio{To: []string{}, AccountSID: "AC/../x"}},
		{"slack sample", &Slack{HookURL: "https://hooks.slack.com/services/xxxx", MentionChannel: true}},
		{"slack ftp", &Slack{HookURL: "ftp://hooks.slack.com/x"}},
		{"zulip sample", &Zulip{BotEmail: "bot-name@domain.zulipchat.com", BotAPIKey: "xxxx", Channel: "vigil",
			APIURL: "https://domain.zulipchat.com/api/v1/"}},
		{"zulip odd", &Zulip{BotEmail: "a:b", APIURL: "mailto:x"}},
		{"telegram sample", &Telegram{BotToken: "xxxxxxxxxx:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ChatID: "xxxxxxxxx"}},
		{"telegram odd", &Telegram{BotToken: "12 34/..", ChatID: " "}},
		{"pushover sample", &Pushover{AppToken: "xxxx", UserKeys: []string{"xxxx"}}},
		{"pushover empty", &Pushover{}},
		{"gotify sample", &Gotify{AppURL: "https://push.gotify.net/", AppToken: "xxxx"}},
		{"gotify odd", &Gotify{AppURL: "ftp://push.example.com/"}},
		{"xmpp sample", &XMPP{From: "vigil@acme.example", To: "oncall@acme.example", XMPPPassword: "xmpp-password"}},
		{"xmpp odd", &XMPP{From: "example.com", To: "ops@"}},
		{"matrix sample", &Matrix{HomeserverURL: "https://matrix.org/", AccessToken: "xxxx", RoomID: "!abc123:matrix.org"}},
		{"matrix odd", &Matrix{HomeserverURL: "matrix.example.org"}},
		{"webex sample", &Webex{EndpointURL: "https://webexapis.com/v1/messages", Token: "xxxxx", RoomID: "yyyyy"}},
		{"webex odd", &Webex{EndpointURL: "mailto:x@example.com"}},
		{"webhook sample", &Webhook{HookURL: "https://domain.com/webhooks/xxxx"}},
		{"webhook odd", &Webhook{HookURL: "file:///tmp/hook"}},
	}
	for _, tc := range cases {
		kind := strings.Fields(tc.name)[0]
		cfg := &config.Config{Notify: &config.Notify{Notifiers: map[string]any{kind: tc.s}}}
		built, problems := Kinds().Build(cfg, tDeps(nil))
		if len(built) != 1 || len(problems) != 0 {
			t.Errorf("%s: built %d, problems %v", tc.name, len(built), problems)
			continue
		}
		if built[0].Provider.Kind() != kind || built[0].RemindersOnly != (tc.name == "twilio sample") {
			t.Errorf("%s: built %s, reminders only %v", tc.name, built[0].Provider.Kind(), built[0].RemindersOnly)
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
	tw, _ := (&Twilio{To: []string{"+336xxxxxxx"}, ServiceSID: "service-sid",
		AccountSID: "account-sid", AuthToken: "auth-token"}).Build(d)
	if err := tw.Send(ctx, n, nil); err == nil || hits.Load() != 0 {
		t.Errorf("twilio with placeholder credentials: err %v, %d requests", err, hits.Load())
	}

	empty, _ := (&Twilio{To: []string{}, AccountSID: twTestAccount, AuthToken: twTestToken}).Build(d)
	if err := empty.Send(ctx, n, nil); err != nil || hits.Load() != 0 {
		t.Errorf("twilio without recipients: err %v, %d requests", err, hits.Load())
	}
	po, _ := (&Pushover{AppToken: "xxxx"}).Build(d)
	if err := po.Send(ctx, n, nil); err != nil || hits.Load() != 0 {
		t.Errorf("pushover without user keys: err %v, %d requests", err, hits.Load())
	}

	x, _ := (&XMPP{From: "example.com", To: "ops@example.com", XMPPPassword: "pw"}).Build(d)
	if err := x.Send(ctx, n, nil); err == nil || !strings.Contains(err.Error(), `from "example.com" is not an account JID`) {
		t.Errorf("xmpp without a local part: %v", err)
	}
	x, _ = (&XMPP{From: "vigil@example.com", To: "ops@", XMPPPassword: "pw"}).Build(d)
	if err := x.Send(ctx, n, nil); err == nil || !strings.Contains(err.Error(), `to "ops@" is not a JID`) {
		t.Errorf("xmpp with a bad recipient: %v", err)
	}

	// Non-HTTP URLs fail in the notifiers' real client, before any
	// connection.
	real := tDeps(NewHTTPClient())
	for _, p := range []func() (any, error){
		func() (any, error) {
			p, _ := (&Slack{HookURL: "ftp://hooks.slack.com/x"}).Build(real)
			return p, p.Send(ctx, n, nil)
		},
		func() (any, error) {
			p, _ := (&Webhook{HookURL: "file:///tmp/hook"}).Build(real)
			return p, p.Send(ctx, n, nil)
		},
		func() (any, error) {
			p, _ := (&Webex{EndpointURL: "mailto:x@example.com", Token: "t", RoomID: "r"}).Build(real)
			return p, p.Send(ctx, n, nil)
		},
	} {
		if prov, err := p(); err == nil || !strings.Contains(err.Error(), "unsupported protocol scheme") {
			t.Errorf("%T with a non-HTTP URL: %v", prov, err)
		}
	}

	// The sample's Slack hook reaches the (stand-in) API and is refused.
	sl, _ := (&Slack{HookURL: "https://hooks.slack.com/services/xxxx"}).Build(d)
	if err := sl.Send(ctx, n, nil); err == nil || hits.Load() != 1 {
		t.Errorf("slack placeholder: err %v, %d requests", err, hits.Load())
	}
}

// TestBuildReportsUnparsableURL: the one problem left to the providers is a
// URL they cannot parse (the loader never hands them one).
func TestBuildReportsUnparsableURL(t *testing.T) {
	cfg := &config.Config{Notify: &config.Notify{Notifiers: map[string]any{
		"gotify":  &Gotify{AppURL: "http://[::1", AppToken: "t"},
		"matrix":  &Matrix{HomeserverURL: "http://[::1", AccessToken: "t", RoomID: "r"},
		"webhook": &Webhook{HookURL: "https://example.com/hook"},
	}}}
	built, problems := Kinds().Build(cfg, tDeps(nil))
	paths := problemPaths(problems)
	if len(built) != 1 || len(paths) != 2 || paths[0] != "notify.gotify.app_url" || paths[1] != "notify.matrix.homeserver_url" {
		t.Fatalf("built %d, problems %v", len(built), problems)
	}
}
