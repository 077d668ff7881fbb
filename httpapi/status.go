package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/messages"
)

// statusText answers the general status as plain text (spec §7.3).
func (s *Server) statusText(c *echo.Context) error {
	return c.String(http.StatusOK, s.snapshots.Latest().Status.String())
}

// Report is the /status/report body; field order is the wire order.
type Report struct {
	Health messages.Status `json:"health"`
	Page   ReportPage      `json:"page"`
	Probes []ReportProbe   `json:"probes"`
}

// ReportPage names the status page.
type ReportPage struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// ReportProbe is one service.
type ReportProbe struct {
	Name   string          `json:"name"`
	Status messages.Status `json:"status"`
	Nodes  []ReportNode    `json:"nodes"`
}

// ReportNode is one node; replica identifiers are never exposed.
type ReportNode struct {
	Name     string            `json:"name"`
	Status   messages.Status   `json:"status"`
	Replicas []messages.Status `json:"replicas"`
}

// BuildReport maps a snapshot to the report structure.
func BuildReport(snap *messages.Snapshot, page Page) Report {
	r := Report{Health: snap.Status, Page: ReportPage{Name: page.Title, URL: page.URL}, Probes: make([]ReportProbe, 0, len(snap.Probes))}
	for _, p := range snap.Probes {
		rp := ReportProbe{Name: p.Label, Status: p.Status, Nodes: make([]ReportNode, 0, len(p.Nodes))}
		for _, n := range p.Nodes {
			rn := ReportNode{Name: n.Label, Status: n.Status, Replicas: make([]messages.Status, 0, len(n.Replicas))}
			for _, rep := range n.Replicas {
				rn.Replicas = append(rn.Replicas, rep.Status)
			}
			rp.Nodes = append(rp.Nodes, rn)
		}
		r.Probes = append(r.Probes, rp)
	}
	return r
}

func (s *Server) statusReport(c *echo.Context) error {
	return c.JSON(http.StatusOK, BuildReport(s.snapshots.Latest(), s.page))
}
