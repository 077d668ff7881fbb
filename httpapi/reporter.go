package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// Reporter delivers reporter API requests to the node actors. Each call
// sets the message's Reply itself and returns the node actor's answer; a
// Visible channel set by the caller is answered by the state actor once the
// change is published.
type Reporter interface {
	Report(ctx context.Context, probe, node string, m messages.Report) error
	Flush(ctx context.Context, probe, node string, m messages.Flush) error
}

// MaxBodyBytes caps reporter and manager request bodies.
const MaxBodyBytes = 1 << 20

// maxIDBytes caps, in bytes, the replica id of a report and the probe and
// node ids of a reporter API path (400 above it): ids are kept in memory,
// shown and stored per replica, and a client chooses the replica id; the
// store's limit keeps every key it is given storable.
const maxIDBytes = storage.MaxReplicaIDBytes

// errIDTooLong answers a probe or node id in the path over maxIDBytes.
var errIDTooLong = fmt.Errorf("probe and node ids must be at most %d bytes long", maxIDBytes)

// report handles POST /reporter/<probe>/<node> (spec §7.4): the body
// becomes a messages.Report for the node actor, whose answer becomes the
// status code; an accepted report is then awaited until published
// (awaitPublished). Basic auth has run before (basicAuth).
func (s *Server) report(c *echo.Context) error {
	body, status, err := readJSONBody(c)
	if err != nil {
		return c.String(status, err.Error())
	}
	m, err := parseReport(body)
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error())
	}
	m.At = time.Now()
	segs, ok := pathSegments(c, 3)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	if len(segs[1]) > maxIDBytes || len(segs[2]) > maxIDBytes {
		return c.String(http.StatusBadRequest, errIDTooLong.Error())
	}
	ctx := c.Request().Context()
	visible := make(chan uint64, 1)
	m.Visible = visible
	err = withPlusFallback(segs[1], segs[2], func(probe, node string) error {
		return s.reporter.Report(ctx, probe, node, m)
	})
	if err == nil {
		s.awaitPublished(ctx, visible)
	}
	return replyError(c, err)
}

// flush handles DELETE /reporter/<probe>/<node>/<replica>: a
// messages.Flush for the node actor, then as report.
func (s *Server) flush(c *echo.Context) error {
	segs, ok := pathSegments(c, 4)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	// The replica id is not capped here: one stored before the cap existed
	// can still be flushed.
	if len(segs[1]) > maxIDBytes || len(segs[2]) > maxIDBytes {
		return c.String(http.StatusBadRequest, errIDTooLong.Error())
	}
	ctx := c.Request().Context()
	visible := make(chan uint64, 1)
	err := withPlusFallback(segs[1], segs[2], func(probe, node string) error {
		return s.reporter.Flush(ctx, probe, node, messages.Flush{Replica: segs[3], Visible: visible})
	})
	if err == nil {
		s.awaitPublished(ctx, visible)
	}
	return replyError(c, err)
}

// replyError maps an actor answer to the reporter API's status codes.
func replyError(c *echo.Context, err error) error {
	switch {
	case err == nil:
		return c.NoContent(http.StatusOK)
	case errors.Is(err, messages.ErrUnknownNode), errors.Is(err, messages.ErrUnknownReplica):
		return c.NoContent(http.StatusNotFound)
	case errors.Is(err, messages.ErrWrongMode):
		return c.NoContent(http.StatusPreconditionFailed)
	case errors.Is(err, messages.ErrTooManyReplicas):
		return c.String(http.StatusConflict, "this node already has as many replicas as metrics.push_replicas_max allows; flush unused ones")
	case errors.Is(err, messages.ErrBusy):
		return c.NoContent(http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return c.NoContent(http.StatusServiceUnavailable)
	}
	return c.NoContent(http.StatusInternalServerError)
}

// withPlusFallback calls fn with the decoded probe and node ids and, if no
// such node exists and an id holds a '+', once more with '+' read as a space
// (the Go reporter library query-escapes ids, turning spaces into '+').
func withPlusFallback(probe, node string, fn func(probe, node string) error) error {
	err := fn(probe, node)
	if errors.Is(err, messages.ErrUnknownNode) && strings.ContainsRune(probe+node, '+') {
		return fn(strings.ReplaceAll(probe, "+", " "), strings.ReplaceAll(node, "+", " "))
	}
	return err
}

// pathSegments splits the still-escaped request path into n segments and
// percent-decodes each, so that an encoded "/" stays inside its segment
// (spec §7.1).
func pathSegments(c *echo.Context, n int) ([]string, bool) {
	raw := strings.Trim(c.Request().URL.EscapedPath(), "/")
	parts := strings.Split(raw, "/")
	if len(parts) != n {
		return nil, false
	}
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = d
	}
	return parts, true
}

