package history

import (
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

func TestPruneRanges(t *testing.T) {
	now := t0.Add(13*time.Hour + 25*time.Minute)
	ms := now.UnixMilli()
	curH, today := hourOf(ms), dayOf(ms)
	const dayMsI = int64(dayMs)
	web, gone := serviceSubject("web"), serviceSubject("gone")
	val := func(b []byte) []byte { return b }
	bucketVal := val(appendBucketRecord(nil, &bucketRecord{b: bucket{healthy: 1}}))
	incVal := func(start, end int64) []byte {
		return appendIncidentRecord(nil, &incidentRecord{start: start, end: end, worst: messages.Dead})
	}
	annVal := func(pub, ret int64) []byte {
		return appendAnnouncementRecord(nil, &announcementRecord{published: pub, retracted: ret, title: "t"})
	}
	cutoff := ms - 400*dayMsI
	cases := []struct {
		key    string
		value  []byte
		pruned bool
	}{
		{hourKey(curH-168, web), bucketVal, true},
		{hourKey(curH-168, gone), bucketVal, true},
		{hourKey(curH-167, web), bucketVal, false},
		{hourKey(curH-167, gone), bucketVal, false},
		{hourKey(curH, web), bucketVal, false},
		{dayKey(today-400, web), bucketVal, true},
		{dayKey(today-400, gone), bucketVal, true},
		{dayKey(today-399, web), bucketVal, false},
		{dayKey(today-91, gone), bucketVal, false},
		{incidentKey(cutoff-1, gone), incVal(cutoff-1, cutoff), true},
		{incidentKey(cutoff, gone), incVal(cutoff, cutoff+1), false},
		// web's ongoing incident began 500 days ago: kept, unlike those
		// around it.
		{incidentKey(ms-501*dayMsI, web), incVal(ms-501*dayMsI, ms-500*dayMsI-1), true},
		{incidentKey(ms-500*dayMsI, gone), incVal(ms-500*dayMsI, ms-449*dayMsI), true},
		{incidentKey(ms-500*dayMsI, web), incVal(ms-500*dayMsI, 0), false},
		{incidentKey(ms-450*dayMsI, gone), incVal(ms-450*dayMsI, ms-449*dayMsI), true},
		// An announcement still published is kept however old.
		{announcementKey(ms-401*dayMsI, "old"), annVal(ms-401*dayMsI, ms-300*dayMsI), true},
		{announcementKey(ms-399*dayMsI, "recent"), annVal(ms-399*dayMsI, ms-300*dayMsI), false},
		{announcementKey(ms-700*dayMsI, "pinned"), annVal(ms-700*dayMsI, 0), false},
		{announcementKey(ms-700*dayMsI, "pinned2"), annVal(ms-700*dayMsI, ms-600*dayMsI), true},
		{keyMeta, appendMetaRecord(nil, ms-time.Hour.Milliseconds()), false},
	}
	store := memStore{}
	var recs []storage.HistoryRecord
	for _, c := range cases {
		store[c.key] = c.value
		recs = append(recs, storage.HistoryRecord{Key: c.key, Value: c.value})
	}
	r := New(webLayout(), recs, now)
	puts, prune := r.Flush(now)
	if len(prune) == 0 {
		t.Fatal("first Flush returned no prune ranges")
	}
	for _, p := range puts {
		for _, kr := range prune {
			if p.Key >= kr.From && p.Key < kr.To {
				t.Errorf("put %s is in prune range %v", p.Key, kr)
			}
		}
	}
	for _, c := range cases {
		in := false
		for _, kr := range prune {
			in = in || (c.key >= kr.From && c.key < kr.To)
		}
		if in != c.pruned {
			t.Errorf("%s: pruned %v, want %v", c.key, in, c.pruned)
		}
	}
	// Within the hour nothing more is pruned; the next hour moves the
	// hourly range by one.
	if _, prune := r.Flush(now.Add(time.Minute)); prune != nil {
		t.Errorf("second Flush in the hour prunes %v", prune)
	}
	_, prune = r.Flush(now.Add(time.Hour))
	if prune[0].To != timeKey(prefixHour, int64(curH-166), bucketWidth, "") {
		t.Errorf("next hour prunes %v", prune[0])
	}
}
