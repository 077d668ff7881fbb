package state

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// The state actor and the store writer.
//
// The model is the authority; the store is its durable copy. Three kinds
// of requests go to the writer, which handles them in order:
//
//   - periodic batches (TakeBatch), without a reply: a lost one makes the
//     writer signal Stale;
//   - Manager commands: a batch of the command's records (CommandBatch),
//     with a reply. The model applies the command only once the batch is
//     durable, then publishes, then answers the caller (200 means durable
//     and visible; an error means neither);
//   - rebuilds: the model's FullState, with a reply, when the store may
//     not hold what the model has (the writer signalled Stale, or a
//     command or rebuild failed). A failed rebuild is retried with backoff.
//
// Replies come back on one channel, in the order the requests were handed
// over, so the link keeps a queue of what it waits for. While a command or
// rebuild is in flight, or a rebuild is due, periodic batches wait: a
// periodic batch queued behind a command could carry older values of the
// records it writes (the alerting state of an ignore window), and one
// written to a store that needs a rebuild is wasted.

// requestKind says what a request that waits for a reply was.
type requestKind uint8

const (
	commandRequest requestKind = iota
	rebuildRequest
	// finalRequest and finalRebuildRequest are the last batch, and the
	// last rebuild, of a stopping actor.
	finalRequest
	finalRebuildRequest
	// notifyRequest is a batch that puts held notifications in the outbox
	// (Options.StoreFirst): they go to the notifiers once it is durable.
	notifyRequest
)

// awaited is a request handed to the writer with a reply.
type awaited struct {
	kind requestKind
	// msg and batch are the Manager command and the batch that stores it;
	// reply is its caller.
	msg   messages.StateMessage
	batch storage.Batch
	reply chan<- error
	// notes are the notifications a notifyRequest stores.
	notes []messages.Notification
}

// storeLink is the state actor's side of the store writer for one run of
// Serve. It is owned by the actor's goroutine.
type storeLink struct {
	writer  Writer
	publish func(time.Time)
	// results receives the reply of every awaited request, in order.
	results chan error
	waiting []awaited
	// rebuild is set when the store must be rebuilt from the model; not
	// before rebuildAt, after a failure.
	rebuild   bool
	rebuildAt time.Time
	backoff   time.Duration
	// stopping is set by finalFlush, which then decides what is sent.
	stopping bool
}

const (
	// resultsSize bounds the requests awaiting a reply; it is above the
	// writer's queue, so the writer never waits to reply.
	resultsSize = 128
	// Rebuild retries wait minRebuildBackoff, doubling up to
	// maxRebuildBackoff.
	minRebuildBackoff = time.Second
	maxRebuildBackoff = 30 * time.Second
)

func newStoreLink(w Writer, publish func(time.Time)) *storeLink {
	if w == nil {
		return nil
	}
	return &storeLink{writer: w, publish: publish, results: make(chan error, resultsSize)}
}

// replies is the channel of replies (nil without a writer, so that a
// select never takes it).
func (l *storeLink) replies() <-chan error {
	if l == nil {
		return nil
	}
	return l.results
}

// stale is the writer's Stale signal (nil without a writer).
func (l *storeLink) stale() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.writer.Stale()
}

// room reports whether a request with a reply can be handed over at once.
func (l *storeLink) room() bool { return l.writer.Room() && len(l.waiting) < cap(l.results) }

// command handles the Manager API messages, which carry a reply channel,
// and reports whether msg was one. Without a store the change is applied,
// published and answered at once. With one, its batch goes to the writer
// and the change waits for the reply (commandStored); when the writer has
// no room it is refused with ErrBusy.
func (a *Actor) command(model *Model, msg messages.StateMessage, publish func(time.Time)) bool {
	var reply chan<- error
	switch m := msg.(type) {
	case messages.AnnouncementAdd:
		reply = m.Reply
	case messages.IgnoreSet:
		reply = m.Reply
	case messages.AnnouncementRemove:
		reply = m.Reply
		if !model.HasAnnouncement(m.ID) {
			reply <- messages.ErrUnknownAnnouncement
			return true
		}
	default:
		return false
	}
	l := a.link
	if l == nil {
		a.logCommand(model, msg)
		model.Apply(msg, time.Now())
		publish(time.Now())
		reply <- nil
		return true
	}
	if !l.room() {
		reply <- messages.ErrBusy
		return true
	}
	b := model.CommandBatch(msg)
	_ = l.writer.Write(context.Background(), b, l.results) // queued at once: room was checked
	l.waiting = append(l.waiting, awaited{kind: commandRequest, msg: msg, batch: b, reply: reply})
	return true
}

