package history

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

func fullBucket() *bucketRecord {
	h := &hist{}
	for _, us := range []uint32{3, 900, 1000, 25000, 25001, 7_000_000} {
		h.add(us)
	}
	return &bucketRecord{b: bucket{healthy: 1000, sick: 2000, dead: 3000}, open: stSick, since: 6000,
		hasLat: true, lat: h.summary(), hist: h}
}

func TestCodecRoundTrip(t *testing.T) {
	buckets := []*bucketRecord{
		{},
		{b: bucket{healthy: hourMs}},
		{b: bucket{dead: 5}, open: stDead, since: hourMs - 1},
		{b: bucket{sick: 1}, hasLat: true, lat: latSum{count: 3, p50: 10, p95: 20, max: 30}},
		fullBucket(),
	}
	for _, in := range buckets {
		v := appendBucketRecord(nil, in)
		out, err := decodeBucketRecord(v, hourMs)
		if err != nil || !reflect.DeepEqual(&out, in) {
			t.Errorf("bucket %+v: decoded %+v, %v", in, out, err)
		}
	}
	inc := incidentRecord{start: 1, end: 0, worst: messages.Sick, nodes: []string{"a", "", "c/d"}}
	if out, err := decodeIncidentRecord(appendIncidentRecord(nil, &inc)); err != nil || !reflect.DeepEqual(out, inc) {
		t.Errorf("incident: %+v, %v", out, err)
	}
	ann := announcementRecord{published: 5, retracted: 9, title: "T", text: "body\x00"}
	if out, err := decodeAnnouncementRecord(appendAnnouncementRecord(nil, &ann)); err != nil || out != ann {
		t.Errorf("announcement: %+v, %v", out, err)
	}
	if out, err := decodeMetaRecord(appendMetaRecord(nil, 77)); err != nil || out != 77 {
		t.Errorf("meta: %v, %v", out, err)
	}
}

