package providers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

type captured struct {
	method, path, contentType string
	body                      string
	deliveryID                string
}

// capture starts a loopback server that records each request and answers
// with status.
func capture(t *testing.T, status int) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), string(b), r.Header.Get("X-Vigil-Delivery-Id")}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func webhookFor(t *testing.T, hookURL string) *webhook {
	t.Helper()
	p, errs := (&Webhook{HookURL: hookURL}).Build(Deps{HTTPClient: http.DefaultClient, PageTitle: `Acme "Status"`, PageURL: "https://status.acme.test/", Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*webhook)
}

func TestWebhookPayloads(t *testing.T) {
	at := time.Date(2026, 7, 4, 8, 58, 28, 0, time.FixedZone("CEST", 2*3600))
	cases := []struct {
		name string
		n    messages.Notification
		want string
	}{
		{"startup", messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: at},
			`{"type":"startup","status":"healthy","time":"06:58:28 UTC+00:00","replicas":[],"page":{"title":"Acme \"Status\"","url":"https://status.acme.test/"}}`},
		{"dead", messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"web:api:http://a/", "relay:socket:10.0.0.1"}, Time: at},
			`{"type":"changed","status":"dead","time":"06:58:28 UTC+00:00","replicas":["web:api:http://a/","relay:socket:10.0.0.1"],"page":{"title":"Acme \"Status\"","url":"https://status.acme.test/"}}`},
		{"recovery with nil list", messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: at},
			`{"type":"changed","status":"healthy","time":"06:58:28 UTC+00:00","replicas":[],"page":{"title":"Acme \"Status\"","url":"https://status.acme.test/"}}`},
		{"reminder", messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: []string{"a:b:c"}, Escalated: 2, Time: at},
			`{"type":"reminder","status":"dead","time":"06:58:28 UTC+00:00","replicas":["a:b:c"],"page":{"title":"Acme \"Status\"","url":"https://status.acme.test/"}}`},
	}
	srv, got := capture(t, http.StatusNoContent)
	w := webhookFor(t, srv.URL+"/hooks/vigil?key=1")
	for _, tc := range cases {
		if err := w.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := <-got
		if c.method != http.MethodPost || c.path != "/hooks/vigil?key=1" || c.contentType != "application/json" {
			t.Fatalf("%s: request %s %s %q", tc.name, c.method, c.path, c.contentType)
		}
		if c.body != tc.want {
			t.Fatalf("%s: body\n%s\nwant\n%s", tc.name, c.body, tc.want)
		}
	}
}

func TestWebhookFailureStatus(t *testing.T) {
	srv, _ := capture(t, http.StatusBadGateway)
	err := webhookFor(t, srv.URL).Send(context.Background(), messages.Notification{Kind: messages.Changed, Status: messages.Dead}, nil)
	if err == nil {
		t.Fatal("a 502 answer must be a failed delivery")
	}
}

func TestRegistryIsTheOnlyKindList(t *testing.T) {
	want := []string{"email", "twilio", "slack", "zulip", "telegram", "pushover", "gotify", "xmpp", "matrix", "webex", "webhook"}
	reg := Kinds()
	if len(reg) != len(want) {
		t.Fatalf("registry has %d kinds, want %d", len(reg), len(want))
	}
	empty := &config.Config{Notify: &config.Notify{}}
	for i, k := range reg {
		if k.Name != want[i] {
			t.Fatalf("kind %d is %q, want %q (dispatch order)", i, k.Name, want[i])
		}
		if n := reg.Notifiers()[i]; n.Name != k.Name || reflect.TypeOf(n.New()) != reflect.TypeOf(k.Section()) {
			t.Fatalf("kind %s is declared to the loader as %s", k.Name, n.Name)
		}
	}
	if built, problems := reg.Build(empty, Deps{}); len(built) != 0 || len(problems) != 0 {
		t.Fatalf("an empty [notify] built %d notifiers, problems %v", len(built), problems)
	}
}

// TestWebhookDeliveryID: every attempt of one notification carries its id,
// so a receiver can drop a duplicate; a notification without one sends no
// header.
func TestWebhookDeliveryID(t *testing.T) {
	srv, got := capture(t, http.StatusOK)
	w := webhookFor(t, srv.URL+"/hook")
	n := messages.Notification{ID: "7f3a-42", Kind: messages.Changed, Status: messages.Dead, Time: time.Unix(0, 0)}
	for range 2 {
		if err := w.Send(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
		if c := <-got; c.deliveryID != "7f3a-42" {
			t.Fatalf("X-Vigil-Delivery-Id = %q, want 7f3a-42", c.deliveryID)
		}
	}
	n.ID = ""
	if err := w.Send(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c.deliveryID != "" {
		t.Fatalf("X-Vigil-Delivery-Id = %q without an id", c.deliveryID)
	}
}
