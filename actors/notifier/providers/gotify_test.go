package providers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

const tGotifyToken = "AzWQ5fkZ1.-Ui3h"

// Spec §11 item 25: proper joining; root URLs give the original's request.
func TestGotifyTargetForms(t *testing.T) {
	cases := []struct{ appURL, token, want string }{
		{"https://push.example.com", tGotifyToken, "https://push.example.com/message?token=AzWQ5fkZ1.-Ui3h"},
		{"https://push.example.com/", tGotifyToken, "https://push.example.com/message?token=AzWQ5fkZ1.-Ui3h"},
		{"https://example.com/gotify", tGotifyToken, "https://example.com/gotify/message?token=AzWQ5fkZ1.-Ui3h"},
		{"https://example.com/gotify/", tGotifyToken, "https://example.com/gotify/message?token=AzWQ5fkZ1.-Ui3h"},
		{"http://push.example.com:8080/a/b/", tGotifyToken, "http://push.example.com:8080/a/b/message?token=AzWQ5fkZ1.-Ui3h"},
		{"https://push.example.com/", "a&b=c d/+", "https://push.example.com/message?token=a%26b%3Dc+d%2F%2B"},
	}
	for _, tc := range cases {
		p, errs := (&Gotify{AppURL: tc.appURL, AppToken: tc.token}).Build(tDeps(nil))
		if errs != nil {
			t.Fatalf("%s: %v", tc.appURL, errs)
		}
		if got := p.(*gotify).target; got != tc.want {
			t.Errorf("%s: target %q, want %q", tc.appURL, got, tc.want)
		}
	}
}

func gotifyAPI(t *testing.T) *recAPI {
	return newRecAPI(t, func(c recCall) (int, string) {
		if !strings.HasSuffix(c.Path, "/message") || c.RawQuery != "token="+tGotifyToken {
			return http.StatusUnauthorized, `{"error":"Unauthorized","errorCode":401,"errorDescription":"you need to provide a valid access token or user credentials to access this api"}`
		}
		return http.StatusOK, `{"id":25,"appid":5,"message":"x","title":"Acme Status","priority":10,"date":"2026-07-04T08:58:28.000000000Z"}`
	})
}

func TestGotifyRequests(t *testing.T) {
	const deadNodes = "web:api:http://10.0.0.1/health\nweb:db:tcp://10.0.0.2:5432"
	cases := []struct {
		name     string
		n        messages.Notification
		message  string
		priority bool
	}{
		{"startup", tStartup(), "This is a startup alert.\n\nStatus: HEALTHY\nNodes:\n\nTime: " + tTime, false},
		{"changed dead", tDead(), "Status: DEAD\nNodes:\n" + deadNodes + "\nTime: " + tTime, false},
		{"recovery", tRecovery(), "Status: HEALTHY\nNodes:\n\nTime: " + tTime, false},
		{"reminder escalation off", tReminder(0), "This is a reminder.\n\nStatus: DEAD\nNodes:\n" + deadNodes + "\nTime: " + tTime, true},
		{"reminder escalated 1", tReminder(1), "This is a reminder.\n\nStatus: DEAD\nNodes:\n" + deadNodes + "\nTime: " + tTime, true},
	}
	api := gotifyAPI(t)
	// A sub-path without a trailing slash (the original would have posted
	// to /gotifymessage).
	p, errs := (&Gotify{AppURL: api.srv.URL + "/gotify", AppToken: tGotifyToken}).Build(tDeps(nil))
	if errs != nil {
		t.Fatal(errs)
	}
	for _, tc := range cases {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		calls := api.take()
		if len(calls) != 1 {
			t.Fatalf("%s: %d requests", tc.name, len(calls))
		}
		c := calls[0]
		if c.Method != http.MethodPost || c.RequestURI != "/gotify/message?token="+tGotifyToken {
			t.Fatalf("%s: request %s %s", tc.name, c.Method, c.RequestURI)
		}
		if ct := c.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Fatalf("%s: Content-Type %q", tc.name, ct)
		}
		want := map[string]string{"title": tPageTitle, "message": tc.message}
		if tc.priority {
			want["priority"] = "10"
		}
		sameFields(t, tc.name, formFields(t, c.Body), want)
	}
}

func TestGotifyRootURLAndFailure(t *testing.T) {
	api := gotifyAPI(t)
	p, errs := (&Gotify{AppURL: api.srv.URL + "/", AppToken: tGotifyToken}).Build(tDeps(nil))
	if errs != nil {
		t.Fatal(errs)
	}
	if err := p.Send(context.Background(), tDead(), nil); err != nil {
		t.Fatal(err)
	}
	if c := api.take(); len(c) != 1 || c[0].RequestURI != "/message?token="+tGotifyToken {
		t.Fatalf("requests %+v", c)
	}

	bad, errs := (&Gotify{AppURL: api.srv.URL, AppToken: "wrong"}).Build(tDeps(nil))
	if errs != nil {
		t.Fatal(errs)
	}
	err := bad.Send(context.Background(), tDead(), nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a 401 answer must fail the attempt, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error leaks the token: %v", err)
	}
}
