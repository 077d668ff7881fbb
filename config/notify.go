package config

import (
	"net/mail"
	"strings"
	"time"
)

// notify converts [notify] and its notifier tables (spec §2.8, §6).
//
// The original accepts any string, array or URL of the right TOML type in
// these tables and only fails when it delivers. So does this
// implementation: a value that cannot work (an empty token, a Twilio SID
// its client refuses, a Slack hook that is not an http URL, …) is a
// warning naming the key and why, never an error; placeholders such as
// "account-sid", "xxxx" or "+336xxxxxxx" load. Errors are kept for what
// the original refuses at start: a missing required key, a wrong type, an
// invalid URL (§2.11), plus unresolved ${NAME} references in secrets (see
// isSecret).
func (d *decoder) notify(t *table) *Notify {
	n := &Notify{
		StartupNotification:     t.boolean("startup_notification", defaultStartupNotification),
		ReminderBackoffFunction: defaultReminderBackoffFunction,
		ReminderBackoffLimit:    t.uintDefault("reminder_backoff_limit", maxU16, defaultReminderBackoffLimit),
		ReminderEscalate:        t.boolean("reminder_escalate", false),
	}
	if v, ok := t.duration("reminder_interval", time.Second, false); ok {
		n.ReminderInterval = v
		if v == 0 {
			// Notify.ReminderInterval uses 0 for "no reminders"; the
			// original would instead remind on every 10 s aggregation.
			d.warn(t.at("reminder_interval"), "0 disables reminders in this implementation (the original reminded on every aggregation tick)")
		}
	}
	if v, ok := t.str("reminder_backoff_function", false); ok {
		if backoffFunctions[v] {
			n.ReminderBackoffFunction = v
		} else {
			d.fail(t.at("reminder_backoff_function"), "must be one of none, linear, square, cubic (got %q)", v)
		}
	}

	if s, ok := t.sub("email", false); ok {
		n.Email = d.email(s)
	}
	if s, ok := t.sub("twilio", false); ok {
		n.Twilio = d.twilio(s)
	}
	if s, ok := t.sub("slack", false); ok {
		sl := &Slack{}
		var ok bool
		if sl.HookURL, ok = s.url("hook_url", true); ok {
			d.httpOnly(s, "hook_url", sl.HookURL, "no message can be posted")
		}
		sl.MentionChannel = s.boolean("mention_channel", false)
		sl.RemindersOnly = s.boolean("reminders_only", false)
		s.done()
		n.Slack = sl
	}
	if s, ok := t.sub("zulip", false); ok {
		n.Zulip = d.zulip(s)
	}
	if s, ok := t.sub("telegram", false); ok {
		n.Telegram = d.telegram(s)
	}
	if s, ok := t.sub("pushover", false); ok {
		n.Pushover = d.pushover(s)
	}
	if s, ok := t.sub("gotify", false); ok {
		g := &Gotify{}
		var ok bool
		if g.AppURL, ok = s.url("app_url", true); ok {
			d.httpOnly(s, "app_url", g.AppURL, "no message can be pushed")
		}
		g.AppToken = d.text(s, "app_token", "no message can be pushed")
		g.RemindersOnly = s.boolean("reminders_only", false)
		s.done()
		n.Gotify = g
	}
	if s, ok := t.sub("xmpp", false); ok {
		n.XMPP = d.xmpp(s)
	}
	if s, ok := t.sub("matrix", false); ok {
		m := &Matrix{}
		var ok bool
		if m.HomeserverURL, ok = s.url("homeserver_url", true); ok {
			d.httpOnly(s, "homeserver_url", m.HomeserverURL, "no message can be sent")
		}
		m.AccessToken = d.text(s, "access_token", "no message can be sent")
		m.RoomID = d.text(s, "room_id", "no message can be sent")
		m.RemindersOnly = s.boolean("reminders_only", false)
		s.done()
		n.Matrix = m
	}
	if s, ok := t.sub("webex", false); ok {
		w := &Webex{}
		var ok bool
		if w.EndpointURL, ok = s.url("endpoint_url", true); ok {
			d.httpOnly(s, "endpoint_url", w.EndpointURL, "no message can be sent")
		}
		w.Token = d.text(s, "token", "no message can be sent")
		w.RoomID = d.text(s, "room_id", "no message can be sent")
		w.RemindersOnly = s.boolean("reminders_only", false)
		s.done()
		n.Webex = w
	}
	if s, ok := t.sub("webhook", false); ok {
		w := &Webhook{}
		var ok bool
		if w.HookURL, ok = s.url("hook_url", true); ok {
			d.httpOnly(s, "hook_url", w.HookURL, "no payload can be posted")
		}
		if s.has("reminders_only") {
			d.warn(s.at("reminders_only"), "the webhook notifier has no reminders_only option; key ignored")
		}
		s.done()
		n.Webhook = w
	}
	t.done()
	return n
}

