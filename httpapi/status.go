package httpapi

import (
	"encoding/json"
	"io"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// renderText is the view of GET /status/text: the general status as plain
// text (spec §7.3).
func renderText(_ *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
	return []byte(snap.Status.String()), "text/plain; charset=utf-8", nil
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

// renderReport is the view of GET /status/report: the report as JSON,
// followed by a newline.
func renderReport(site *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
	body, err := json.Marshal(BuildReport(snap, site.page))
	if err != nil {
		return nil, "", err
	}
	return append(body, '\n'), "application/json", nil
}

// renderBadge returns the view of GET /badge/<kind>: the SVG badge of the
// general status (an override under assets.path wins, as for every asset).
func renderBadge(kind string) view {
	return func(site *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
		rel := badgeFile(kind, snap.Status)
		f, ok := openAsset(site.assetsDir, rel)
		if !ok {
			return nil, "", errMissingAsset(rel)
		}
		defer f.closer.Close()
		body, err := io.ReadAll(f.content)
		return body, "image/svg+xml", err
	}
}

// badgeFile is the asset of the kind badge of status st.
func badgeFile(kind string, st messages.Status) string {
	return "images/badges/" + kind + "-" + st.String() + "-default.svg"
}

// errMissingAsset reports a badge file that is neither overridden nor
// embedded.
type errMissingAsset string

func (e errMissingAsset) Error() string { return "missing asset " + string(e) }
