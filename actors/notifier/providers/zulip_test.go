package providers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

// startZulip answers like POST /api/v1/messages: 200 {"result":"success"},
// or a 400 error for the stream "missing".
func startZulip(t *testing.T) (*apiRecorder, *httptest.Server) {
	t.Helper()
	rec := &apiRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := recordRequest(r)
		rec.add(req)
		form, _ := url.ParseQuery(req.body)
		w.Header().Set("Content-Type", "application/json")
		if form.Get("to") == "missing" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"result":"error","msg":"Channel 'missing' does not exist","code":"STREAM_DOES_NOT_EXIST","stream":"missing"}`))
			return
		}
		_, _ = w.Write([]byte(`{"result":"success","msg":"","id":42}`))
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func zulipFor(t *testing.T, apiURL, channel string) *zulip {
	t.Helper()
	p, errs := (&Zulip{BotEmail: "vigil-bot@acme.zulipchat.com", BotAPIKey: "k3y", Channel: channel, APIURL: apiURL}).Build(Deps{HTTPClient: http.DefaultClient, PageTitle: "Acme", PageURL: "https://status.acme.test/", Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*zulip)
}

func TestZulipMessages(t *testing.T) {
	rec, srv := startZulip(t)
	const tail = "\n **Time**: 06:58:28 UTC+00:00\n **Page**: https://status.acme.test/"
	want := map[string]string{
		"startup":      "Status started up, as:  *healthy* :check_mark:.\n **Status**: Healthy" + tail,
		"changed dead": "Status changed to:  *dead* :boom:.\n **Nodes**: *web:api:http://a/, relay:socket:10.0.0.1*.\n **Status**: Dead" + tail,
		"recovery":     "Status changed to:  *healthy* :check_mark:.\n **Status**: Healthy" + tail,
		"reminder":     "Status is still:  *dead* :boom:.\n **Nodes**: *a:b:c*.\n **Status**: Dead" + tail,
	}
	// Both api_url forms reach .../api/v1/messages.
	for _, base := range []string{srv.URL + "/api/v1/", srv.URL + "/api/v1"} {
		z := zulipFor(t, base, "ops alerts")
		for _, tc := range provCases() {
			if err := z.Send(context.Background(), tc.n, nil); err != nil {
				t.Fatalf("%s %s: %v", base, tc.name, err)
			}
			reqs := rec.all()
			r := reqs[len(reqs)-1]
			if r.method != http.MethodPost || r.path != "/api/v1/messages" || r.rawQuery != "" {
				t.Fatalf("%s %s: %s %s?%s", base, tc.name, r.method, r.path, r.rawQuery)
			}
			if !r.basic || r.user != "vigil-bot@acme.zulipchat.com" || r.pass != "k3y" {
				t.Fatalf("%s: basic auth %v %q %q", tc.name, r.basic, r.user, r.pass)
			}
			if r.contentType != "application/x-www-form-urlencoded" {
				t.Fatalf("%s: Content-Type %q", tc.name, r.contentType)
			}
			form, err := url.ParseQuery(r.body)
			if err != nil {
				t.Fatal(err)
			}
			wantForm := url.Values{"type": {"stream"}, "to": {"ops alerts"}, "topic": {"Vigil status"}, "content": {want[tc.name]}}
			if !reflect.DeepEqual(form, wantForm) {
				t.Fatalf("%s: form\n%q\nwant\n%q", tc.name, form, wantForm)
			}
		}
	}
	z := zulipFor(t, srv.URL+"/api/v1/", "ops")
	if got := z.text(messages.Notification{Kind: messages.Changed, Status: messages.Sick, Time: provAt}); got != "Status changed to:  *sick* :sick:.\n **Status**: Sick"+tail {
		t.Fatalf("sick: %q", got)
	}
}

func TestZulipEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.zulipchat.com/api/v1/":   "https://acme.zulipchat.com/api/v1/messages",
		"https://acme.zulipchat.com/api/v1":    "https://acme.zulipchat.com/api/v1/messages",
		"https://acme.zulipchat.com/":          "https://acme.zulipchat.com/messages",
		"https://chat.acme.test/zulip/api/v1/": "https://chat.acme.test/zulip/api/v1/messages",
	} {
		if got := zulipEndpoint(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestZulipErrorAnswer(t *testing.T) {
	_, srv := startZulip(t)
	err := zulipFor(t, srv.URL+"/api/v1/", "missing").Send(context.Background(), provCases()[1].n, nil)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "STREAM_DOES_NOT_EXIST") {
		t.Fatalf("err %v", err)
	}
}
