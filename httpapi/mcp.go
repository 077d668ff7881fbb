package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/labstack/echo/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vigil-go/vigil/messages"
)

// MCP endpoint (spec §7.7): Streamable HTTP with stateful sessions, one
// read-only tool returning the /status/report structure. No authentication,
// as in the original. server.mcp_server turns it on and off, also on a
// reload.
const (
	// MCPPath is where the MCP endpoint is served (a trailing slash is
	// removed by the path normalisation before routing).
	MCPPath = "/mcp/probes"

	// MCPToolName is the one tool the server offers.
	MCPToolName = "get_report"

	mcpServerName      = "vigil"
	mcpInstructions    = "Vigil MCP Server. Use this server to get the status report of all Vigil Status Page services and nodes."
	mcpToolDescription = "Returns all Vigil Status Page services and nodes and reports their status (healthy, sick, dead)"

	// mcpSessionTimeout closes a session that has received no request for
	// that long, so that clients which never send DELETE do not keep their
	// session in memory for the life of the process. A client whose session
	// expired gets 404 and starts a new one, as the MCP specification says.
	mcpSessionTimeout = 30 * time.Minute
)

// mcpEndpoint is the MCP endpoint of one Server, built once: its sessions
// outlive configuration reloads (only turning MCP off closes them).
type mcpEndpoint struct {
	handler http.Handler
	closer  *mcpSessionCloser
}

// newMCPEndpoint builds the endpoint (served while the site configuration
// enables MCP).
func (s *Server) newMCPEndpoint() *mcpEndpoint {
	srv := s.newMCPServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Logger:         s.logger.With("component", "mcp"),
		SessionTimeout: mcpSessionTimeout,
		// The SDK's DNS-rebinding guard answers 403 to a request that
		// reaches a loopback listener with a non-loopback Host header, which
		// is exactly what a reverse proxy on the same host sends (TLS is
		// terminated there, spec §7.1). The tool is a read-only copy of the
		// public /status/report, so the guard protects nothing here.
		DisableLocalhostProtection: true,
	})
	closer := &mcpSessionCloser{srv: srv}
	return &mcpEndpoint{handler: closer.wrap(h), closer: closer}
}

// serveMCP answers POST, GET and DELETE of MCPPath (the methods of the
// Streamable HTTP transport) while MCP is on; otherwise the path is an
// empty 404, as are other methods.
func (s *Server) serveMCP(c *echo.Context) error {
	if !s.site.Load().mcp {
		return c.NoContent(http.StatusNotFound)
	}
	s.mcp.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// closeSessions ends every open MCP session (MCP turned off).
func (m *mcpEndpoint) closeSessions() { m.closer.closeAll() }

// newMCPServer builds the MCP server: tools capability only, one tool.
func (s *Server) newMCPServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: mcpServerName, Version: s.version}, &mcp.ServerOptions{
		Instructions: mcpInstructions,
		Logger:       s.logger.With("component", "mcp"),
		// Non-nil: no default "logging" capability; the tool list never
		// changes, so listChanged is not advertised either.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
	})
	mcp.AddTool(srv, &mcp.Tool{
		Name:        MCPToolName,
		Description: mcpToolDescription,
		// No arguments: {} or omitted.
		InputSchema:  &jsonschema.Schema{Type: "object"},
		OutputSchema: reportSchema,
	}, s.getReportTool)
	return srv
}

// getReportTool answers get_report from the latest published snapshot; it
// never waits on an actor. The SDK puts the report in structuredContent
// (after validating it against the output schema); the text item carries the
// same JSON in the /status/report key order.
func (s *Server) getReportTool(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Report, error) {
	report := BuildReport(s.snapshots.Latest(), s.site.Load().page)
	text, err := json.Marshal(report)
	if err != nil {
		return nil, Report{}, fmt.Errorf("encoding report: %w", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}}, report, nil
}

// reportSchema is the advertised output schema, inferred from Report so the
// property names are the json tags of status.go. The SDK's own inference
// would describe messages.Status as an integer (its Go kind), while it
// marshals as a string, so it is given explicitly; slices, never nil in a
// report, are plain arrays rather than the inferred ["null","array"].
var reportSchema = mustReportSchema()

func mustReportSchema() *jsonschema.Schema {
	status := &jsonschema.Schema{Type: "string", Enum: []any{
		messages.Healthy.String(), messages.Sick.String(), messages.Dead.String(),
	}}
	sch, err := jsonschema.For[Report](&jsonschema.ForOptions{
		TypeSchemas: map[reflect.Type]*jsonschema.Schema{reflect.TypeFor[messages.Status](): status},
	})
	if err != nil {
		panic(fmt.Sprintf("report schema: %v", err))
	}
	nonNullArrays(sch)
	return sch
}

// nonNullArrays rewrites every {"type":["null","array"]} to "array".
func nonNullArrays(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && s.Types[0] == "null" && s.Types[1] == "array" {
		s.Types, s.Type = nil, "array"
	}
	nonNullArrays(s.Items)
	for _, p := range s.Properties {
		nonNullArrays(p)
	}
}

// mcpSessionCloser closes every MCP session when the HTTP server that serves
// them shuts down. Sessions hold long-lived SSE responses (the client's GET
// stream), which http.Server.Shutdown neither ends nor waits for past the
// graceful timeout; closing the sessions ends those responses, so shutdown
// drains promptly. The *http.Server is taken from the request context, and
// the hook is registered once per server (Serve builds a new one each run).
type mcpSessionCloser struct {
	srv    *mcp.Server
	hooked atomic.Pointer[http.Server]

	// mu guards inflight and closing: the cancel functions of MCP requests
	// being served, and whether the server is shutting down.
	mu       sync.Mutex
	inflight map[*int]context.CancelFunc
	closing  map[*http.Server]bool
}

func (m *mcpSessionCloser) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
		if hs != nil && m.hooked.Load() != hs && m.hooked.Swap(hs) != hs {
			hs.RegisterOnShutdown(func() { m.shutdown(hs) })
		}
		// Every MCP request runs under a context that shutdown cancels, so
		// a stream that started just as the server began to stop ends too;
		// requests arriving after that are refused.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		key := new(int)
		m.mu.Lock()
		if m.closing[hs] {
			m.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if m.inflight == nil {
			m.inflight = map[*int]context.CancelFunc{}
		}
		m.inflight[key] = cancel
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.inflight, key)
			m.mu.Unlock()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// shutdown closes every session and cancels every MCP request in flight.
func (m *mcpSessionCloser) shutdown(hs *http.Server) {
	m.mu.Lock()
	if m.closing == nil {
		m.closing = map[*http.Server]bool{}
	}
	m.closing[hs] = true
	for _, cancel := range m.inflight {
		cancel()
	}
	m.mu.Unlock()
	m.closeAll()
}

func (m *mcpSessionCloser) closeAll() {
	for ss := range m.srv.Sessions() {
		_ = ss.Close()
	}
}