func TestCodecRejectsCorruptValues(t *testing.T) {
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	v1 := []byte{recordVersion}
	good := appendBucketRecord(nil, fullBucket())
	buckets := map[string][]byte{
		"empty":                {},
		"version 0":            {0, 0, 0, 0, 0},
		"version 2":            {2, 0, 0, 0, 0},
		"truncated":            good[:len(good)-1],
		"trailing byte":        append(append([]byte{}, good...), 0),
		"unknown flag":         cat(v1, uv(8, 0, 0, 0)),
		"histogram alone":      cat(v1, uv(flagHist, 0, 0, 0, 0, 0)),
		"more than an hour":    cat(v1, uv(0, hourMs, 1, 0)),
		"over 32 bits":         cat(v1, uv(0, math.MaxUint32+1, 0, 0)),
		"overlong varint":      cat(v1, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),
		"open without data":    cat(v1, uv(flagOpen, 0, 0, 0), []byte{0}, uv(0)),
		"open unknown state":   cat(v1, uv(flagOpen, 0, 0, 0), []byte{4}, uv(0)),
		"since past the end":   cat(v1, uv(flagOpen, 0, 0, 0), []byte{1}, uv(hourMs)),
		"p50 above p95":        cat(v1, uv(flagLatency, 0, 0, 0, 2, 9, 8, 10)),
		"p95 above max":        cat(v1, uv(flagLatency, 0, 0, 0, 2, 5, 11, 10)),
		"quantiles without n":  cat(v1, uv(flagLatency, 0, 0, 0, 0, 1, 1, 1)),
		"bins sum wrong":       cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 3, 5, 5, 5, 5, 1, 20, 2)),
		"bin index past end":   cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 1, 5, 5, 5, 5, 1, nBins, 1)),
		"bin gap past end":     cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 2, 5, 5, 5, 5, 2, nBins-1, 1, 0, 1)),
		"empty bin":            cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 1, 5, 5, 5, 5, 2, 3, 1, 0, 0)),
		"too many bins":        cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 1, 5, 5, 5, 5, nBins+1)),
		"min above p50":        cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 1, 5, 5, 5, 6, 1, 3, 1)),
		"bins cut short":       cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 2, 5, 5, 5, 5, 2, 3, 1)),
		"huge bin count claim": cat(v1, uv(flagLatency|flagHist, 0, 0, 0, 1, 5, 5, 5, 5, 1<<62)),
	}
	for name, v := range buckets {
		if _, err := decodeBucketRecord(v, hourMs); err == nil {
			t.Errorf("bucket %s (%x): decoded", name, v)
		}
	}
	if _, err := decodeBucketRecord(cat(v1, uv(0, hourMs, 1, 0)), dayMs); err != nil {
		t.Errorf("an hour and a millisecond in a day: %v", err)
	}
	incidents := map[string][]byte{
		"empty":                {},
		"ends before start":    cat(v1, uv(10, 5), []byte{2}, uv(0)),
		"healthy worst":        cat(v1, uv(10, 0), []byte{0}, uv(0)),
		"unknown worst":        cat(v1, uv(10, 0), []byte{3}, uv(0)),
		"node count too large": cat(v1, uv(10, 0), []byte{2}, uv(1<<40)),
		"node cut short":       cat(v1, uv(10, 0), []byte{2}, uv(1, 5), []byte("ab")),
		"time out of range":    cat(v1, uv(1<<60, 0), []byte{2}, uv(0)),
		"trailing":             cat(v1, uv(10, 0), []byte{2}, uv(0), []byte{0}),
	}
	for name, v := range incidents {
		if _, err := decodeIncidentRecord(v); err == nil {
			t.Errorf("incident %s: decoded", name)
		}
	}
	announcements := map[string][]byte{
		"empty":            {},
		"title too long":   cat(v1, uv(1, 0, 100), []byte("short")),
		"missing text":     cat(v1, uv(1, 0, 1), []byte("t")),
		"huge text length": cat(v1, uv(1, 0, 0, 1<<63)),
	}
	for name, v := range announcements {
		if _, err := decodeAnnouncementRecord(v); err == nil {
			t.Errorf("announcement %s: decoded", name)
		}
	}
	for name, v := range map[string][]byte{"empty": {}, "trailing": cat(v1, uv(1, 1))} {
		if _, err := decodeMetaRecord(v); err == nil {
			t.Errorf("meta %s: decoded", name)
		}
	}
}