// stored takes the reply to the oldest awaited request.
func (a *Actor) stored(model *Model, err error) {
	l := a.link
	r := l.waiting[0]
	l.waiting[0] = awaited{}
	l.waiting = l.waiting[1:]
	switch r.kind {
	case commandRequest:
		a.commandStored(model, r, err)
	case rebuildRequest:
		a.rebuilt(err)
		if a.storeFirst && (err == nil || isRejected(err)) {
			// The outbox is durable as the model holds it, held
			// notifications included.
			a.handOver(model, "notification handed over once stored")
		}
	case notifyRequest:
		a.notesStored(model, r.notes, err)
	case finalRequest, finalRebuildRequest:
		switch {
		case err == nil || isRejected(err):
		case errors.Is(err, storage.ErrFenced):
			a.logger.Warn("last store write fenced off: this instance no longer leads; the leader's store stands", "error", err.Error())
		case r.kind == finalRebuildRequest:
			a.logger.Error("last store write failed: the store does not hold the last changes", "error", err.Error())
		default:
			a.logger.Warn("last store write failed: rebuilding the store from the state in memory", "error", err.Error())
			a.needRebuild()
		}
	}
	a.flush(model)
}

// notesStored hands the notifications of a durable batch to the
// notifiers. When the batch failed, the store is rebuilt from the model,
// outbox included, and the notifications are handed over once that is
// durable (stored, rebuildRequest).
func (a *Actor) notesStored(model *Model, notes []messages.Notification, err error) {
	if err != nil && !isRejected(err) {
		a.logger.Warn("notifications held back: the store did not take them", "count", len(notes), "error", err.Error())
		a.needRebuild()
		return
	}
	for _, n := range notes {
		a.send(n)
	}
}

// commandStored applies, publishes and answers a Manager command whose
// batch is durable, or answers the error and changes nothing.
func (a *Actor) commandStored(model *Model, r awaited, err error) {
	var rejected *storage.RejectedError
	if errors.As(err, &rejected) && !commandRejected(r.msg, rejected) {
		err = nil // other records of the batch (what was pending with the alerting state)
	}
	if err != nil {
		a.logger.Warn("Manager API change not applied: the store did not take it", "change", commandName(r.msg), "error", err.Error())
		if !isRejected(err) {
			a.needRebuild() // the store may be failing, or hold what the model does not
		}
		r.reply <- err
		return
	}
	if m, ok := r.msg.(messages.AnnouncementRemove); ok && !model.HasAnnouncement(m.ID) {
		r.reply <- messages.ErrUnknownAnnouncement // another retraction took it first
		return
	}
	a.logCommand(model, r.msg)
	model.ApplyStored(r.msg, r.batch)
	model.RecordCommand(r.msg, time.Now())
	a.link.publish(time.Now())
	r.reply <- nil
}

// commandName names a Manager command for logs.
func commandName(msg messages.StateMessage) string {
	switch msg.(type) {
	case messages.AnnouncementAdd:
		return "announcement published"
	case messages.AnnouncementRemove:
		return "announcement retracted"
	case messages.IgnoreSet:
		return "reminder ignore window"
	}
	return "unknown"
}

