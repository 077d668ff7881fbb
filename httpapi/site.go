package httpapi

import (
	"github.com/vigil-go/vigil/config"
)

// siteConfig is the part of the configuration the web layer reads per
// request and per rendering. It is immutable: Reconfigure replaces it
// whole, so a request or a rendering sees one configuration, old or new,
// never a mix.
type siteConfig struct {
	// epoch numbers the configurations a Server was given (0 at New); a
	// rendering records the epoch it was made with.
	epoch     uint64
	page      Page
	branding  config.Branding
	assetsDir string
	// reporterAuth and managerAuth check the APIs' Basic-auth passwords.
	reporterAuth, managerAuth tokenChecker
	// mcp serves the MCP endpoint; mcpAuth, when set, checks its token.
	mcp     bool
	mcpAuth *tokenChecker
	// metrics serves /metrics (when the Server has a metrics handler);
	// metricsAuth, when set, checks its token.
	metrics     bool
	metricsAuth *tokenChecker
}

// siteOf takes the site settings from a validated configuration. It
// cannot fail: whatever could be wrong was refused by config.Load.
func siteOf(cfg *config.Config) *siteConfig {
	assets := ""
	if cfg.Assets.PathExists {
		assets = cfg.Assets.Path
	}
	return newSite(siteFields{
		page:     Page{Title: cfg.Branding.PageTitle, URL: cfg.Branding.PageURL},
		branding: cfg.Branding, assetsDir: assets,
		reporterToken: cfg.Server.ReporterToken, managerToken: cfg.Server.ManagerToken,
		mcp: cfg.Server.MCPServer, mcpToken: cfg.Server.MCPToken,
		metrics: cfg.Server.MetricsEnabled, metricsToken: cfg.Server.MetricsToken,
	})
}

// site gives the first site configuration of a Server: from Config when
// set, else from the single fields (metrics then follow the handler).
func (o *Options) site() *siteConfig {
	if o.Config != nil {
		return siteOf(o.Config)
	}
	return newSite(siteFields{
		page: o.Page, branding: o.Branding, assetsDir: o.AssetsDir,
		reporterToken: o.ReporterToken, managerToken: o.ManagerToken,
		mcp: o.MCP, mcpToken: o.MCPToken, metrics: true, metricsToken: o.MetricsToken,
	})
}

// siteFields are the settings a siteConfig is made of.
type siteFields struct {
	page                                                Page
	branding                                            config.Branding
	assetsDir                                           string
	reporterToken, managerToken, metricsToken, mcpToken string
	mcp, metrics                                        bool
}

func newSite(f siteFields) *siteConfig {
	c := &siteConfig{
		page: f.page, branding: f.branding, assetsDir: f.assetsDir,
		reporterAuth: newTokenChecker(f.reporterToken), managerAuth: newTokenChecker(f.managerToken),
		mcp: f.mcp, metrics: f.metrics,
	}
	c.metricsAuth = optionalToken(f.metricsToken)
	c.mcpAuth = optionalToken(f.mcpToken)
	return c
}

// optionalToken is the checker of a token that may be unset (nil then).
func optionalToken(token string) *tokenChecker {
	if token == "" {
		return nil
	}
	t := newTokenChecker(token)
	return &t
}

// Reconfigure moves the running server to cfg, which config.Load has
// validated: branding and page names, the assets directory, the API,
// metrics and MCP tokens, MCP and metrics on or off. It cannot fail, so a transactional reload
// calls it last, once everything that can fail has succeeded.
//
// The new settings apply to every request that starts after it returns
// (tokens included); requests in flight finish with the old ones. The
// renderer, its cache and its counters, the page entity tags' boot id and
// the routes stay; the prepared views are rendered again at once, and a
// read that arrives before that rendering waits for it (at most
// VisibleWait), so the next page shows the new branding. server.inet is
// not applied (a new address needs a restart). Calls must not overlap (reloads are
// serialised).
func (s *Server) Reconfigure(cfg *config.Config) {
	next := siteOf(cfg)
	next.epoch = s.epochs.Add(1)
	s.site.Store(next)
	s.views.expectSite(next.epoch)
}