// email converts [notify.email].
func (d *decoder) email(s *table) *Email {
	const lost = "no email can be sent"
	e := &Email{
		SMTPHost:     defaultSMTPHost,
		SMTPPort:     defaultSMTPPort,
		SMTPUsername: s.strDefault("smtp_username", ""),
		SMTPPassword: s.strDefault("smtp_password", ""),
		SMTPEncrypt:  s.boolean("smtp_encrypt", defaultSMTPEncrypt),
	}
	var ok bool
	if e.To, ok = s.str("to", true); ok {
		// A display name is fine here ("Ops <ops@example.com>").
		if _, err := mail.ParseAddress(e.To); err != nil {
			d.warn(s.at("to"), "is not an email address (got %q): %s", e.To, lost)
		}
	}
	if e.From, ok = s.str("from", true); ok {
		// The page title is the display name, so only a bare address works.
		if a, err := mail.ParseAddress(e.From); err != nil || a.Name != "" || a.Address != e.From {
			d.warn(s.at("from"), "is not a bare email address such as status@example.com (got %q): %s", e.From, lost)
		}
	}
	if v, ok := s.str("smtp_host", false); ok {
		e.SMTPHost = v
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\r\n/") {
			d.warn(s.at("smtp_host"), "is not a host name or IP address (got %q): %s", v, lost)
		}
	}
	if v, ok := s.uint("smtp_port", maxU16, false); ok {
		e.SMTPPort = int(v)
		if v == 0 {
			d.warn(s.at("smtp_port"), "port 0 cannot be connected to: %s", lost)
		}
	}
	// Both must be set for the server to authenticate (as in the original).
	switch {
	case e.SMTPUsername != "" && e.SMTPPassword == "":
		d.warn(s.at("smtp_username"), "is set but smtp_password is not: mail is sent without authentication")
	case e.SMTPUsername == "" && e.SMTPPassword != "":
		d.warn(s.at("smtp_password"), "is set but smtp_username is not: mail is sent without authentication")
	}
	e.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return e
}

// twilio converts [notify.twilio].
func (d *decoder) twilio(s *table) *Twilio {
	const lost = "no SMS can be sent"
	tw := &Twilio{}
	var ok bool
	if tw.To, ok = s.strings("to", true); ok {
		if len(tw.To) == 0 {
			d.warn(s.at("to"), "lists no phone number: no SMS will be sent")
		}
		for i, to := range tw.To {
			if strings.TrimSpace(to) == "" {
				d.warn(indexPath(s.at("to"), i), "is empty: this recipient gets no SMS")
			}
		}
	}
	tw.ServiceSID = d.text(s, "service_sid", lost)
	// Twilio's client refuses credentials that are not letters and digits
	// (a real account SID is "AC" and 32 hexadecimal digits, an auth token
	// 32 hexadecimal digits). A secret that is a known example value gets
	// that warning only (checkString), not a second one about its format.
	if tw.AccountSID, ok = s.str("account_sid", true); ok && !alphanumeric(tw.AccountSID) {
		d.warn(s.at("account_sid"), "must be letters and digits only, such as AC followed by 32 hexadecimal digits (got %q); Twilio's client refuses anything else: %s", tw.AccountSID, lost)
	}
	if tw.AuthToken, ok = s.str("auth_token", true); ok && !alphanumeric(tw.AuthToken) && exampleSecretSource(tw.AuthToken) == "" {
		d.warn(s.at("auth_token"), "must be letters and digits only, such as 32 hexadecimal digits; Twilio's client refuses anything else: %s", lost)
	}
	tw.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return tw
}

// zulip converts [notify.zulip].
func (d *decoder) zulip(s *table) *Zulip {
	const lost = "no message can be sent"
	z := &Zulip{}
	var ok bool
	if z.BotEmail, ok = s.str("bot_email", true); ok {
		if strings.TrimSpace(z.BotEmail) == "" {
			d.warn(s.at("bot_email"), "is empty: %s", lost)
		} else if strings.ContainsAny(z.BotEmail, ":\r\n") {
			d.warn(s.at("bot_email"), "cannot be used as an HTTP Basic user name, it contains ':' or a line break (got %q): %s", z.BotEmail, lost)
		}
	}
	z.BotAPIKey = d.text(s, "bot_api_key", lost)
	z.Channel = d.text(s, "channel", lost)
	if z.APIURL, ok = s.url("api_url", true); ok {
		d.httpOnly(s, "api_url", z.APIURL, lost)
	}
	z.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return z
}