// commandRejected reports whether the store left out the record of the
// command itself.
func commandRejected(msg messages.StateMessage, rejected *storage.RejectedError) bool {
	kind := "announcement"
	if _, ok := msg.(messages.IgnoreSet); ok {
		kind = "alerting"
	}
	for _, r := range rejected.Records {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

func isRejected(err error) bool {
	var rejected *storage.RejectedError
	return errors.As(err, &rejected)
}

// needRebuild marks the store for a rebuild from the model, at once
// unless a failed one set a later time.
func (a *Actor) needRebuild() {
	if l := a.link; l != nil {
		l.rebuild = true
	}
}

// storeStale handles the writer's Stale signal.
func (a *Actor) storeStale(model *Model) {
	a.needRebuild()
	a.flush(model)
}

// rebuilt handles the reply to a rebuild: a failure is retried after a
// growing delay. (Records left out were logged by the writer; retrying
// would leave them out again.)
func (a *Actor) rebuilt(err error) {
	l := a.link
	if err == nil || isRejected(err) {
		l.backoff = 0
		return
	}
	l.backoff = min(max(2*l.backoff, minRebuildBackoff), maxRebuildBackoff)
	l.rebuild, l.rebuildAt = true, time.Now().Add(l.backoff)
	a.logger.Warn("store rebuild failed; retrying", "retry_in", l.backoff.String(), "error", err.Error())
}

// flush hands the writer what the store needs, when nothing awaited is
// in flight and the writer has room: a due rebuild (the model's whole
// state), else the pending changes. Otherwise changes stay pending for a
// later flush. It never waits: the actor is the writer's only producer, so
// room stays room until it writes.
func (a *Actor) flush(model *Model) {
	l := a.link
	if l == nil || l.stopping || len(l.waiting) > 0 || !l.room() {
		return
	}
	if l.rebuild {
		if time.Now().Before(l.rebuildAt) {
			return
		}
		a.sendRebuild(model, context.Background(), rebuildRequest)
		return
	}
	if !model.HasPending() {
		return
	}
	if len(a.held) > 0 {
		// The held notifications' slots are pending: this batch stores
		// them, and its reply releases them.
		_ = l.writer.Write(context.Background(), model.TakeBatch(), l.results)
		l.waiting = append(l.waiting, awaited{kind: notifyRequest, notes: a.held})
		a.held = nil
		return
	}
	_ = l.writer.Write(context.Background(), model.TakeBatch(), nil)
}

// sendRebuild hands the writer the model's whole state, waiting for room
// until ctx ends; what was pending is in it.
func (a *Actor) sendRebuild(model *Model, ctx context.Context, kind requestKind) bool {
	l := a.link
	st := model.FullState(time.Now())
	if err := l.writer.Rebuild(ctx, st, l.results); err != nil {
		return false
	}
	model.ForgetPending()
	a.held = nil // in st's outbox: handed over once the rebuild is durable
	l.rebuild = false
	l.waiting = append(l.waiting, awaited{kind: kind})
	return true
}

// finalFlush, when the actor stops, waits for the replies it awaits (so
// Manager commands in flight are answered, and applied when stored), then
// hands the writer its last request and waits until it is written: a
// rebuild when the store needs one, else what is pending, and a rebuild
// when that fails. The last batch always holds the alerting state, so
// that it checks the store even when nothing else changed. A graceful
// shutdown so loses nothing and leaves the newest values on disk, even on
// a store found damaged at the last moment. It waits finalFlushTimeout at
// most in all.
func (a *Actor) finalFlush(model *Model) {
	l := a.link
	if l == nil {
		return
	}
	l.stopping = true
	model.pending.alerting = true
	model.FlushHistory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
	defer cancel()
	for range 2 {
		if !a.await(model, ctx) {
			return
		}
		switch {
		case l.rebuild:
			if !a.sendRebuild(model, ctx, finalRebuildRequest) {
				a.logger.Error("final store write failed", "error", "store writer busy: "+ctx.Err().Error())
				return
			}
		case model.HasPending():
			if err := l.writer.Write(ctx, model.TakeBatch(), l.results); err != nil {
				a.logger.Error("final store write failed", "error", "store writer busy: "+err.Error())
				return
			}
			l.waiting = append(l.waiting, awaited{kind: finalRequest})
		default:
			return
		}
	}
	a.await(model, ctx)
}

// await takes replies until none is awaited (true) or ctx ends (false).
func (a *Actor) await(model *Model, ctx context.Context) bool {
	l := a.link
	for len(l.waiting) > 0 {
		select {
		case err := <-l.results:
			a.stored(model, err)
		case <-ctx.Done():
			a.logger.Error("final store write failed", "error", "not confirmed by the store writer in "+finalFlushTimeout.String())
			return false
		}
	}
	return true
}

// FullState is everything the store should hold, as the model has it:
// every announcement with its Seq, every replica that has a result (probed
// or reported this run, or restored), the alerting state, the outbox and
// the history the recorder holds, accounted up to now. A rebuild writes it.
func (m *Model) FullState(now time.Time) *storage.State {
	st := &storage.State{Alerting: m.storedAlerting()}
	if m.hist != nil {
		st.History = m.hist.Records(now)
	}
	for i, a := range m.announcements {
		st.Announcements = append(st.Announcements, storage.Announcement{ID: a.ID, Title: a.Title, Text: a.Text, Date: a.Date, Seq: m.announcementSeqs[i]})
	}
	for _, p := range m.probes {
		for _, n := range p.nodes {
			for i := range n.replicas {
				rep := &n.replicas[i]
				if !rep.seen && !rep.hasLatency && rep.updated.IsZero() && rep.reported.IsZero() {
					continue // never had a result: nothing to keep
				}
				st.Replicas = append(st.Replicas, m.storedReplica(messages.ReplicaKey{Probe: p.id, Node: n.id, Replica: rep.id}, rep))
			}
		}
	}
	for kind, n := range m.outbox {
		st.Outbox = append(st.Outbox, storage.NewOutboxEntry(kind, n))
	}
	sort.Slice(st.Outbox, func(i, j int) bool { return st.Outbox[i].Notifier < st.Outbox[j].Notifier })
	return st
}

// ForgetPending drops the changes not yet handed to the store (a rebuild
// carries them).
func (m *Model) ForgetPending() { m.pending = newPendingWrites() }

func (m *Model) storedReplica(key messages.ReplicaKey, rep *replicaModel) storage.Replica {
	return storage.Replica{
		Key: key, Status: rep.status, Err: rep.err, Latency: rep.latency, HasLatency: rep.hasLatency,
		Updated: rep.updated, Reported: rep.reported, Interval: rep.interval, Load: rep.load, Position: rep.pos,
	}
}

func (m *Model) storedAlerting() *storage.Alerting {
	a := m.alerts
	return &storage.Alerting{Status: m.general, Escalate: a.escalate, Backoff: a.backoff,
		LastNotified: a.lastNotified, IgnoreUntil: a.ignoreUntil}
}

// CommandBatch returns the batch that stores a Manager command
// (AnnouncementAdd, AnnouncementRemove or IgnoreSet) without changing what
// the model shows; ApplyStored applies the command once the batch is
// durable. A new announcement takes its sequence number now (a command
// that fails leaves a gap, which is harmless). The ignore window is part
// of the alerting record, so its batch is what is pending with that
// record changed: the outbox slots that go with the alerting state stay
// with it (they are written again by the next periodic batch).
func (m *Model) CommandBatch(msg messages.StateMessage) storage.Batch {
	switch msg := msg.(type) {
	case messages.AnnouncementAdd:
		m.seq++
		a := msg.Announcement
		return storage.Batch{PutAnnouncements: []storage.Announcement{{ID: a.ID, Title: a.Title, Text: a.Text, Date: a.Date, Seq: m.seq}}}
	case messages.AnnouncementRemove:
		return storage.Batch{DeleteAnnouncements: []string{msg.ID}}
	case messages.IgnoreSet:
		b := m.pendingBatch()
		b.Alerting = m.storedAlerting()
		b.Alerting.IgnoreUntil = msg.Until
		return b
	}
	return storage.Batch{}
}

// ApplyStored applies a Manager command whose batch b (from CommandBatch)
// is stored. Retracting an announcement that is not there does nothing.
func (m *Model) ApplyStored(msg messages.StateMessage, b storage.Batch) {
	switch msg := msg.(type) {
	case messages.AnnouncementAdd:
		seq := m.seq
		if len(b.PutAnnouncements) == 1 {
			seq = b.PutAnnouncements[0].Seq
		}
		m.announcements = append(m.announcements, msg.Announcement)
		m.announcementSeqs = append(m.announcementSeqs, seq)
	case messages.AnnouncementRemove:
		i := m.announcementIndex(msg.ID)
		if i < 0 {
			return
		}
		// Copies: published snapshots share the old slices.
		m.announcements = append(m.announcements[:i:i], m.announcements[i+1:]...)
		m.announcementSeqs = append(m.announcementSeqs[:i:i], m.announcementSeqs[i+1:]...)
	case messages.IgnoreSet:
		m.alerts.ignoreUntil = msg.Until
	default:
		return
	}
	m.dirty = true
}

// HasAnnouncement reports whether an announcement with id exists.
func (m *Model) HasAnnouncement(id string) bool { return m.announcementIndex(id) >= 0 }

func (m *Model) announcementIndex(id string) int {
	for i, a := range m.announcements {
		if a.ID == id {
			return i
		}
	}
	return -1
}
