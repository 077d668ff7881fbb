package providers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// gotify posts a form to <app_url>/message (spec §6.8). The URL is joined
// properly (fixes spec §11 item 25): the base may carry a sub-path with or
// without a trailing slash, and the token is query-escaped. Root URLs give
// exactly the original's request, https://push.example.com/message?token=….
type gotify struct {
	target string
	client *http.Client
	title  string
}

// Gotify is the [notify.gotify] table.
type Gotify struct {
	AppURL   string `toml:"app_url,required,url"`
	AppToken string `toml:"app_token,required,secret"`
	Options
}

// Check warns about a URL or token that cannot work.
func (c *Gotify) Check(r *config.Report) {
	warnNotHTTP(r, "app_url", c.AppURL, "no message can be pushed", false)
	warnEmpty(r, "app_token", c.AppToken, "no message can be pushed")
}

// Build makes the Gotify notifier. Like the original it accepts any URL and
// token; only a URL that does not parse is a problem.
func (c *Gotify) Build(d Deps) (notifier.Provider, config.Errors) {
	target, err := gotifyTarget(c.AppURL, c.AppToken)
	if err != nil {
		return nil, config.Errors{{Path: "notify.gotify.app_url", Message: err.Error()}}
	}
	return &gotify{target: target, client: d.HTTPClient, title: d.PageTitle}, nil
}

// gotifyTarget builds <app_url>/message?token=<token>.
func gotifyTarget(appURL, token string) (string, error) {
	u, err := url.Parse(appURL)
	if err != nil {
		return "", err
	}
	return appendURLPath(u, "message", "token="+url.QueryEscape(token)), nil
}

// appendURLPath joins an already escaped relative path onto base's path
// (exactly one slash between them, whether or not base ends with one) and
// sets rawQuery. The base's own query and fragment are dropped; scheme,
// user info and host are kept.
func appendURLPath(base *url.URL, escapedSuffix, rawQuery string) string {
	out := url.URL{Scheme: base.Scheme, User: base.User, Host: base.Host}
	p := strings.TrimSuffix(base.EscapedPath(), "/") + "/" + strings.TrimPrefix(escapedSuffix, "/")
	s := out.String() + p
	if rawQuery != "" {
		s += "?" + rawQuery
	}
	return s
}

func (g *gotify) Kind() string { return "gotify" }

func (g *gotify) Send(ctx context.Context, n messages.Notification, _ []int) error {
	form := url.Values{
		"title":   {g.title},
		"message": {gotifyText(n)},
	}
	if n.HighPriority(0) {
		form.Set("priority", "10")
	}
	return post(ctx, g.client, g.target, "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

// gotifyText is the plain-text message of spec §6.8.
func gotifyText(n messages.Notification) string {
	var b strings.Builder
	switch n.Kind {
	case messages.Startup:
		b.WriteString("This is a startup alert.\n\n")
	case messages.Reminder:
		b.WriteString("This is a reminder.\n\n")
	}
	b.WriteString("Status: " + strings.ToUpper(n.Status.String()) + "\nNodes:\n")
	b.WriteString(strings.Join(n.Replicas, "\n"))
	b.WriteString("\nTime: " + messages.FormatTS(n.Time))
	return b.String()
}

var _ notifier.Provider = (*gotify)(nil)
