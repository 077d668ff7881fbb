package messages

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Nothing to mask.
		{"", ""},
		{"0", "0"},
		{"web-1.example.net", "web-1.example.net"},
		{"https://example.com/health", "https://example.com/health"},
		{"tcp://db.internal:5432", "tcp://db.internal:5432"},
		{"icmp://[::1]", "icmp://[::1]"},
		{"https://example.com/a@b/c", "https://example.com/a@b/c"}, // '@' in the path
		// Userinfo.
		{"https://user:hunter2@example.com/", "https://user:***@example.com/"},
		{"https://ghp_TOKEN@example.com/x", "https://***@example.com/x"},
		{"https://user:@example.com", "https://user:***@example.com"},
		{"https://user:p@ss:w@rd@example.com:8443/", "https://user:***@example.com:8443/"},
		{"ssh://root:toor@10.0.0.1:22", "ssh://root:***@10.0.0.1:22"},
		// Query and fragment values.
		{"https://example.com/?api_key=sekret", "https://example.com/?api_key=***"},
		{"https://example.com?api_key=sekret&v=2", "https://example.com?api_key=***&v=***"},
		{"https://example.com/p?token;x=1", "https://example.com/p?***;x=***"},
		{"https://example.com/p?a=1&&b=", "https://example.com/p?a=***&&b=***"},
		{"https://example.com/p#access_token=sekret", "https://example.com/p#access_token=***"},
		{"https://example.com/p?a=x?y=z#frag", "https://example.com/p?a=***#***"},
		{"https://example.com/p?", "https://example.com/p?"},
		// Both, and a prefix before the scheme (a "probe:node:" key).
		{"https://u:pw@example.com/h?key=k", "https://u:***@example.com/h?key=***"},
		{"web:api:https://u:pw@example.com/?key=k", "web:api:https://u:***@example.com/?key=***"},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := RedactURL(got); again != got {
			t.Errorf("RedactURL is not idempotent on %q: %q", got, again)
		}
	}
}

func TestRedactURLKeepsCleanIDsWithoutAllocating(t *testing.T) {
	id := "https://node-1.example.net/health"
	if n := testing.AllocsPerRun(100, func() { _ = RedactURL(id) }); n != 0 {
		t.Fatalf("%v allocations for an id with nothing to mask", n)
	}
}

func TestReplicaKeyStringMasksSecrets(t *testing.T) {
	k := ReplicaKey{Probe: "web", Node: "api", Replica: "https://admin:hunter2@example.com/?api_key=sekret"}
	got := k.String()
	if got != "web:api:https://admin:***@example.com/?api_key=***" {
		t.Fatalf("String() = %q", got)
	}
	if strings.Contains(got, "hunter2") || strings.Contains(got, "sekret") {
		t.Fatalf("String() shows a secret: %q", got)
	}
	if k.Replica != "https://admin:hunter2@example.com/?api_key=sekret" {
		t.Fatal("String changed the key")
	}
}
