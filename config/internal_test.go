package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestURLNormalisation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://status.example.com", "https://status.example.com/"},
		{"HTTPS://Status.Example.COM:443/Path?Q=1#F", "https://status.example.com/Path?Q=1#F"},
		{"http://example.com:80", "http://example.com/"},
		{"http://example.com:8080", "http://example.com:8080/"},
		{"https://example.com:80/", "https://example.com:80/"},
		{"http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"},
		{"mailto:support@example.com", "mailto:support@example.com"},
		{"  https://example.com/a b ", "https://example.com/a%20b"},
	}
	for _, tc := range tests {
		got, err := normalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "example.com", "/relative", "https://", "http:opaque", "https://example.com:65536/", "http://exa mple.com/"} {
		if got, err := normalizeURL(bad); err == nil {
			t.Errorf("normalizeURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseReplica(t *testing.T) {
	good := map[string]Replica{
		"icmp://host":                {ID: "icmp://host", Kind: KindICMP, Host: "host"},
		"icmp://10.0.0.1?q#f":        {ID: "icmp://10.0.0.1?q#f", Kind: KindICMP, Host: "10.0.0.1"},
		"tcp://[::1]:22":             {ID: "tcp://[::1]:22", Kind: KindTCP, Host: "::1", Port: "22"},
		"tcp://u:p@host:1?q#f":       {ID: "tcp://u:p@host:1?q#f", Kind: KindTCP, Host: "host", Port: "1"},
		"ssh://host:22":              {ID: "ssh://host:22", Kind: KindSSH, Host: "host", Port: "22"},
		"https://x.com":              {ID: "https://x.com", Kind: KindHTTP, URL: "https://x.com/"},
		"HTTP://X.com:80/a?b":        {ID: "HTTP://X.com:80/a?b", Kind: KindHTTP, URL: "http://x.com/a?b"},
		"http://x.com/#frag":         {ID: "http://x.com/#frag", Kind: KindHTTP, URL: "http://x.com/#frag"},
		"TCP://Host.Example.com:443": {ID: "TCP://Host.Example.com:443", Kind: KindTCP, Host: "Host.Example.com", Port: "443"},
	}
	for in, want := range good {
		got, err := parseReplica(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseReplica(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"icmp://host/", "icmp://host:7", "icmp:host", "icmp:///",
		"tcp://host", "tcp://host:80/", "tcp://host:", "tcp://:80",
		"ssh://host", "ssh://host:22/x",
		"ftp://host", "udp://host:53", "host:80", "http://", "",
	} {
		if got, err := parseReplica(bad); err == nil {
			t.Errorf("parseReplica(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestSuggestKey(t *testing.T) {
	known := []string{"log_level", "inet", "workers", "mcp_server", "manager_token", "reporter_token", "metrics_token", "metrics_enabled"}
	tests := map[string]string{
		"reporter_tokn":   "reporter_token",
		"reproter_token":  "reporter_token", // transposition
		"REPORTER-TOKEN":  "reporter_token",
		"inte":            "inet",
		"workerz":         "workers",
		"metric_token":    "metrics_token",
		"metrics_enabld":  "metrics_enabled",
		"foo":             "",
		"in":              "",
		"token":           "",
		"listen":          "",
		"manager":         "",
		"mcp":             "",
		"report_token_xx": "",
	}
	for in, want := range tests {
		if got := suggestKey(in, known); got != want {
			t.Errorf("suggestKey(%q) = %q, want %q", in, got, want)
		}
	}

	// The limits at their edges, and ties.
	edges := []struct {
		in    string
		known []string
		want  string
	}{
		{"inxx", []string{"inet"}, ""},                        // 4 characters: 2 is too far
		{"wrkrs", []string{"workers"}, "workers"},             // 5 characters: 2 is close enough
		{"mcp_srvr", []string{"mcp_serverx"}, ""},             // 8 characters: 3 is too far
		{"mcp_srvr_", []string{"mcp_serverx"}, "mcp_serverx"}, // 9 characters: 3 is close enough
		{"b", []string{"a"}, ""},                              // as far as the shorter key is long
		{"abcd_z", []string{"abcd_y", "abcd_x"}, "abcd_x"},    // a tie goes to the first alphabetically
	}
	for _, e := range edges {
		if got := suggestKey(e.in, e.known); got != e.want {
			t.Errorf("suggestKey(%q, %q) = %q, want %q", e.in, e.known, got, e.want)
		}
	}
}

func TestOSADistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"ab", "ba", 1},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
		{"slak", "slack", 1},
		{"reporter_tokn", "reporter_token", 1},
		{"héllo", "hello", 1},
	}
	for _, tc := range tests {
		if got := osaDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("osaDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestURLStrayPercent(t *testing.T) {
	tests := map[string]string{
		"https://example.com/a%zz":      "https://example.com/a%25zz",
		"https://example.com/a%2":       "https://example.com/a%252",
		"https://example.com/ok%20x%":   "https://example.com/ok%20x%25",
		"https://example.com/x#frag%zz": "https://example.com/x#frag%25zz",
	}
	for in, want := range tests {
		if got, err := normalizeURL(in); err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := normalizeURL("http://ex%41mple.com/"); err == nil {
		t.Error("a percent escape in a host name is still refused")
	}
}

// TestReplicaErrorsHideSecrets: a replica URL refused at load is quoted
// without its password or query values.
func TestReplicaErrorsHideSecrets(t *testing.T) {
	for _, raw := range []string{
		"tcp://admin:hunter2@db.example.net",
		"ssh://admin:hunter2@bastion.example.net/?key=hunter2",
		"http://admin:hunter2@[::1:80/?api_key=hunter2",
	} {
		_, err := parseReplica(raw)
		if err == nil {
			t.Fatalf("parseReplica(%q) accepted", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseReplica(%q): error shows the secret: %v", raw, err)
		}
	}
}
