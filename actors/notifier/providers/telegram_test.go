package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

const tgTestToken = "123456:ABC-def_GHI"

// tgParseMarkdown follows Telegram's legacy Markdown parser (tdlib
// parse_markdown): it returns the visible text, or the error Telegram gives
// for an unterminated entity.
func tgParseMarkdown(text string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\\' && i+1 < len(text) && strings.IndexByte("_*`[", text[i+1]) >= 0 {
			i++
			out.WriteByte(text[i])
			continue
		}
		if strings.IndexByte("_*`[", c) < 0 {
			out.WriteByte(c)
			continue
		}
		begin, end := i, c
		if c == '[' {
			end = ']'
		}
		i++
		pre := false
		if c == '`' && begin+2 < len(text) && text[i] == '`' && text[i+1] == '`' {
			i += 2
			pre = true
		}
		for i < len(text) && (text[i] != end || (pre && !(i+2 < len(text) && text[i+1] == '`' && text[i+2] == '`'))) {
			out.WriteByte(text[i])
			i++
		}
		if i == len(text) {
			return "", fmt.Errorf("Can't find end of the entity starting at byte offset %d", begin)
		}
		if pre {
			i += 2
		}
		if c == '[' && i+1 < len(text) && text[i+1] == '(' {
			j := strings.IndexByte(text[i+1:], ')')
			if j < 0 {
				return "", fmt.Errorf("Can't find end of a URL at byte offset %d", i+1)
			}
			i += 1 + j
		}
	}
	return out.String(), nil
}

type tgServer struct {
	apiRecorder
	// rejectMarkdown answers every Markdown message with a parse error,
	// like Telegram does for text its parser cannot handle.
	rejectMarkdown atomic.Bool
	// status, when set, is the answer to everything.
	status atomic.Int64
}

// startTelegram answers like the Bot API: {"ok":true,"result":{...}}, and 400
// "can't parse entities" for Markdown its parser rejects.
func startTelegram(t *testing.T) (*tgServer, *httptest.Server) {
	t.Helper()
	ts := &tgServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := recordRequest(r)
		ts.add(req)
		w.Header().Set("Content-Type", "application/json")
		if s := ts.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprintf(w, `{"ok":false,"error_code":%d,"description":"Bad Request: chat not found"}`, s)
			return
		}
		var body struct {
			Text      string `json:"text"`
			ParseMode string `json:"parse_mode"`
		}
		_ = json.Unmarshal([]byte(req.body), &body)
		if strings.EqualFold(body.ParseMode, "markdown") {
			_, err := tgParseMarkdown(body.Text)
			if err == nil && ts.rejectMarkdown.Load() {
				err = fmt.Errorf("Can't find end of the entity starting at byte offset 12")
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: %s"}`, err)
				return
			}
		}
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"from":{"id":123456,"is_bot":true,"first_name":"Vigil","username":"vigil_bot"},"chat":{"id":-1001234567890,"title":"Ops","type":"supergroup"},"date":1783148308,"text":"x"}}`, len(ts.all()))
	}))
	t.Cleanup(srv.Close)
	return ts, srv
}

func telegramFor(t *testing.T, srv *httptest.Server, chatID string, thread *int64, pageURL string) *telegram {
	t.Helper()
	p, errs := (&Telegram{BotToken: tgTestToken, ChatID: chatID, MessageThreadID: thread}).Build(Deps{HTTPClient: clientTo(t, srv), PageTitle: "Acme", PageURL: pageURL, Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*telegram)
}

// tgBody decodes a request body keeping numbers as json.Number, and checks
// the key order of the wire format.
func tgBody(t *testing.T, r apiRequest) map[string]any {
	t.Helper()
	if r.method != http.MethodPost || r.host != "api.telegram.org" || r.proto != "https" || r.path != "/bot"+tgTestToken+"/sendMessage" || r.rawQuery != "" {
		t.Fatalf("request %s %s://%s%s?%s", r.method, r.proto, r.host, r.path, r.rawQuery)
	}
	if r.contentType != "application/json" || r.header.Get("Authorization") != "" {
		t.Fatalf("Content-Type %q", r.contentType)
	}
	dec := json.NewDecoder(strings.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	last := -1
	for _, k := range []string{`"chat_id"`, `"message_thread_id"`, `"text"`, `"parse_mode"`, `"disable_web_page_preview"`} {
		if i := strings.Index(r.body, k); i >= 0 {
			if i < last {
				t.Fatalf("key order: %s", r.body)
			}
			last = i
		}
	}
	return m
}

func TestTelegramMessages(t *testing.T) {
	ts, srv := startTelegram(t)
	p := telegramFor(t, srv, "123456789", nil, "https://status.acme.test/")
	want := map[string]string{
		"startup":      "✅ Status started up, as: *HEALTHY*.\n\nLink: https://status.acme.test/",
		"changed dead": "❌ Status changed to: *DEAD*.\n- `web:api:http://a/`: dead\n- `relay:socket:10.0.0.1`: dead\nLink: https://status.acme.test/",
		"recovery":     "✅ Status changed to: *HEALTHY*.\n\nLink: https://status.acme.test/",
		"reminder":     "❌ Status is still: *DEAD*.\n- `a:b:c`: dead\nLink: https://status.acme.test/",
	}
	for i, tc := range provCases() {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		reqs := ts.all()
		if len(reqs) != i+1 {
			t.Fatalf("%s: %d requests", tc.name, len(reqs))
		}
		got := tgBody(t, reqs[i])
		wantBody := map[string]any{"chat_id": json.Number("123456789"), "text": want[tc.name], "parse_mode": "markdown", "disable_web_page_preview": true}
		if !reflect.DeepEqual(got, wantBody) {
			t.Fatalf("%s: body %s\nwant %v", tc.name, reqs[i].body, wantBody)
		}
	}
	if got := p.text(messages.Notification{Kind: messages.Changed, Status: messages.Sick, Time: provAt}, true); got != "⚠ Status changed to: *SICK*.\n\nLink: https://status.acme.test/" {
		t.Fatalf("sick: %q", got)
	}
}

