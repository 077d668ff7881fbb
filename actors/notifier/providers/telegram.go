package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// telegramMaxText is Telegram's message length limit, in UTF-16 code units.
const telegramMaxText = 4096

// telegramAPI is the Bot API base.
const telegramAPI = "https://api.telegram.org/bot"

// telegram sends a message through the Bot API (spec §6.6). Replica ids are
// sent inside code spans with backticks escaped, the page URL with Markdown
// escapes, and a message Telegram still cannot parse is re-sent once as
// plain text (spec §11 item 26).
type telegram struct {
	endpoint string
	chatID   json.RawMessage
	threadID *int64
	pageURL  string
	client   *http.Client
}

type telegramRequest struct {
	ChatID                json.RawMessage `json:"chat_id"`
	MessageThreadID       *int64          `json:"message_thread_id,omitempty"`
	Text                  string          `json:"text"`
	ParseMode             string          `json:"parse_mode,omitempty"`
	DisableWebPagePreview bool            `json:"disable_web_page_preview"`
}

type telegramResponse struct {
	OK          *bool  `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
}

// Telegram is the [notify.telegram] table.
type Telegram struct {
	BotToken string `toml:"bot_token,required,secret"`
	ChatID   string `toml:"chat_id,required"`
	// MessageThreadID is nil when unset.
	MessageThreadID *int64 `toml:"message_thread_id"`
	Options
}

// Check warns about a token or chat that cannot work. A token that is a
// published example already has a warning.
func (c *Telegram) Check(r *config.Report) {
	if !telegramToken(c.BotToken) && !config.IsExampleSecret(c.BotToken) {
		r.Warn("bot_token", "is not a bot token of the form <bot id>:<secret> (digits, a colon, then letters, digits, '-' or '_'): no message can be sent")
	}
	warnEmpty(r, "chat_id", c.ChatID, "no message can be sent")
}

// telegramToken reports whether s has the shape of every Telegram bot
// token: the bot's numeric id, a colon and the secret (letters, digits, '-'
// and '_').
func telegramToken(s string) bool {
	id, secret, ok := strings.Cut(s, ":")
	return ok && id != "" && secret != "" && strings.Trim(id, "0123456789") == "" &&
		alphanumeric(strings.NewReplacer("-", "a", "_", "a").Replace(secret))
}

// Build makes the Telegram notifier. Like the original it accepts any token
// and chat id; the token is one escaped path segment of the API URL, so no
// token can address another endpoint.
func (c *Telegram) Build(d Deps) (notifier.Provider, config.Errors) {
	var chatID json.RawMessage
	// Like the original's u64 parse, a leading "+" is accepted.
	if v, err := strconv.ParseUint(strings.TrimPrefix(c.ChatID, "+"), 10, 64); err == nil {
		chatID = json.RawMessage(strconv.FormatUint(v, 10))
	} else {
		chatID, _ = json.Marshal(c.ChatID)
	}
	var thread *int64
	if c.MessageThreadID != nil {
		v := *c.MessageThreadID
		thread = &v
	}
	return &telegram{
		endpoint: telegramAPI + url.PathEscape(c.BotToken) + "/sendMessage",
		chatID:   chatID, threadID: thread, pageURL: d.PageURL, client: d.HTTPClient,
	}, nil
}

func (t *telegram) Kind() string { return "telegram" }

// telegramMarkdownEscaper escapes the legacy Markdown entity characters
// outside entities.
var telegramMarkdownEscaper = strings.NewReplacer("_", `\_`, "*", `\*`, "`", "\\`", "[", `\[`)

// telegramCode renders s as code: each backtick-free run inside its own code
// span, the backticks between them escaped (entities cannot hold escapes).
func telegramCode(s string) string {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\\`")
		}
		if p != "" {
			b.WriteString("`" + p + "`")
		}
	}
	return b.String()
}

// text is the message of spec §6.6, in Markdown or plain, within
// telegramMaxText: replica lines that do not fit are replaced by a
// "- … (N more)" line.
func (t *telegram) text(n messages.Notification, markdown bool) string {
	status := strings.ToUpper(n.Status.String())
	head := statusIcon(n.Status) + " " + lead(n) + ": " + status + ".\n"
	foot := "\nLink: " + t.pageURL
	if markdown {
		head = statusIcon(n.Status) + " " + lead(n) + ": *" + status + "*.\n"
		foot = "\nLink: " + telegramMarkdownEscaper.Replace(t.pageURL)
	}
	line := func(replica string) string {
		if markdown {
			return "- " + telegramCode(replica) + ": " + n.Status.String()
		}
		return "- " + replica + ": " + n.Status.String()
	}
	budget := telegramMaxText - utf16Len(head) - utf16Len(foot)
	var lines []string
	used := 0
	for i, r := range n.Replicas {
		l := line(r)
		cost := utf16Len(l)
		if i > 0 {
			cost++
		}
		reserve := 0
		if i < len(n.Replicas)-1 {
			reserve = 24 // room for "\n- … (N more)"
		}
		if used+cost+reserve > budget {
			lines = append(lines, fmt.Sprintf("- … (%d more)", len(n.Replicas)-i))
			break
		}
		lines = append(lines, l)
		used += cost
	}
	return truncateUTF16(head+strings.Join(lines, "\n")+foot, telegramMaxText)
}

// utf16Len is the length of s in UTF-16 code units (how Telegram counts).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// truncateUTF16 cuts s to at most max UTF-16 code units on a rune boundary,
// ending with "…" when it cuts.
func truncateUTF16(s string, max int) string {
	if utf16Len(s) <= max {
		return s
	}
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > max-1 {
			return s[:i] + "…"
		}
		n += w
	}
	return s
}

func (t *telegram) Send(ctx context.Context, n messages.Notification, _ []int) error {
	err := t.send(ctx, telegramRequest{
		ChatID: t.chatID, MessageThreadID: t.threadID, Text: t.text(n, true),
		ParseMode: "markdown", DisableWebPagePreview: true,
	})
	var perr *telegramParseError
	if errors.As(err, &perr) {
		// Telegram could not parse the Markdown: deliver the alert as
		// plain text rather than lose it.
		if err = t.send(ctx, telegramRequest{
			ChatID: t.chatID, MessageThreadID: t.threadID, Text: t.text(n, false), DisableWebPagePreview: true,
		}); err != nil {
			return fmt.Errorf("%v; plain-text retry: %w", perr, err)
		}
	}
	return err
}

// telegramParseError is a 400 answer about the message's entities.
type telegramParseError struct{ description string }

func (e *telegramParseError) Error() string { return "telegram: HTTP 400: " + e.description }

func (t *telegram) send(ctx context.Context, body telegramRequest) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("telegram: %w", hideURLInError(err, t.endpoint))
	}
	req.Header.Set("Content-Type", "application/json")
	client := t.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL holds the bot token.
		return fmt.Errorf("telegram: %w", hideURLInError(err, t.endpoint))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var answer telegramResponse
	decoded := json.Unmarshal(data, &answer) == nil
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && (!decoded || answer.OK == nil || *answer.OK) {
		return nil
	}
	desc := answer.Description
	if !decoded || desc == "" {
		desc = strings.TrimSpace(string(data))
		if len(desc) > 512 {
			desc = desc[:512]
		}
		if !utf8.ValidString(desc) {
			desc = strings.ToValidUTF8(desc, "?")
		}
	}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(desc), "can't parse entities") {
		return &telegramParseError{description: desc}
	}
	return fmt.Errorf("telegram: HTTP %d: %s", resp.StatusCode, desc)
}

var _ notifier.Provider = (*telegram)(nil)