// readJSONBody checks the content type (any json or +json media type) and
// reads at most MaxBodyBytes.
func readJSONBody(c *echo.Context) ([]byte, int, error) {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, http.StatusBadRequest, errors.New("Content-Type must be a JSON media type")
	}
	_, sub, _ := strings.Cut(mt, "/")
	if sub != "json" && !strings.HasSuffix(sub, "+json") {
		return nil, http.StatusBadRequest, errors.New("Content-Type must be a JSON media type")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, http.StatusBadRequest, errors.New("cannot read request body")
	}
	return body, 0, nil
}

// parseReport validates a reporter body with the original's rules: replica
// (string) and interval (non-negative integer) required; load {cpu, ram}
// numbers >= 0 (checked first); health one of healthy/sick/dead; null is
// absent; load wins over health; neither is an error. It also caps the
// replica id at maxIDBytes.
func parseReport(body []byte) (messages.Report, error) {
	var m messages.Report
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return m, errors.New("body must be a JSON object")
	}
	present := func(k string) (json.RawMessage, bool) {
		v, ok := fields[k]
		return v, ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
	}
	if raw, ok := present("load"); ok {
		var load struct {
			CPU *float64 `json:"cpu"`
			RAM *float64 `json:"ram"`
		}
		if err := json.Unmarshal(raw, &load); err != nil || load.CPU == nil || load.RAM == nil {
			return m, errors.New("load must be an object with numbers cpu and ram")
		}
		if *load.CPU < 0 || *load.RAM < 0 {
			return m, errors.New("load values must not be negative")
		}
		m.Load = &messages.Load{CPU: *load.CPU, RAM: *load.RAM}
	}
	raw, ok := present("replica")
	if !ok || json.Unmarshal(raw, &m.Replica) != nil {
		return m, errors.New("replica must be a string")
	}
	if len(m.Replica) > maxIDBytes {
		return m, fmt.Errorf("replica must be at most %d bytes long (got %d)", maxIDBytes, len(m.Replica))
	}
	raw, ok = present("interval")
	if !ok {
		return m, errors.New("interval is required")
	}
	secs, err := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || secs > uint64(1<<63-1)/uint64(time.Second) {
		return m, errors.New("interval must be a non-negative integer number of seconds")
	}
	m.Interval = time.Duration(secs) * time.Second
	if m.Load == nil {
		raw, ok := present("health")
		if !ok {
			return m, errors.New("either load or health is required")
		}
		var h messages.Status
		var name string
		if json.Unmarshal(raw, &name) != nil || h.UnmarshalText([]byte(name)) != nil {
			return m, errors.New(`health must be "healthy", "sick" or "dead"`)
		}
		m.Health = &h
	} else if raw, ok := present("health"); ok {
		// Load wins, but a present health must still be valid.
		var name string
		var h messages.Status
		if json.Unmarshal(raw, &name) != nil || h.UnmarshalText([]byte(name)) != nil {
			return m, errors.New(`health must be "healthy", "sick" or "dead"`)
		}
	}
	return m, nil
}
