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
// stored.
type Manager interface {
	AddAnnouncement(ctx context.Context, a messages.Announcement) error
	RemoveAnnouncement(ctx context.Context, id string) error
	SetIgnore(ctx context.Context, until time.Time) error
}

// EnableManager registers the Manager API (spec §7.5). Reads come from the
// published snapshot; writes go to m. Call it before Serve.
func (s *Server) EnableManager(m Manager, token string) {
	h := &managerAPI{manager: m, auth: newTokenChecker(token), snapshots: s.snapshots, now: time.Now}
	s.echo.GET("/manager/announcements", s.counted("manager", h.listAnnouncements))
	s.echo.POST("/manager/announcement", s.counted("manager", s.readYourWrite(h.addAnnouncement)))
	s.echo.DELETE("/manager/announcement/:id", s.counted("manager", s.readYourWrite(h.removeAnnouncement)))
	s.echo.GET("/manager/prober/alerts", s.counted("manager", h.alerts))
	s.echo.GET("/manager/prober/alerts/ignored", s.counted("manager", h.ignored))
	s.echo.PUT("/manager/prober/alerts/ignored", s.counted("manager", s.readYourWrite(h.setIgnored)))
}

type managerAPI struct {
	manager   Manager
	auth      tokenChecker
	snapshots Snapshots
	now       func() time.Time
}

type announcementItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func (h *managerAPI) listAnnouncements(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	anns := h.snapshots.Latest().Announcements
	out := make([]announcementItem, 0, len(anns))
	for _, a := range anns {
		out = append(out, announcementItem{ID: a.ID, Title: a.Title})
	}
	return c.JSON(http.StatusOK, out)
}

func (h *managerAPI) addAnnouncement(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	body, status, err := readJSONBody(c)
	if err != nil {
		return c.String(status, err.Error())
	}
	var in struct {
		Title *string `json:"title"`
		Text  *string `json:"text"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return c.String(http.StatusBadRequest, "body must be a JSON object with strings title and text")
	}
	if in.Title == nil || in.Text == nil || *in.Title == "" || *in.Text == "" {
		return c.String(http.StatusBadRequest, "title and text are required and must not be empty")
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return c.NoContent(http.StatusInternalServerError)
	}
	a := messages.Announcement{ID: id.String(), Title: *in.Title, Text: *in.Text, Date: h.now().UTC()}
	if err := h.manager.AddAnnouncement(c.Request().Context(), a); err != nil {
		return managerError(c, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"id": a.ID})
}

func (h *managerAPI) removeAnnouncement(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	segs, ok := pathSegments(c, 3)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	return managerError(c, h.manager.RemoveAnnouncement(c.Request().Context(), segs[2]))
}

type alertEntry struct {
	Probe   string `json:"probe"`
	Node    string `json:"node"`
	Replica string `json:"replica"`
}

func (h *managerAPI) alerts(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	out := struct {
		Dead []alertEntry `json:"dead"`
		Sick []alertEntry `json:"sick"`
	}{Dead: []alertEntry{}, Sick: []alertEntry{}}
	for _, p := range h.snapshots.Latest().Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				e := alertEntry{Probe: p.ID, Node: n.ID, Replica: r.ID}
				switch r.Status {
				case messages.Dead:
					out.Dead = append(out.Dead, e)
				case messages.Sick:
					out.Sick = append(out.Sick, e)
				}
			}
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (h *managerAPI) ignored(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	var secs *int64
	if until := h.snapshots.Latest().IgnoreUntil; !until.IsZero() {
		if left := until.Sub(h.now()); left > 0 {
			n := int64(left / time.Second)
			secs = &n
		}
	}
	return c.JSON(http.StatusOK, struct {
		RemindersSeconds *int64 `json:"reminders_seconds"`
	}{secs})
}

func (h *managerAPI) setIgnored(c *echo.Context) error {
	if !h.auth.authorize(c) {
		return nil
	}
	body, status, err := readJSONBody(c)
	if err != nil {
		return c.String(status, err.Error())
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return c.String(http.StatusBadRequest, "body must be a JSON object")
	}
	var until time.Time
	if raw, ok := in["reminders_seconds"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 16)
		if err != nil {
			return c.String(http.StatusBadRequest, "reminders_seconds must be an integer from 0 to 65535, or null")
		}
		until = h.now().Add(time.Duration(n) * time.Second)
		if n == 0 {
			until = h.now() // a window that is already over
		}
	}
	return managerError(c, h.manager.SetIgnore(c.Request().Context(), until))
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
