package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/messages"
)

// Manager applies Manager API changes; each call returns once the change is
// stored (or ctx ends).
type Manager interface {
	AddAnnouncement(ctx context.Context, a messages.Announcement) error
	RemoveAnnouncement(ctx context.Context, id string) error
	SetIgnore(ctx context.Context, until time.Time) error
}

// The Manager API (spec §7.5). Reads come from the published snapshot;
// writes go to the Manager (the state actor). Basic auth has run before
// each handler (basicAuth); each handler parses the request, calls one
// helper below or the Manager, and writes the answer.

// listAnnouncements handles GET /manager/announcements.
func (s *Server) listAnnouncements(c *echo.Context) error {
	return c.JSON(http.StatusOK, announcementList(s.snapshots.Latest()))
}

// addAnnouncement handles POST /manager/announcement.
func (s *Server) addAnnouncement(c *echo.Context) error {
	body, status, err := readJSONBody(c)
	if err != nil {
		return c.String(status, err.Error())
	}
	title, text, err := parseAnnouncement(body)
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error())
	}
	a, err := newAnnouncement(title, text, time.Now())
	if err != nil {
		return c.NoContent(http.StatusInternalServerError)
	}
	if err := s.manager.AddAnnouncement(c.Request().Context(), a); err != nil {
		return managerError(c, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"id": a.ID})
}

// removeAnnouncement handles DELETE /manager/announcement/<id>.
func (s *Server) removeAnnouncement(c *echo.Context) error {
	segs, ok := pathSegments(c, 3)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	return managerError(c, s.manager.RemoveAnnouncement(c.Request().Context(), segs[2]))
}

// alerts handles GET /manager/prober/alerts.
func (s *Server) alerts(c *echo.Context) error {
	return c.JSON(http.StatusOK, alertsOf(s.snapshots.Latest()))
}

// ignored handles GET /manager/prober/alerts/ignored.
func (s *Server) ignored(c *echo.Context) error {
	return c.JSON(http.StatusOK, struct {
		RemindersSeconds *int64 `json:"reminders_seconds"`
	}{remindersLeft(s.snapshots.Latest().IgnoreUntil, time.Now())})
}

// setIgnored handles PUT /manager/prober/alerts/ignored.
func (s *Server) setIgnored(c *echo.Context) error {
	body, status, err := readJSONBody(c)
	if err != nil {
		return c.String(status, err.Error())
	}
	until, err := parseIgnore(body, time.Now())
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error())
	}
	return managerError(c, s.manager.SetIgnore(c.Request().Context(), until))
}

type announcementItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// announcementList lists the published announcements, oldest first.
func announcementList(snap *messages.Snapshot) []announcementItem {
	out := make([]announcementItem, 0, len(snap.Announcements))
	for _, a := range snap.Announcements {
		out = append(out, announcementItem{ID: a.ID, Title: a.Title})
	}
	return out
}

// parseAnnouncement reads the body of a new announcement: strings title
// and text, neither empty.
func parseAnnouncement(body []byte) (title, text string, err error) {
	var in struct {
		Title *string `json:"title"`
		Text  *string `json:"text"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return "", "", errors.New("body must be a JSON object with strings title and text")
	}
	if in.Title == nil || in.Text == nil || *in.Title == "" || *in.Text == "" {
		return "", "", errors.New("title and text are required and must not be empty")
	}
	return *in.Title, *in.Text, nil
}

// newAnnouncement makes an announcement with a new random (v4) id, dated
// now in UTC.
func newAnnouncement(title, text string, now time.Time) (messages.Announcement, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return messages.Announcement{}, err
	}
	return messages.Announcement{ID: id.String(), Title: title, Text: text, Date: now.UTC()}, nil
}

type alertEntry struct {
	Probe   string `json:"probe"`
	Node    string `json:"node"`
	Replica string `json:"replica"`
}

// alertList is the body of GET /manager/prober/alerts.
type alertList struct {
	Dead []alertEntry `json:"dead"`
	Sick []alertEntry `json:"sick"`
}

// alertsOf lists the dead and the sick replicas of a snapshot, in store
// order (both lists present, possibly empty); replica ids are shown with
// their URL secrets masked (messages.RedactURL).
func alertsOf(snap *messages.Snapshot) alertList {
	out := alertList{Dead: []alertEntry{}, Sick: []alertEntry{}}
	for _, p := range snap.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				e := alertEntry{Probe: p.ID, Node: n.ID, Replica: messages.RedactURL(r.ID)}
				switch r.Status {
				case messages.Dead:
					out.Dead = append(out.Dead, e)
				case messages.Sick:
					out.Sick = append(out.Sick, e)
				}
			}
		}
	}
	return out
}

// remindersLeft is the whole number of seconds left in an ignore window
// ending at until, or nil when there is none (or it is over).
func remindersLeft(until, now time.Time) *int64 {
	if until.IsZero() {
		return nil
	}
	left := until.Sub(now)
	if left <= 0 {
		return nil
	}
	n := int64(left / time.Second)
	return &n
}

// parseIgnore reads the body of PUT /manager/prober/alerts/ignored: the
// end of the ignore window reminders_seconds from now (0: a window already
// over), or the zero time (null or absent: no window).
func parseIgnore(body []byte, now time.Time) (time.Time, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return time.Time{}, errors.New("body must be a JSON object")
	}
	raw, ok := in["reminders_seconds"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return time.Time{}, nil
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 16)
	if err != nil {
		return time.Time{}, errors.New("reminders_seconds must be an integer from 0 to 65535, or null")
	}
	if n == 0 {
		return now, nil // a window that is already over
	}
	return now.Add(time.Duration(n) * time.Second), nil
}

func managerError(c *echo.Context, err error) error {
	switch {
	case err == nil:
		return c.NoContent(http.StatusOK)
	case errors.Is(err, messages.ErrUnknownAnnouncement):
		return c.NoContent(http.StatusNotFound)
	case errors.Is(err, messages.ErrBusy):
		return c.NoContent(http.StatusServiceUnavailable)
	}
	return c.String(http.StatusServiceUnavailable, "the change could not be stored")
}