// telegram converts [notify.telegram].
func (d *decoder) telegram(s *table) *Telegram {
	const lost = "no message can be sent"
	tg := &Telegram{}
	var ok bool
	if tg.BotToken, ok = s.str("bot_token", true); ok && !telegramToken(tg.BotToken) && exampleSecretSource(tg.BotToken) == "" {
		d.warn(s.at("bot_token"), "is not a bot token of the form <bot id>:<secret> (digits, a colon, then letters, digits, '-' or '_'): %s", lost)
	}
	tg.ChatID = d.text(s, "chat_id", lost)
	tg.MessageThreadID = s.int64Ptr("message_thread_id")
	tg.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return tg
}

// pushover converts [notify.pushover].
func (d *decoder) pushover(s *table) *Pushover {
	p := &Pushover{}
	p.AppToken = d.text(s, "app_token", "no notification can be sent")
	var ok bool
	if p.UserKeys, ok = s.strings("user_keys", true); ok {
		if len(p.UserKeys) == 0 {
			d.warn(s.at("user_keys"), "lists no user key: no notification will be sent")
		}
		for i, k := range p.UserKeys {
			if strings.TrimSpace(k) == "" {
				d.warn(indexPath(s.at("user_keys"), i), "is empty: this recipient gets no notification")
			}
		}
	}
	p.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return p
}

// xmpp converts [notify.xmpp].
func (d *decoder) xmpp(s *table) *XMPP {
	const lost = "no message can be sent"
	x := &XMPP{}
	var ok bool
	if x.To, ok = s.str("to", true); ok && !validJID(x.To, false) {
		d.warn(s.at("to"), "is not a JID such as ops@example.com (got %q): %s", x.To, lost)
	}
	if x.From, ok = s.str("from", true); ok && !validJID(x.From, true) {
		d.warn(s.at("from"), "is not an account JID such as vigil@example.com (got %q): %s", x.From, lost)
	}
	x.XMPPPassword = d.text(s, "xmpp_password", lost)
	x.RemindersOnly = s.boolean("reminders_only", false)
	s.done()
	return x
}

// text reads a required string of a notifier table and warns when it is
// blank: the original accepts it, but the notifier cannot work with it.
func (d *decoder) text(s *table, key, lost string) string {
	v, ok := s.str(key, true)
	if ok && strings.TrimSpace(v) == "" {
		d.warn(s.at(key), "is empty: %s", lost)
	}
	return v
}

// httpOnly warns when an HTTP notifier's URL (already valid and normalised)
// is not http or https: the original accepts any URL there, and fails when
// it posts. Secret URLs are not quoted.
func (d *decoder) httpOnly(s *table, key, value, lost string) {
	u, err := parseURL(value)
	if err != nil || u.Scheme == "http" || u.Scheme == "https" {
		return
	}
	if isSecret(s.at(key)) {
		d.warn(s.at(key), "is a %s: URL, not http or https: %s", u.Scheme, lost)
		return
	}
	d.warn(s.at(key), "is not an http or https URL (got %q): %s", value, lost)
}

// telegramToken reports whether s has the shape of every Telegram bot
// token: the bot's numeric id, a colon and the secret (letters, digits, '-'
// and '_').
func telegramToken(s string) bool {
	id, secret, ok := strings.Cut(s, ":")
	if !ok || id == "" || secret == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; !alphanumeric(string(c)) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// alphanumeric reports whether s is a non-empty string of ASCII letters and
// digits.
func alphanumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// validJID reports whether s is [local@]domain[/resource] with a non-empty
// domain and no white space; needLocal requires the local part (an account
// to log in as).
func validJID(s string, needLocal bool) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	bare, resource, hasRes := strings.Cut(s, "/")
	if hasRes && resource == "" {
		return false
	}
	local, domain := "", bare
	if i := strings.IndexByte(bare, '@'); i >= 0 {
		local, domain = bare[:i], bare[i+1:]
		if local == "" {
			return false
		}
	}
	if needLocal && local == "" {
		return false
	}
	return domain != "" && !strings.Contains(domain, "@")
}
