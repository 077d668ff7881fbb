package providers

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// pushoverEndpoint is Pushover's message API. It is fixed: tests point the
// HTTP client's transport at a local server instead.
const pushoverEndpoint = "https://api.pushover.net/1/messages.json"

// Pushover's documented limits, in characters.
const (
	pushoverMaxTitle    = 250
	pushoverMaxMessage  = 1024
	pushoverMaxURLTitle = 100
)

// pushover sends one form POST per user key (spec §6.7). A failure for one
// key is reported with a *notifier.PartialError so that only the failed keys
// are retried (fixes spec §11 item 24).
type pushover struct {
	token    string
	users    []string
	client   *http.Client
	title    string
	pageURL  string
	endpoint string
}

// Pushover is the [notify.pushover] table.
type Pushover struct {
	AppToken string `toml:"app_token,required,secret"`
	// UserKeys are the recipients, in escalation order.
	UserKeys []string `toml:"user_keys,required"`
	Options
}

// Check warns about a token or recipients that cannot work.
func (c *Pushover) Check(r *config.Report) {
	warnEmpty(r, "app_token", c.AppToken, "no notification can be sent")
	if len(c.UserKeys) == 0 {
		r.Warn("user_keys", "lists no user key: no notification will be sent")
	}
	for i, k := range c.UserKeys {
		if strings.TrimSpace(k) == "" {
			r.Warn(fmt.Sprintf("user_keys[%d]", i), "is empty: this recipient gets no notification")
		}
	}
}

// Build makes the Pushover notifier. Like the original it accepts any token
// and user keys, even none.
func (c *Pushover) Build(d Deps) (notifier.Provider, config.Errors) {
	return &pushover{
		token: c.AppToken, users: append([]string(nil), c.UserKeys...), client: d.HTTPClient,
		title: d.PageTitle, pageURL: d.PageURL, endpoint: pushoverEndpoint,
	}, nil
}

func (p *pushover) Kind() string { return "pushover" }

// Send posts to every user key, or only to the keys whose indexes are in
// only (the ones that failed in the previous attempt).
func (p *pushover) Send(ctx context.Context, n messages.Notification, only []int) error {
	targets := only
	if len(targets) == 0 {
		targets = make([]int, len(p.users))
		for i := range targets {
			targets[i] = i
		}
	}
	title := truncateRunes(p.title, pushoverMaxTitle, "…")
	urlTitle := truncateRunes("Details on "+p.title, pushoverMaxURLTitle, "…")
	message := pushoverMessage(n)
	var failed []int
	var errs []error
	for _, i := range targets {
		if i < 0 || i >= len(p.users) {
			continue
		}
		form := url.Values{
			"token":     {p.token},
			"user":      {p.users[i]},
			"title":     {title},
			"message":   {message},
			"html":      {"1"},
			"url_title": {urlTitle},
			"url":       {p.pageURL},
		}
		if n.HighPriority(i) {
			form.Set("priority", "1")
		}
		err := post(ctx, p.client, p.endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
		if err != nil {
			failed = append(failed, i)
			errs = append(errs, fmt.Errorf("user_keys[%d]: %w", i, err))
		}
	}
	if len(failed) > 0 {
		return &notifier.PartialError{Failed: failed, Err: errors.Join(errs...)}
	}
	return nil
}

// pushoverColor is the status colour of the HTML message.
func pushoverColor(s messages.Status) string {
	switch s {
	case messages.Sick:
		return "#D5A048"
	case messages.Dead:
		return "#C4291C"
	}
	return "#54A158"
}

// pushoverMessage is the HTML message of spec §6.7. Replica ids are
// HTML-escaped; when the message would exceed Pushover's 1024-character
// limit the node list is shortened (whole entries, with a "… (+N more)"
// marker) so that the status and time lines always survive.
func pushoverMessage(n messages.Notification) string {
	var prefix string
	switch n.Kind {
	case messages.Startup:
		prefix = "<b><i>This is a startup alert.</i></b>\n\n"
	case messages.Reminder:
		prefix = "<b><i>This is a reminder.</i></b>\n\n"
	}
	head := prefix + `<u>Status:</u> <b><font color="` + pushoverColor(n.Status) + `">` +
		strings.ToUpper(n.Status.String()) + "</font></b>\n<u>Nodes:</u> "
	tail := "\n<u>Time:</u> " + messages.FormatTS(n.Time)
	escaped := make([]string, len(n.Replicas))
	for i, r := range n.Replicas {
		escaped[i] = html.EscapeString(r)
	}
	budget := pushoverMaxMessage - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail)
	nodes := joinFitting(escaped, ", ", budget, utf8.RuneCountInString)
	return truncateRunes(head+nodes+tail, pushoverMaxMessage, "…")
}

// joinFitting joins items with sep like strings.Join when the result's size
// (as measured by size, which must be additive: bytes or runes) is at most
// limit. Otherwise it keeps as many leading items as fit together with a
// trailing "… (+N more)" marker, never cutting an item.
func joinFitting(items []string, sep string, limit int, size func(string) int) string {
	all := strings.Join(items, sep)
	if size(all) <= limit {
		return all
	}
	marker := func(rest int, first bool) string {
		m := "… (+" + strconv.Itoa(rest) + " more)"
		if !first {
			m = sep + m
		}
		return m
	}
	var b strings.Builder
	used := 0
	for i, it := range items {
		piece := it
		if i > 0 {
			piece = sep + it
		}
		rest := len(items) - i - 1
		need := used + size(piece)
		if rest > 0 {
			need += size(marker(rest, false))
		}
		if need > limit {
			b.WriteString(marker(len(items)-i, i == 0))
			return b.String()
		}
		b.WriteString(piece)
		used += size(piece)
	}
	return b.String()
}

var _ notifier.Provider = (*pushover)(nil)
