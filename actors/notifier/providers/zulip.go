package providers

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// zulipNodesMax keeps messages under Zulip's 10,000 character limit.
const zulipNodesMax = 8 << 10

// zulip posts a stream message through the Zulip REST API (spec §6.5).
type zulip struct {
	endpoint      string
	authorization string
	channel       string
	pageURL       string
	client        *http.Client
}

// Zulip is the [notify.zulip] table.
type Zulip struct {
	BotEmail  string `toml:"bot_email,required"`
	BotAPIKey string `toml:"bot_api_key,required,secret"`
	Channel   string `toml:"channel,required"`
	// APIURL is the API base, e.g. "https://x.zulipchat.com/api/v1/".
	APIURL string `toml:"api_url,required,url"`
	Options
}

// Check warns about values that cannot work.
func (c *Zulip) Check(r *config.Report) {
	const lost = "no message can be sent"
	if strings.TrimSpace(c.BotEmail) == "" {
		r.Warn("bot_email", "is empty: %s", lost)
	} else if strings.ContainsAny(c.BotEmail, ":\r\n") {
		r.Warn("bot_email", "cannot be used as an HTTP Basic user name, it contains ':' or a line break (got %q): %s", c.BotEmail, lost)
	}
	warnEmpty(r, "bot_api_key", c.BotAPIKey, lost)
	warnEmpty(r, "channel", c.Channel, lost)
	warnNotHTTP(r, "api_url", c.APIURL, lost, false)
}

// Build makes the Zulip notifier. Like the original it accepts any values.
func (c *Zulip) Build(d Deps) (notifier.Provider, config.Errors) {
	return &zulip{
		endpoint:      zulipEndpoint(c.APIURL),
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(c.BotEmail+":"+c.BotAPIKey)),
		channel:       c.Channel, pageURL: d.PageURL, client: d.HTTPClient,
	}, nil
}

// zulipEndpoint appends the "messages" path segment to the API base, with or
// without a trailing slash (spec §11 item 25): ".../api/v1/" and ".../api/v1"
// both give ".../api/v1/messages". The query, if any, is kept.
func zulipEndpoint(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil {
		return apiURL
	}
	return u.JoinPath("messages").String()
}

func (z *zulip) Kind() string { return "zulip" }

// zulipStatusText is the status part of the first line; it starts with a
// space, hence the two spaces after the colon.
func zulipStatusText(s messages.Status) string {
	switch s {
	case messages.Dead:
		return " *dead* :boom:"
	case messages.Sick:
		return " *sick* :sick:"
	}
	return " *healthy* :check_mark:"
}

func (z *zulip) text(n messages.Notification) string {
	var b strings.Builder
	b.WriteString(lead(n) + ": " + zulipStatusText(n.Status) + ".")
	if len(n.Replicas) > 0 {
		b.WriteString("\n **Nodes**: *" + nodesTextCapped(n.Replicas, zulipNodesMax) + "*.")
	}
	b.WriteString("\n **Status**: " + statusTitle(n.Status))
	b.WriteString("\n **Time**: " + messages.FormatTS(n.Time))
	b.WriteString("\n **Page**: " + z.pageURL)
	return b.String()
}

func (z *zulip) Send(ctx context.Context, n messages.Notification, _ []int) error {
	form := url.Values{
		"type":    {"stream"},
		"to":      {z.channel},
		"topic":   {"Vigil status"},
		"content": {z.text(n)},
	}
	client := z.client
	if client == nil {
		client = http.DefaultClient
	}
	return post(ctx, client, z.endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()),
		http.Header{"Authorization": {z.authorization}})
}

var _ notifier.Provider = (*zulip)(nil)
