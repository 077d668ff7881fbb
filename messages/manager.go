package messages

import "time"

// AnnouncementAdd publishes an announcement.
// Sent by: the web layer (Manager API). Received by: the state actor, which
// answers on Reply once the announcement is stored durably (nil or an
// error).
type AnnouncementAdd struct {
	Announcement Announcement
	Reply        chan<- error
}

func (AnnouncementAdd) stateMessage() {}

// AnnouncementRemove retracts an announcement; Reply gets nil, or
// ErrUnknownAnnouncement.
// Sent by: the web layer. Received by: the state actor.
type AnnouncementRemove struct {
	ID    string
	Reply chan<- error
}

func (AnnouncementRemove) stateMessage() {}

// IgnoreSet sets (or, with a zero Until, clears) the window during which
// reminders are not sent; Reply gets nil once stored.
// Sent by: the web layer. Received by: the state actor.
type IgnoreSet struct {
	Until time.Time
	Reply chan<- error
}

func (IgnoreSet) stateMessage() {}
