package messages

import (
	"encoding/json"
	"testing"
)

// TestNotificationKindText: each kind round-trips through its wire name;
// an unknown kind neither encodes nor decodes.
func TestNotificationKindText(t *testing.T) {
	for _, k := range []NotificationKind{Startup, Changed, Reminder} {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back NotificationKind
		if err := json.Unmarshal(b, &back); err != nil || back != k || string(b) != `"`+k.String()+`"` {
			t.Fatalf("%v: encoded %s, decoded %v (%v)", k, b, back, err)
		}
	}
	if _, err := json.Marshal(NotificationKind(7)); err == nil {
		t.Fatal("an unknown kind encoded")
	}
	var k NotificationKind
	if err := json.Unmarshal([]byte(`"later"`), &k); err == nil {
		t.Fatal("an unknown wire name decoded")
	}
}