// TestNewIgnoresGarbage: undecodable records and unknown keys are left
// out, the rest loads.
func TestNewIgnoresGarbage(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	good := storage.HistoryRecord{Key: dayKey(dayOf(now.UnixMilli()), nodeSubject("web", "a")),
		Value: appendBucketRecord(nil, &bucketRecord{b: bucket{healthy: 60_000}})}
	recs := []storage.HistoryRecord{
		{Key: "", Value: nil},
		{Key: "h/", Value: []byte{1}},
		{Key: "h/zzzzzzzz/p", Value: good.Value},
		{Key: "h/000783fa", Value: good.Value},
		{Key: "x/00000000/p", Value: good.Value},
		{Key: hourKey(hourOf(now.UnixMilli()), subjectPage), Value: []byte{1, 0xff}},
		{Key: incidentKey(5, serviceSubject("web")), Value: appendIncidentRecord(nil, &incidentRecord{start: 6, worst: messages.Dead})},
		{Key: announcementKey(5, "x") + "%zz", Value: appendAnnouncementRecord(nil, &announcementRecord{})},
		{Key: keyMeta, Value: []byte{9}},
		good,
	}
	v := New(webLayout(), recs, now).View(now)
	if d := today(v.Services[0].Nodes[0].HistorySeries); d.Healthy != time.Minute {
		t.Errorf("good record not loaded: %+v", dayTimes(d))
	}
	if len(v.Incidents) != 0 || len(v.Announcements) != 0 {
		t.Errorf("garbage loaded: %+v %+v", v.Incidents, v.Announcements)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(byte('h'), appendBucketRecord(nil, fullBucket()))
	f.Add(byte('d'), appendBucketRecord(nil, &bucketRecord{b: bucket{dead: 1}}))
	f.Add(byte('i'), appendIncidentRecord(nil, &incidentRecord{start: 1, end: 2, worst: messages.Dead, nodes: []string{"a"}}))
	f.Add(byte('a'), appendAnnouncementRecord(nil, &announcementRecord{published: 1, title: "t", text: "x"}))
	f.Add(byte('m'), appendMetaRecord(nil, 1))
	f.Fuzz(func(t *testing.T, kind byte, v []byte) {
		switch kind % 5 {
		case 0, 1:
			length := uint32(hourMs)
			if kind%5 == 1 {
				length = dayMs
			}
			r, err := decodeBucketRecord(v, length)
			if err != nil {
				return
			}
			r2, err := decodeBucketRecord(appendBucketRecord(nil, &r), length)
			if err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("bucket %+v re-decoded as %+v, %v", r, r2, err)
			}
			if r.hist != nil {
				if s := r.hist.summary(); s.count != r.lat.count || s.max != r.lat.max {
					t.Fatalf("histogram %+v disagrees with summary %+v", s, r.lat)
				}
			}
		case 2:
			r, err := decodeIncidentRecord(v)
			if err != nil {
				return
			}
			if r2, err := decodeIncidentRecord(appendIncidentRecord(nil, &r)); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("incident %+v re-decoded as %+v, %v", r, r2, err)
			}
		case 3:
			r, err := decodeAnnouncementRecord(v)
			if err != nil {
				return
			}
			if r2, err := decodeAnnouncementRecord(appendAnnouncementRecord(nil, &r)); err != nil || r != r2 {
				t.Fatalf("announcement %+v re-decoded as %+v, %v", r, r2, err)
			}
		default:
			if m, err := decodeMetaRecord(v); err == nil && m < 0 {
				t.Fatalf("negative time %d", m)
			}
		}
		// Whatever the value, New takes it without panicking.
		now := t0.Add(time.Hour)
		for _, key := range []string{hourKey(hourOf(now.UnixMilli()), nodeSubject("web", "a")),
			dayKey(dayOf(now.UnixMilli()), subjectPage), incidentKey(1, serviceSubject("web")), announcementKey(1, "x"), keyMeta} {
			r := New(webLayout(), []storage.HistoryRecord{{Key: key, Value: v}, {Key: keyMeta, Value: appendMetaRecord(nil, now.UnixMilli()-1)}}, now)
			r.Flush(now)
			r.View(now)
		}
	})
}

func TestKeys(t *testing.T) {
	for _, id := range []string{"", "web", "a/b", "%", "%2F", "a%/b/", "ünï"} {
		e := escape(id)
		if back, ok := unescape(e); !ok || back != id {
			t.Errorf("escape(%q) = %q, back %q %v", id, e, back, ok)
		}
		if bytes.ContainsRune([]byte(e), '/') {
			t.Errorf("escape(%q) = %q has a slash", id, e)
		}
	}
	for _, s := range []string{"a/b", "%", "%2", "%zz", "%2f"} {
		if back, ok := unescape(s); ok {
			t.Errorf("unescape(%q) = %q, want an error", s, back)
		}
	}
	if nodeSubject("a/b", "c") == nodeSubject("a", "b/c") {
		t.Error("node subjects collide")
	}
	k := hourKey(0x783fa, nodeSubject("w", "n"))
	if k != "h/000783fa/n/w/n" {
		t.Errorf("hour key %q", k)
	}
	kind, v, rest, ok := parseKey(k)
	if !ok || kind != 'h' || v != 0x783fa || rest != "n/w/n" {
		t.Errorf("parseKey(%q) = %c %x %q %v", k, kind, v, rest, ok)
	}
	// Keys of one kind sort by time.
	if !(hourKey(9, "z") < hourKey(10, "a") && incidentKey(0xfff, "z") < incidentKey(0x1000, "a")) {
		t.Error("keys do not sort by time")
	}
	for _, bad := range []string{"", "h", "h/", "h/0000000", "h/0000000g/p", "h/00000000", "h/00000000/", "q/00000000/p", "h/00000000xp"} {
		if _, _, _, ok := parseKey(bad); ok {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}
