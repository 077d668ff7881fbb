package history

import (
	"cmp"
	"slices"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// Layout is what the recorder records: every service and node, in
// configuration order. The indexes of Node and Latency follow it.
type Layout struct {
	// Interval is the probe interval (poll_interval): two incident periods
	// of a service closer than this merge into one incident.
	Interval time.Duration
	Services []ServiceLayout
}

// ServiceLayout is one service.
type ServiceLayout struct {
	ID, Label string
	// SLO is the objective in percent (e.g. 99.9); 0 means none, and then
	// the service has no error budget.
	SLO   float64
	Nodes []NodeLayout
}

// NodeLayout is one node; Poll nodes have latency.
type NodeLayout struct {
	ID, Label string
	Poll      bool
}

// Recorder records the uptime history. It is not safe for concurrent use:
// one owner (the state actor) calls every method.
type Recorder struct {
	interval int64 // ms
	page     series
	// pageCounts counts the services in each state.
	pageCounts    [nStates]int32
	services      []*service
	retired       []*retiredSubject
	announcements map[string]*announcement
	// pending are records rewritten by New, written by the next Flush.
	pending   []storage.HistoryRecord
	flushed   bool  // a Flush has run
	flushHour int32 // hour of the last Flush
	changed   bool
}

type service struct {
	id, label, subject string
	slo                float64
	ser                series
	// counts counts the nodes in each state.
	counts    [nStates]int32
	nodes     []*node
	incidents []*incident // by start; only the last may be ongoing
}

type node struct {
	id, label, subject string
	ser                series
	lat                *latency // nil unless a poll node
}

// retiredSubject is a service or node removed by Reconfigure, whose
// last records the next Flush writes.
type retiredSubject struct {
	subject string
	ser     *series
	lat     *latency
}

type incident struct {
	start, end int64 // ms; end 0 while ongoing
	worst      messages.Status
	nodes      []string
	dirty      bool
}

type announcement struct {
	id                   string
	first                int64 // time in the key
	published, retracted int64
	title, text          string
	dirty                bool
}

// msOf is t in unix milliseconds (times before 1970 count as 1970).
func msOf(t time.Time) int64 { return max(t.UnixMilli(), 0) }

// New builds a recorder for layout from the stored records (in any
// order). Every subject starts with no data at now: the time between the
// last Flush that produced the records and now is no data. Records of
// subjects not in layout, and records that do not decode, are ignored
// (never deleted, except by age). Records New had to correct (the status
// open at the last Flush, accounted up to it) are written by the first
// Flush.
func New(layout Layout, records []storage.HistoryRecord, now time.Time) *Recorder {
	t := msOf(now)
	r := &Recorder{announcements: map[string]*announcement{}, changed: true}
	initSeries(&r.page, t)
	r.Reconfigure(layout, now)
	r.load(records, t)
	return r
}

func initSeries(s *series, now int64) {
	*s = series{hourTop: hourOf(now), dayTop: dayOf(now), since: now}
	s.clean()
}

// Reconfigure changes the layout. A service or node that keeps its id
// keeps its history and status; a new one starts with no data; a removed
// one disappears from the view (its stored records stay until they age
// out; the next Flush writes its last changes). A node that becomes a poll
// node starts without latencies. Indexes of later calls follow the new
// layout.
func (r *Recorder) Reconfigure(layout Layout, now time.Time) {
	t := msOf(now)
	r.interval = layout.Interval.Milliseconds()
	old := make(map[string]*service, len(r.services))
	for _, sv := range r.services {
		old[sv.id] = sv
	}
	services := make([]*service, 0, len(layout.Services))
	for _, sl := range layout.Services {
		sv := old[sl.ID]
		if sv != nil {
			delete(old, sl.ID)
		} else {
			sv = &service{id: sl.ID, subject: serviceSubject(sl.ID)}
			initSeries(&sv.ser, t)
		}
		sv.label, sv.slo = sl.Label, sl.SLO
		oldNodes := make(map[string]*node, len(sv.nodes))
		for _, n := range sv.nodes {
			oldNodes[n.id] = n
		}
		nodes := make([]*node, 0, len(sl.Nodes))
		sv.counts = [nStates]int32{}
		for _, nl := range sl.Nodes {
			n := oldNodes[nl.ID]
			if n != nil {
				delete(oldNodes, nl.ID)
			} else {
				n = &node{id: nl.ID, subject: nodeSubject(sl.ID, nl.ID)}
				initSeries(&n.ser, t)
			}
			n.label = nl.Label
			switch {
			case nl.Poll && n.lat == nil:
				n.lat = newLatency(t)
			case !nl.Poll:
				n.lat = nil
			}
			sv.counts[n.ser.cur]++
			nodes = append(nodes, n)
		}
		for _, n := range sv.nodes {
			if oldNodes[n.id] == n {
				r.retire(n.subject, &n.ser, n.lat, t)
			}
		}
		sv.nodes = nodes
		services = append(services, sv)
	}
	for _, sv := range r.services {
		if old[sv.id] == sv {
			for _, n := range sv.nodes {
				r.retire(n.subject, &n.ser, n.lat, t)
			}
			r.retire(sv.subject, &sv.ser, nil, t)
		}
	}
	r.services = services
	r.pageCounts = [nStates]int32{}
	for _, sv := range services {
		r.pageCounts[sv.ser.cur]++
	}
	for _, sv := range services {
		r.refreshService(sv, t)
	}
	r.refreshPage(t)
	r.changed = true
}

func (r *Recorder) retire(subject string, s *series, l *latency, t int64) {
	s.set(noData, t)
	r.retired = append(r.retired, &retiredSubject{subject: subject, ser: s, lat: l})
}

// Node records the current status of node ni of service si; hasData
// false means the node has no data (st is then ignored). Call it on every
// change; a call that changes nothing returns at once. Unknown indexes are
// ignored.
func (r *Recorder) Node(si, ni int, st messages.Status, hasData bool, now time.Time) {
	if si < 0 || si >= len(r.services) {
		return
	}
	sv := r.services[si]
	if ni < 0 || ni >= len(sv.nodes) {
		return
	}
	n := sv.nodes[ni]
	ns := toState(st, hasData)
	if ns == n.ser.cur {
		return
	}
	t := msOf(now)
	sv.counts[n.ser.cur]--
	sv.counts[ns]++
	n.ser.set(ns, t)
	r.refreshService(sv, t)
	if ns >= stSick {
		if inc := sv.ongoing(); inc != nil {
			r.addNode(inc, n.id)
		}
	}
}

// Latency records one probe latency of poll node ni of service si (other
// nodes and unknown indexes are ignored). It takes constant time and does
// not allocate.
func (r *Recorder) Latency(si, ni int, d time.Duration, now time.Time) {
	if si < 0 || si >= len(r.services) {
		return
	}
	sv := r.services[si]
	if ni < 0 || ni >= len(sv.nodes) {
		return
	}
	n := sv.nodes[ni]
	l := n.lat
	if l == nil {
		return
	}
	t := msOf(now)
	h, day := hourOf(t), dayOf(t)
	if h != l.hour || day != l.day {
		l.roll(h, day, &n.ser)
	}
	us := toMicros(d)
	l.hh.add(us)
	l.dh.add(us)
	n.ser.markHour(h)
	n.ser.markDay(day)
}

// worst is the state of a subject whose parts are counted in counts.
func worst(counts *[nStates]int32) state {
	for s := nStates - 1; s > noData; s-- {
		if counts[s] > 0 {
			return s
		}
	}
	return noData
}

// refreshService brings the service's status (the worst of its nodes with
// data) and its incidents up to date.
func (r *Recorder) refreshService(sv *service, t int64) {
	ns := worst(&sv.counts)
	if ns == sv.ser.cur {
		return
	}
	r.pageCounts[sv.ser.cur]--
	r.pageCounts[ns]++
	sv.ser.set(ns, t)
	switch {
	case ns >= stSick:
		r.openIncident(sv, ns.status(), t)
	case ns == stHealthy:
		r.closeIncident(sv, t)
	}
	r.refreshPage(t)
}

func (r *Recorder) refreshPage(t int64) {
	if ns := worst(&r.pageCounts); ns != r.page.cur {
		r.page.set(ns, t)
	}
}

// ongoing is the service's ongoing incident, or nil.
func (sv *service) ongoing() *incident {
	if k := len(sv.incidents); k > 0 && sv.incidents[k-1].end == 0 {
		return sv.incidents[k-1]
	}
	return nil
}

// openIncident records that the service is st (sick or dead) at t: the
// ongoing incident goes on, one that ended less than the interval ago
// goes on again, or a new one starts.
func (r *Recorder) openIncident(sv *service, st messages.Status, t int64) {
	var inc *incident
	if k := len(sv.incidents); k > 0 {
		last := sv.incidents[k-1]
		switch {
		case last.end == 0:
			inc = last
		case t-last.end < r.interval || t <= last.start:
			last.end = 0
			last.dirty, r.changed = true, true
			inc = last
		}
	}
	if inc == nil {
		inc = &incident{start: t, worst: st, dirty: true}
		sv.incidents = append(sv.incidents, inc)
		r.changed = true
	}
	if st > inc.worst {
		inc.worst = st
		inc.dirty, r.changed = true, true
	}
	for _, n := range sv.nodes {
		if n.ser.cur >= stSick {
			r.addNode(inc, n.id)
		}
	}
}

func (r *Recorder) closeIncident(sv *service, t int64) {
	if inc := sv.ongoing(); inc != nil {
		inc.end = max(t, inc.start, 1)
		inc.dirty, r.changed = true, true
	}
}

func (r *Recorder) addNode(inc *incident, id string) {
	if !slices.Contains(inc.nodes, id) {
		inc.nodes = append(inc.nodes, id)
		inc.dirty, r.changed = true, true
	}
}

// Announced records a published announcement; a.Date is when it was
// published (now when zero). Announcing an id again updates its record
// (and publishes it again if it was retracted); announcing it unchanged
// does nothing, so the caller may announce every current announcement
// after a restart.
func (r *Recorder) Announced(a messages.Announcement, now time.Time) {
	pub := msOf(now)
	if !a.Date.IsZero() {
		pub = msOf(a.Date)
	}
	an := r.announcements[a.ID]
	switch {
	case an == nil:
		an = &announcement{id: a.ID, first: pub}
		r.announcements[a.ID] = an
	case an.published == pub && an.retracted == 0 && an.title == a.Title && an.text == a.Text:
		return
	}
	an.published, an.retracted, an.title, an.text = pub, 0, a.Title, a.Text
	an.dirty, r.changed = true, true
}

// Retracted records that announcement id was retracted at now; unknown or
// already retracted ids are ignored.
func (r *Recorder) Retracted(id string, now time.Time) {
	an := r.announcements[id]
	if an == nil || an.retracted != 0 {
		return
	}
	an.retracted = max(msOf(now), 1)
	an.dirty, r.changed = true, true
}

// SyncAnnouncements makes the announcement log agree with the
// announcements published now (e.g. the stored ones after a restart):
// each is announced (a no-op when already recorded), and every recorded
// one still published but missing from current is retracted at now.
func (r *Recorder) SyncAnnouncements(current []messages.Announcement, now time.Time) {
	live := make(map[string]bool, len(current))
	for _, a := range current {
		live[a.ID] = true
		r.Announced(a, now)
	}
	for id, an := range r.announcements {
		if an.retracted == 0 && !live[id] {
			r.Retracted(id, now)
		}
	}
}

// Changed reports whether an incident opened, closed or changed, an
// announcement changed, or the layout changed since the last View.
func (r *Recorder) Changed() bool { return r.changed }

// Flush accounts all time up to now and returns the records that changed
// since the last Flush (to write, replacing any with the same key), and
// the key ranges of records past their retention (to delete after the
// puts): hourly buckets older than 7 days (the current hour and the 167
// before it are kept), daily buckets older than 400 days, and incidents
// and announcements that started (were first published) more than 400
// days ago, except ongoing ones and announcements still published. Prune
// ranges come with the first Flush and then the first of every hour.
//
// Within an hour only what changed is written: the subjects whose status
// changed (their record for the hour says which status they have had
// since when) and the poll nodes with new latencies, plus the time of the
// Flush. The first Flush of every hour writes the buckets of every subject
// with data. Calling Flush every few seconds bounds what a crash loses to
// that many seconds.
func (r *Recorder) Flush(now time.Time) (puts []storage.HistoryRecord, prune []storage.KeyRange) {
	return r.flush(msOf(now), false)
}

// Records returns every record the recorder holds, accounted up to now:
// the buckets of the last 7 days (hourly) and 90 days (daily), the
// incidents and announcements of the view, and the time. It is what a
// store rebuilt from memory needs (older daily buckets, and the records of
// subjects not in the layout, are not held in memory, so they are not
// among them). Afterwards Flush returns only later changes.
func (r *Recorder) Records(now time.Time) []storage.HistoryRecord {
	puts, _ := r.flush(msOf(now), true)
	return puts
}

func (r *Recorder) flush(t int64, all bool) ([]storage.HistoryRecord, []storage.KeyRange) {
	curH, today := hourOf(t), dayOf(t)
	roll := all || !r.flushed || curH != r.flushHour
	if roll {
		r.settleAll(t, curH, today)
		r.forget(today)
	}
	e := encoder{curH: curH, today: today, all: all}
	for _, rs := range r.retired {
		e.series(rs.subject, rs.ser, rs.lat)
	}
	r.retired = nil
	e.series(subjectPage, &r.page, nil)
	for _, sv := range r.services {
		e.series(sv.subject, &sv.ser, nil)
		for _, n := range sv.nodes {
			e.series(n.subject, &n.ser, n.lat)
		}
		for _, inc := range sv.incidents {
			if inc.dirty || all {
				rec := incidentRecord{start: inc.start, end: inc.end, worst: inc.worst, nodes: inc.nodes}
				e.put(incidentKey(inc.start, sv.subject), appendIncidentRecord(e.buf, &rec))
				inc.dirty = false
			}
		}
	}
	for _, an := range r.announcements {
		if an.dirty || all {
			rec := announcementRecord{published: an.published, retracted: an.retracted, title: an.title, text: an.text}
			e.put(announcementKey(an.first, an.id), appendAnnouncementRecord(e.buf, &rec))
			an.dirty = false
		}
	}
	e.put(keyMeta, appendMetaRecord(e.buf, t))
	if len(r.pending) > 0 {
		written := make(map[string]bool, len(e.puts))
		for _, p := range e.puts {
			written[p.Key] = true
		}
		for _, p := range r.pending {
			if !written[p.Key] {
				e.puts = append(e.puts, p)
			}
		}
		r.pending = nil
	}
	r.flushed, r.flushHour = true, curH
	if !roll {
		return e.puts, nil
	}
	return e.puts, r.pruneRanges(t, curH, today)
}

// settleAll accounts every subject's time up to t and marks the hour of t
// of each subject with data, whose record then says since when it has had
// its status; latency histograms of past hours and days are closed.
func (r *Recorder) settleAll(t int64, curH, today int32) {
	one := func(s *series, l *latency) {
		s.settle(t)
		if s.cur != noData {
			s.markHour(curH)
		}
		if l != nil {
			l.roll(curH, today, s)
		}
	}
	one(&r.page, nil)
	for _, sv := range r.services {
		one(&sv.ser, nil)
		for _, n := range sv.nodes {
			one(&n.ser, n.lat)
		}
	}
}

// forget drops from memory the incidents and announcements the view no
// longer shows.
func (r *Recorder) forget(today int32) {
	from := int64(today-ringDays+1) * dayMs
	for _, sv := range r.services {
		sv.incidents = slices.DeleteFunc(sv.incidents, func(inc *incident) bool {
			return inc.end != 0 && inc.end < from && !inc.dirty
		})
	}
	for id, an := range r.announcements {
		if an.retracted != 0 && an.published < from && !an.dirty {
			delete(r.announcements, id)
		}
	}
}

func (r *Recorder) pruneRanges(t int64, curH, today int32) []storage.KeyRange {
	cutoff := t - retainDays*dayMs
	var ongoing, published []string
	for _, sv := range r.services {
		if inc := sv.ongoing(); inc != nil && inc.start < cutoff {
			ongoing = append(ongoing, incidentKey(inc.start, sv.subject))
		}
	}
	for _, an := range r.announcements {
		if an.retracted == 0 && an.first < cutoff {
			published = append(published, announcementKey(an.first, an.id))
		}
	}
	out := []storage.KeyRange{
		{From: prefixHour, To: timeKey(prefixHour, int64(curH-ringHours+1), bucketWidth, "")},
		{From: prefixDay, To: timeKey(prefixDay, int64(today-retainDays+1), bucketWidth, "")},
	}
	out = rangesAround(out, prefixIncident, timeKey(prefixIncident, cutoff, msWidth, ""), ongoing)
	return rangesAround(out, prefixAnnouncement, timeKey(prefixAnnouncement, cutoff, msWidth, ""), published)
}

// rangesAround appends the ranges that cover [from, to) except the keys
// in keep.
func rangesAround(out []storage.KeyRange, from, to string, keep []string) []storage.KeyRange {
	slices.Sort(keep)
	for _, k := range keep {
		if k < from || k >= to {
			continue
		}
		if from < k {
			out = append(out, storage.KeyRange{From: from, To: k})
		}
		from = k + "\x00" // the key right after k
	}
	if from < to {
		out = append(out, storage.KeyRange{From: from, To: to})
	}
	return out
}

// encoder collects the records of one Flush; values share one buffer.
type encoder struct {
	curH, today int32
	all         bool
	buf         []byte
	puts        []storage.HistoryRecord
}

// put adds a record whose value was appended to e.buf.
func (e *encoder) put(key string, buf []byte) {
	start := len(e.buf)
	e.buf = buf
	e.puts = append(e.puts, storage.HistoryRecord{Key: key, Value: buf[start:len(buf):len(buf)]})
}

// series adds the records of a subject that changed since the last Flush
// (all of them in e.all mode) and marks it clean.
func (e *encoder) series(subject string, s *series, l *latency) {
	hlo, hhi, dlo, dhi := s.dirtyHourLo, s.dirtyHourHi, s.dirtyDayLo, s.dirtyDayHi
	if e.all {
		hlo, hhi, dlo, dhi = e.curH-ringHours+1, e.curH, e.today-ringDays+1, e.today
	}
	s.clean()
	for h := max(hlo, e.curH-ringHours+1); h <= hhi; h++ {
		rec := bucketRecord{b: s.hour(h)}
		if h == e.curH && s.cur != noData {
			rec.open = s.cur
			rec.since = uint32(min(max(s.since-int64(h)*hourMs, 0), hourMs-1))
		}
		if l != nil {
			if sum := l.hourSum(h); sum.count > 0 {
				rec.hasLat, rec.lat = true, sum
				if h == l.hour {
					rec.hist = &l.hh
				}
			}
		}
		if rec.b == (bucket{}) && rec.open == noData && !rec.hasLat && (e.all || h != e.curH) {
			continue
		}
		e.put(hourKey(h, subject), appendBucketRecord(e.buf, &rec))
	}
	for d := max(dlo, e.today-ringDays+1); d <= dhi; d++ {
		rec := bucketRecord{b: s.day(d)}
		if l != nil {
			if sum, h := l.daySum(d); sum.count > 0 {
				rec.hasLat, rec.lat, rec.hist = true, sum, h
			}
		}
		if rec.b == (bucket{}) && !rec.hasLat {
			continue
		}
		e.put(dayKey(d, subject), appendBucketRecord(e.buf, &rec))
	}
}

// loaded is a decoded bucket record during New.
type loaded struct {
	key     string
	kind    byte
	at      int32
	subject string
	rec     bucketRecord
	rewrite bool
}

// load fills the recorder from stored records (see New).
func (r *Recorder) load(records []storage.HistoryRecord, t int64) {
	flushed := int64(-1)
	var buckets []*loaded
	byKey := map[string]*loaded{}
	type incRec struct {
		subject string
		rec     incidentRecord
	}
	var incs []incRec
	for _, rec := range records {
		if rec.Key == keyMeta {
			if v, err := decodeMetaRecord(rec.Value); err == nil {
				flushed = v
			}
			continue
		}
		kind, at, rest, ok := parseKey(rec.Key)
		if !ok {
			continue
		}
		switch kind {
		case 'h', 'd':
			length := uint32(hourMs)
			if kind == 'd' {
				length = dayMs
			}
			b, err := decodeBucketRecord(rec.Value, length)
			if err != nil || at > 1<<31-1 {
				continue
			}
			l := &loaded{key: rec.Key, kind: kind, at: int32(at), subject: rest, rec: b}
			buckets = append(buckets, l)
			byKey[rec.Key] = l
		case 'i':
			ir, err := decodeIncidentRecord(rec.Value)
			if err == nil && ir.start == at {
				incs = append(incs, incRec{subject: rest, rec: ir})
			}
		case 'a':
			id, ok := unescape(rest)
			ar, err := decodeAnnouncementRecord(rec.Value)
			if !ok || err != nil {
				continue
			}
			if old := r.announcements[id]; old == nil || old.published < ar.published {
				r.announcements[id] = &announcement{id: id, first: at, published: ar.published,
					retracted: ar.retracted, title: ar.title, text: ar.text}
			}
		}
	}
	// The status each subject had at the last Flush, from then on, is in
	// its record of that hour: account it up to the Flush.
	for _, l := range buckets {
		if l.kind != 'h' || l.rec.open == noData {
			continue
		}
		st, since := l.rec.open, l.rec.since
		l.rec.open, l.rec.since, l.rewrite = noData, 0, true
		if flushed < 0 || l.at != hourOf(flushed) {
			continue
		}
		from := int64(l.at)*hourMs + int64(since)
		ms := uint32(max(flushed-from, 0))
		ms = min(ms, uint32(hourMs-l.rec.b.observed()))
		l.rec.b.add(st, ms)
		dk := dayKey(dayOf(flushed), l.subject)
		day := byKey[dk]
		if day == nil {
			day = &loaded{key: dk, kind: 'd', at: dayOf(flushed), subject: l.subject}
			buckets = append(buckets, day)
			byKey[dk] = day
		}
		day.rec.b.add(st, min(ms, uint32(dayMs-day.rec.b.observed())))
		day.rewrite = true
	}
	type target struct {
		ser *series
		lat *latency
	}
	subjects := map[string]target{subjectPage: {ser: &r.page}}
	services := map[string]*service{}
	for _, sv := range r.services {
		subjects[sv.subject] = target{ser: &sv.ser}
		services[sv.subject] = sv
		for _, n := range sv.nodes {
			subjects[n.subject] = target{ser: &n.ser, lat: n.lat}
		}
	}
	curH, today := hourOf(t), dayOf(t)
	for _, l := range buckets {
		if l.rewrite {
			var buf []byte
			r.pending = append(r.pending, storage.HistoryRecord{Key: l.key, Value: appendBucketRecord(buf, &l.rec)})
		}
		tg, ok := subjects[l.subject]
		if !ok {
			continue
		}
		if l.kind == 'h' {
			if l.at > curH || l.at <= curH-ringHours {
				continue
			}
			tg.ser.hours[l.at%ringHours] = l.rec.b
			if tg.lat != nil && l.rec.hasLat {
				switch {
				case l.at == curH && l.rec.hist != nil:
					tg.lat.hh = *l.rec.hist
				case l.at < curH:
					tg.lat.setHour(l.at, l.rec.lat)
				}
			}
			continue
		}
		if l.at > today || l.at <= today-ringDays {
			continue
		}
		tg.ser.days[l.at%ringDays] = l.rec.b
		if tg.lat != nil && l.rec.hasLat {
			switch {
			case l.at == today && l.rec.hist != nil:
				tg.lat.dh = *l.rec.hist
			case l.at == today-1:
				tg.lat.prevDay, tg.lat.prevSum = l.at, l.rec.lat
			}
		}
	}
	from := int64(today-ringDays+1) * dayMs
	for _, ir := range incs {
		sv := services[ir.subject]
		if sv == nil || (ir.rec.end != 0 && ir.rec.end < from) {
			continue
		}
		sv.incidents = append(sv.incidents, &incident{start: ir.rec.start, end: ir.rec.end,
			worst: ir.rec.worst, nodes: ir.rec.nodes})
	}
	for _, sv := range r.services {
		slices.SortFunc(sv.incidents, func(a, b *incident) int { return cmp.Compare(a.start, b.start) })
		// Only the latest incident can be ongoing: an older one still open
		// ended when the next began.
		for i, inc := range sv.incidents[:max(len(sv.incidents)-1, 0)] {
			if inc.end == 0 {
				inc.end = max(sv.incidents[i+1].start, inc.start, 1)
				inc.dirty = true
			}
		}
	}
	for id, an := range r.announcements {
		if an.retracted != 0 && an.published < from {
			delete(r.announcements, id)
		}
	}
}