func TestTelegramChatAndThread(t *testing.T) {
	ts, srv := startTelegram(t)
	thread := int64(42)
	for _, tc := range []struct {
		chat   string
		thread *int64
		wantID any
	}{
		{"123456789", nil, json.Number("123456789")},
		{"18446744073709551615", &thread, json.Number("18446744073709551615")},
		{"@vigil_alerts", &thread, "@vigil_alerts"},
		{"-100123", nil, "-100123"},
		{"+77", nil, json.Number("77")},
		{"18446744073709551616", nil, "18446744073709551616"}, // overflows u64
	} {
		if err := telegramFor(t, srv, tc.chat, tc.thread, "https://s.test/").Send(context.Background(), provCases()[0].n, nil); err != nil {
			t.Fatal(err)
		}
		reqs := ts.all()
		got := tgBody(t, reqs[len(reqs)-1])
		if !reflect.DeepEqual(got["chat_id"], tc.wantID) {
			t.Fatalf("%s: chat_id %#v", tc.chat, got["chat_id"])
		}
		tid, present := got["message_thread_id"]
		if (tc.thread != nil) != present || (present && tid != json.Number("42")) {
			t.Fatalf("%s: message_thread_id %v %v in %s", tc.chat, present, tid, reqs[len(reqs)-1].body)
		}
	}
}

func TestTelegramMarkdownEscaping(t *testing.T) {
	ts, srv := startTelegram(t)
	reps := []string{"web:api:http://a_b/*x*", "relay:`tick`:[1]", "x:y:a``b`", "p:n:back\\slash"}
	p := telegramFor(t, srv, "1", nil, "https://status.acme.test/my_page/*x*")
	n := messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: reps, Time: provAt}
	if err := p.Send(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	reqs := ts.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests: escaped Markdown was rejected", len(reqs))
	}
	text := tgBody(t, reqs[0])["text"].(string)
	visible, err := tgParseMarkdown(text)
	if err != nil {
		t.Fatal(err)
	}
	if want := p.text(n, false); visible != want {
		t.Fatalf("Telegram would show\n%q\nwant\n%q", visible, want)
	}
}

