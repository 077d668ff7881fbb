package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/labstack/echo/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vigil-go/vigil/messages"
)

// MCP endpoint (spec §7.7): Streamable HTTP, two read-only tools:
// get_report returns the /status/report structure, get_history the
// /status/history one. server.mcp_server turns it on and off, also
// on a reload.
//
// The endpoint is stateless: it hands out no Mcp-Session-Id, and each POST
// is answered by a session that lives only as long as that request. The
// original keeps a session per initialize, and so would we; but the
// endpoint is public, and sessions an unauthenticated client can open at
// will are memory and goroutines it can grow without bound. A read-only
// tool needs no session: clients either carry no session id (the MCP
// specification makes it optional) or send none when the server gave none.
// GET (a server-to-client stream) and DELETE (ending a session) are
// answered 405, as the specification allows.
//
// An optional token (siteConfig.mcpAuth) protects the endpoint like the
// metrics token: a request must carry it as a Bearer token (or a Basic
// password); otherwise 401.
const (
	// MCPPath is where the MCP endpoint is served (a trailing slash is
	// removed by the path normalisation before routing).
	MCPPath = "/mcp/probes"

	// MCPToolName is the tool that returns the current report.
	MCPToolName = "get_report"
	// MCPHistoryToolName is the tool that returns the recorded history.
	MCPHistoryToolName = "get_history"

	mcpServerName         = "vigil"
	mcpInstructions       = "Vigil MCP Server. Use this server to get the status report of all Vigil Status Page services and nodes."
	mcpToolDescription    = "Returns all Vigil Status Page services and nodes and reports their status (healthy, sick, dead)"
	mcpHistoryDescription = "Returns the recorded history of the last 90 days, as GET /status/history does: uptime ratios " +
		"(24h, 7d, 30d, 90d) and daily figures per service and node, incidents, error budgets, announcements. " +
		"Optionally only one service (argument service: its id)."

	// mcpRealm is announced on a refused MCP request.
	mcpRealm = `Bearer realm="mcp"`
)

// newMCPHandler builds the endpoint's handler (served while the site
// configuration enables MCP). It holds no per-client state.
func (s *Server) newMCPHandler() http.Handler {
	srv := s.newMCPServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless: true,
		Logger:    s.logger.With("component", "mcp"),
		// A JSON-RPC request is small; the SDK would read up to 4 MiB.
		MaxRequestBodyBytes: MaxBodyBytes,
		// The SDK's DNS-rebinding guard answers 403 to a request that
		// reaches a loopback listener with a non-loopback Host header, which
		// is exactly what a reverse proxy on the same host sends (TLS is
		// terminated there, spec §7.1). The tool is a read-only copy of the
		// public /status/report, so the guard protects nothing here.
		DisableLocalhostProtection: true,
	})
}

// serveMCP answers POST, GET and DELETE of MCPPath (the methods of the
// Streamable HTTP transport) while MCP is on; otherwise the path is an
// empty 404, as are other methods. With an MCP token, a request without it
// gets 401.
func (s *Server) serveMCP(c *echo.Context) error {
	site := s.site.Load()
	return gated(c, site.mcp, site.mcpAuth, mcpRealm, s.mcp)
}

// newMCPServer builds the MCP server: tools capability only, two tools.
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
	mcp.AddTool(srv, &mcp.Tool{
		Name:         MCPHistoryToolName,
		Description:  mcpHistoryDescription,
		InputSchema:  historyInputSchema,
		OutputSchema: historySchema,
	}, s.getHistoryTool)
	return srv
}

// HistoryToolInput is the argument of get_history.
type HistoryToolInput struct {
	// Service, when set, keeps only the service of that id.
	Service string `json:"service,omitempty"`
}

// getHistoryTool answers get_history from the latest published snapshot,
// as /status/history does (one service only when asked). An unknown
// service is a tool error.
func (s *Server) getHistoryTool(_ context.Context, _ *mcp.CallToolRequest, in HistoryToolInput) (*mcp.CallToolResult, HistoryReport, error) {
	report, ok := BuildHistoryReport(s.snapshots.Latest().History, s.site.Load().page, in.Service)
	if !ok {
		return nil, HistoryReport{}, fmt.Errorf("no service %q", in.Service)
	}
	text, err := json.Marshal(report)
	if err != nil {
		return nil, HistoryReport{}, fmt.Errorf("encoding history: %w", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}}, report, nil
}

// historyInputSchema: an object with an optional service id.
var historyInputSchema = &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
	"service": {Type: "string", Description: "The id of one service; all services when omitted."},
}}

// historySchema is get_history's output schema, inferred from
// HistoryReport like reportSchema.
var historySchema = mustSchema[HistoryReport]()

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
var reportSchema = mustSchema[Report]()

func mustSchema[T any]() *jsonschema.Schema {
	status := &jsonschema.Schema{Type: "string", Enum: []any{
		messages.Healthy.String(), messages.Sick.String(), messages.Dead.String(),
	}}
	sch, err := jsonschema.For[T](&jsonschema.ForOptions{
		TypeSchemas: map[reflect.Type]*jsonschema.Schema{reflect.TypeFor[messages.Status](): status},
	})
	if err != nil {
		panic(fmt.Sprintf("schema of %T: %v", *new(T), err))
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
