package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// twilioMaxBytes is the SMS text limit: longer texts are cut to 996 bytes
// on a rune boundary and "[..]" is appended (spec §6.3, §11 item 23).
const twilioMaxBytes = 1000

// twilioSMS sends one SMS per recipient through a Twilio Messaging Service
// (spec §6.3). Only the recipients that failed are retried (§11 item 24).
type twilioSMS struct {
	to                              []string
	serviceSID, accountSID, authTok string
	title                           string
	client                          *http.Client
}

// Twilio is the [notify.twilio] table.
type Twilio struct {
	// To lists the recipient phone numbers.
	To         []string `toml:"to,required"`
	ServiceSID string   `toml:"service_sid,required"`
	AccountSID string   `toml:"account_sid,required"`
	AuthToken  string   `toml:"auth_token,required,secret"`
	Options
}

// Check warns about recipients and credentials that cannot work.
func (c *Twilio) Check(r *config.Report) {
	const lost = "no SMS can be sent"
	if len(c.To) == 0 {
		r.Warn("to", "lists no phone number: no SMS will be sent")
	}
	for i, to := range c.To {
		if strings.TrimSpace(to) == "" {
			r.Warn(fmt.Sprintf("to[%d]", i), "is empty: this recipient gets no SMS")
		}
	}
	warnEmpty(r, "service_sid", c.ServiceSID, lost)
	// Twilio's client refuses credentials that are not letters and digits
	// (a real account SID is "AC" and 32 hexadecimal digits, an auth token
	// 32 hexadecimal digits). A token that is a published example already
	// has a warning.
	if !alphanumeric(c.AccountSID) {
		r.Warn("account_sid", "must be letters and digits only, such as AC followed by 32 hexadecimal digits (got %q); Twilio's client refuses anything else: %s", c.AccountSID, lost)
	}
	if !alphanumeric(c.AuthToken) && !config.IsExampleSecret(c.AuthToken) {
		r.Warn("auth_token", "must be letters and digits only, such as 32 hexadecimal digits; Twilio's client refuses anything else: %s", lost)
	}
}

// Build makes the Twilio notifier. Like the original it accepts any
// recipients and credentials: the SDK refuses credentials that are not
// letters and digits before anything is sent, so such a delivery fails
// without a request.
func (c *Twilio) Build(d Deps) (notifier.Provider, config.Errors) {
	return &twilioSMS{
		to: append([]string(nil), c.To...), serviceSID: c.ServiceSID, accountSID: c.AccountSID, authTok: c.AuthToken,
		title: d.PageTitle, client: d.HTTPClient,
	}, nil
}

func (t *twilioSMS) Kind() string { return "twilio" }

// text is the SMS body, at most twilioMaxBytes bytes.
func (t *twilioSMS) text(n messages.Notification) string {
	s := shortPrefix(n) + t.title + "\n\nStatus: " + statusTitle(n.Status) +
		"\nNodes: " + nodesText(n) + "\nTime: " + messages.FormatTS(n.Time) + "\n"
	return truncateBytes(s, twilioMaxBytes, "[..]")
}

// rest builds an SDK client whose requests use t.client and are bound to
// ctx (the SDK itself takes no context).
func (t *twilioSMS) rest(ctx context.Context) *twilio.RestClient {
	base := t.client
	if base == nil {
		base = http.DefaultClient
	}
	hc := *base
	hc.Transport = ctxTransport{ctx: ctx, base: base.Transport}
	c := &twclient.Client{Credentials: twclient.NewCredentials(t.accountSID, t.authTok), HTTPClient: &hc}
	c.SetAccountSid(t.accountSID)
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
	// The API host is fixed (api.twilio.com): no TWILIO_EDGE / TWILIO_REGION
	// rerouting from the environment.
	rc.Edge, rc.Region = "", ""
	return rc
}

// Send sends to the recipients listed in only (indices into to; nil means
// all) and reports the ones that failed with a *notifier.PartialError.
func (t *twilioSMS) Send(ctx context.Context, n messages.Notification, only []int) error {
	targets := only
	if targets == nil {
		targets = make([]int, len(t.to))
		for i := range targets {
			targets[i] = i
		}
	}
	body := t.text(n)
	api := t.rest(ctx).Api
	var failed []int
	var errs []error
	for _, i := range targets {
		if i < 0 || i >= len(t.to) {
			continue
		}
		if err := ctx.Err(); err != nil {
			failed = append(failed, i)
			errs = append(errs, fmt.Errorf("to[%d]: %w", i, err))
			continue
		}
		params := &twapi.CreateMessageParams{}
		params.SetPathAccountSid(t.accountSID).SetMessagingServiceSid(t.serviceSID).SetTo(t.to[i]).SetBody(body)
		if _, err := api.CreateMessage(params); err != nil {
			failed = append(failed, i)
			errs = append(errs, fmt.Errorf("to[%d]: %w", i, err))
		}
	}
	if len(failed) > 0 {
		return &notifier.PartialError{Failed: failed, Err: fmt.Errorf("twilio: %d of %d messages failed: %w", len(failed), len(targets), errors.Join(errs...))}
	}
	return nil
}

// ctxTransport binds every request to ctx, for clients that build their
// requests without one.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (c ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req.WithContext(c.ctx))
}

var _ notifier.Provider = (*twilioSMS)(nil)