func TestTelegramPlainTextFallback(t *testing.T) {
	ts, srv := startTelegram(t)
	ts.rejectMarkdown.Store(true)
	thread := int64(7)
	p := telegramFor(t, srv, "@ops", &thread, "https://status.acme.test/")
	if err := p.Send(context.Background(), provCases()[1].n, nil); err != nil {
		t.Fatal(err)
	}
	reqs := ts.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the Markdown one and one plain retry", len(reqs))
	}
	if tgBody(t, reqs[0])["parse_mode"] != "markdown" {
		t.Fatal("first request not Markdown")
	}
	got := tgBody(t, reqs[1])
	want := map[string]any{"chat_id": "@ops", "message_thread_id": json.Number("7"), "disable_web_page_preview": true,
		"text": "❌ Status changed to: DEAD.\n- web:api:http://a/: dead\n- relay:socket:10.0.0.1: dead\nLink: https://status.acme.test/"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("retry body %s", reqs[1].body)
	}

	// Other errors are not retried here (the actor retries).
	ts.rejectMarkdown.Store(false)
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		ts.status.Store(int64(status))
		before := len(ts.all())
		err := p.Send(context.Background(), provCases()[0].n, nil)
		if err == nil || !strings.Contains(err.Error(), "chat not found") || strings.Contains(err.Error(), tgTestToken) {
			t.Fatalf("%d: err %v", status, err)
		}
		if len(ts.all()) != before+1 {
			t.Fatalf("%d: retried", status)
		}
	}
}

func TestTelegramLengthCap(t *testing.T) {
	ts, srv := startTelegram(t)
	p := telegramFor(t, srv, "1", nil, "https://status.acme.test/")
	for _, rep := range []string{"probe:node:replica-%04d", "probe:nöde:🚨_%04d`x"} {
		reps := make([]string, 2000)
		for i := range reps {
			reps[i] = fmt.Sprintf(rep, i)
		}
		n := messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: reps, Time: provAt}
		for _, md := range []bool{true, false} {
			s := p.text(n, md)
			if utf16Len(s) > telegramMaxText || utf16Len(s) < telegramMaxText-200 || !utf8.ValidString(s) {
				t.Fatalf("%d UTF-16 units", utf16Len(s))
			}
			if !strings.Contains(s, " more)\nLink: https://status.acme.test/") {
				t.Fatalf("no (N more) line: %q", s[len(s)-80:])
			}
		}
		if err := p.Send(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
		reqs := ts.all()
		if tgBody(t, reqs[len(reqs)-1])["parse_mode"] != "markdown" {
			t.Fatal("the capped Markdown text was rejected")
		}
	}
	// The hard cap never splits a character.
	if s := truncateUTF16(strings.Repeat("🚨", 3000), 4096); utf16Len(s) > 4096 || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Fatalf("%d", utf16Len(s))
	}
}

func TestTelegramTokenNotInErrors(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	p := telegramFor(t, gone, "1", nil, "https://s.test/")
	err := p.Send(context.Background(), provCases()[0].n, nil)
	if err == nil || strings.Contains(err.Error(), "ABC-def") {
		t.Fatalf("err %v", err)
	}
}

// TestTelegramOddValues: any token and chat id build (the loader warns about
// the ones that cannot work); the token stays one escaped path segment.
func TestTelegramOddValues(t *testing.T) {
	for token, endpoint := range map[string]string{
		"12 34": telegramAPI + "12%2034/sendMessage",
		"1:a/b": telegramAPI + "1:a%2Fb/sendMessage",
		"1:a?x": telegramAPI + "1:a%3Fx/sendMessage",
	} {
		p, errs := (&Telegram{BotToken: token, ChatID: " "}).Build(Deps{})
		if errs != nil || p.(*telegram).endpoint != endpoint {
			t.Errorf("%q: %v, endpoint %q, want %q", token, errs, p.(*telegram).endpoint, endpoint)
		}
	}
	p, errs := (&Telegram{BotToken: "1:a", ChatID: "1"}).Build(Deps{})
	if errs != nil || !bytes.Equal(p.(*telegram).chatID, []byte("1")) {
		t.Fatal(errs)
	}
}
