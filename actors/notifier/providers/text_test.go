package providers

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

func TestTextPieces(t *testing.T) {
	if statusTitle(messages.Dead) != "Dead" || statusTitle(messages.Healthy) != "Healthy" || statusTitle(messages.Sick) != "Sick" {
		t.Fatal("statusTitle")
	}
	if statusIcon(messages.Sick) != "⚠" || statusIcon(messages.Dead) != "❌" || statusIcon(messages.Healthy) != "✅" {
		t.Fatal("statusIcon")
	}
	n := messages.Notification{Kind: messages.Reminder, Replicas: []string{"a:b:c", "d:e:f"}}
	if nodesText(n) != "a:b:c, d:e:f" || lead(n) != "Status is still" || shortPrefix(n) != "Reminder for: " {
		t.Fatal("reminder pieces")
	}
}

func TestTruncateIsRuneSafe(t *testing.T) {
	s := strings.Repeat("é", 600) // 1200 bytes
	got := truncateBytes(s, 1000, "[..]")
	if len(got) > 1000 || !utf8.ValidString(got) || !strings.HasSuffix(got, "[..]") {
		t.Fatalf("len %d valid %v", len(got), utf8.ValidString(got))
	}
	if truncateBytes("short", 1000, "[..]") != "short" {
		t.Fatal("short text changed")
	}
	r := truncateRunes(strings.Repeat("❌", 5000), 4096, "…")
	if utf8.RuneCountInString(r) != 4096 || !strings.HasSuffix(r, "…") {
		t.Fatalf("runes %d", utf8.RuneCountInString(r))
	}
}
