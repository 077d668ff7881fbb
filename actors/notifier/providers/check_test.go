package providers

import (
	"slices"
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

func TestRequireText(t *testing.T) {
	for _, v := range []string{"", " ", "\t\n"} {
		if got := problemPaths(requireText("notify.x.key", v)); !slices.Equal(got, []string{"notify.x.key"}) {
			t.Errorf("%q: problems %v", v, got)
		}
	}
	if errs := requireText("notify.x.key", "token"); errs != nil {
		t.Errorf("non-blank value refused: %v", errs)
	}
}

// TestBlankRequiredKeys: every provider refuses a blank (not only empty)
// required text key, through the same check.
func TestBlankRequiredKeys(t *testing.T) {
	blank := " "
	cases := []struct {
		name string
		n    config.Notify
		new  func(*config.Notify, Deps) (any, config.Errors)
		path string
	}{
		{"gotify token", config.Notify{Gotify: &config.Gotify{AppURL: "https://push.example.com/", AppToken: blank}}, wrap(newGotify), "notify.gotify.app_token"},
		{"matrix room", config.Notify{Matrix: &config.Matrix{HomeserverURL: "https://m.example.org/", AccessToken: "t", RoomID: blank}}, wrap(newMatrix), "notify.matrix.room_id"},
		{"webex token", config.Notify{Webex: &config.Webex{EndpointURL: "https://webexapis.com/v1/messages", Token: blank, RoomID: "r"}}, wrap(newWebex), "notify.webex.token"},
		{"zulip channel", config.Notify{Zulip: &config.Zulip{BotEmail: "bot@z.example.com", BotAPIKey: "k", Channel: blank, APIURL: "https://z.example.com/api/v1/"}}, wrap(newZulip), "notify.zulip.channel"},
		{"telegram chat", config.Notify{Telegram: &config.Telegram{BotToken: "123:abc", ChatID: blank}}, wrap(newTelegram), "notify.telegram.chat_id"},
		{"xmpp password", config.Notify{XMPP: &config.XMPP{From: "vigil@example.com", To: "ops@example.com", XMPPPassword: blank}}, wrap(newXMPP), "notify.xmpp.xmpp_password"},
	}
	for _, tc := range cases {
		n := tc.n
		_, errs := tc.new(&n, tDeps(nil))
		if got := problemPaths(errs); !slices.Equal(got, []string{tc.path}) {
			t.Errorf("%s: problems %v, want [%s]", tc.name, got, tc.path)
		}
	}
}

func wrap[P any](f func(*config.Notify, Deps) (P, config.Errors)) func(*config.Notify, Deps) (any, config.Errors) {
	return func(n *config.Notify, d Deps) (any, config.Errors) { return f(n, d) }
}
