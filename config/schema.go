// Package config is the schema of a Vigil configuration file: the types an
// operator's config.cfg decodes into, their defaults, environment
// interpolation and validation. It holds data only: nothing here changes
// after Load returns, and no actor keeps runtime state in these structs.
//
// The schema is declarative. Each table is a struct whose fields carry
// `toml:"key,options"` tags and `default:"value"` tags (durations in their
// unit); the options are required, secret (an unresolved ${NAME} is an
// error, an example value a warning, and problems never quote it), url
// (normalised), ms (a duration in milliseconds rather than seconds) and u16
// (an integer of at most 65535). Types with UnmarshalText (Mode, Replica,
// *regexp.Regexp) decode from strings. Rules that span keys are Check
// methods next to the types, reporting through a Report. Notifier tables
// are declared the same way by the notifier package and handed to Load (see
// Notifier).
//
// Why not go-toml's own struct decoding: it stops at the first type error
// and words errors its own way, while a configuration must report every
// problem at once, with its full path, in this package's words. So go-toml
// decodes the document into maps (see parseTOML: syntax errors and duplicate
// keys come out as go-toml words them), one pass of its parser records key
// order for http_headers and for warnings, and a small reflection-driven
// mapper (decode.go) assigns the maps onto the tagged structs. Every issue
// of a table comes out in field order, then its unknown keys in document
// order.
package config

import (
	"cmp"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Config is a fully decoded, defaulted and validated configuration.
type Config struct {
	Server   Server   `toml:"server,required"`
	Assets   Assets   `toml:"assets,required"`
	Branding Branding `toml:"branding,required"`
	Metrics  Metrics  `toml:"metrics,required"`
	// Plugins is the optional [plugins] table (zero when absent).
	Plugins Plugins `toml:"plugins"`
	// Notify is nil when the [notify] table is absent: no notification at all.
	Notify *Notify `toml:"notify"`
	// Probe is the [probe] table: the monitored services.
	Probe Probe `toml:"probe,required"`
	// Storage is the optional [storage] table (new in this implementation):
	// where the server keeps what must survive a restart.
	Storage Storage `toml:"storage"`
}

// Storage is the optional [storage] table.
type Storage struct {
	Enabled bool `toml:"enabled" default:"true"`
	// Path is the data directory as written; "" means the default
	// (vigil-data/ beside the configuration file, or --data-dir).
	Path string `toml:"path"`
	// StorageCluster holds dsn, lease_ttl and lease_renew (storage.go).
	StorageCluster
}

// Server is the [server] table.
type Server struct {
	// LogLevel is one of off, error, warn, info, debug, trace (lowercased).
	LogLevel string `toml:"log_level" default:"error"`
	// Inet is the listen address, an IP literal with a port ("[::1]:8080").
	Inet string `toml:"inet" default:"[::1]:8080"`
	// Workers is accepted for compatibility; the Go server does not need it.
	Workers int `toml:"workers" default:"4"`
	// MCPServer enables the MCP endpoint at /mcp/probes.
	MCPServer bool `toml:"mcp_server"`
	// MetricsEnabled serves Prometheus metrics at /metrics (new).
	MetricsEnabled bool `toml:"metrics_enabled" default:"true"`
	// MetricsToken, when set, protects /metrics: Bearer token or Basic
	// password (new).
	MetricsToken string `toml:"metrics_token,secret"`
	// MCPToken, when set, protects the MCP endpoint: Bearer token (new).
	MCPToken string `toml:"mcp_token,secret"`
	// ManagerToken and ReporterToken are the passwords of the Manager and
	// Reporter APIs.
	ManagerToken  string `toml:"manager_token,required,secret"`
	ReporterToken string `toml:"reporter_token,required,secret"`
}

// Check validates and normalises the log level and listen address, and warns
// about empty API passwords.
func (s *Server) Check(r *Report) {
	if lvl := strings.ToLower(s.LogLevel); slices.Contains([]string{"off", "error", "warn", "info", "debug", "trace"}, lvl) {
		s.LogLevel = lvl
	} else {
		r.Fail("log_level", "must be one of off, error, warn, info, debug, trace (got %q)", s.LogLevel)
	}
	if ap, err := netip.ParseAddrPort(s.Inet); err == nil {
		s.Inet = ap.String()
	} else {
		r.Fail("inet", "must be an IP address and port, e.g. 0.0.0.0:8080 (got %q)", s.Inet)
	}
	if s.ManagerToken == "" {
		r.Warn("manager_token", "is empty: the Manager API accepts any request with an empty password")
	}
	if s.ReporterToken == "" {
		r.Warn("reporter_token", "is empty: the Reporter API accepts any request with an empty password")
	}
}

// Assets is the [assets] table.
type Assets struct {
	// Path is the assets directory as written, relative to the working
	// directory as in the original (not to the file).
	Path string `toml:"path" default:"./res/assets/"`
	// PathExists reports whether Path named an existing directory when the
	// file was loaded; files found there override the embedded ones. It is
	// recorded, not enforced (the original refuses to start without it).
	PathExists bool `toml:"-"`
}

// Check records whether the directory exists.
func (a *Assets) Check(*Report) {
	fi, err := os.Stat(a.Path)
	a.PathExists = err == nil && fi.IsDir()
}

// Branding is the [branding] table. URL fields hold the normalised
// serialisation (e.g. "https://status.example.com/").
type Branding struct {
	PageTitle   string `toml:"page_title" default:"Status Page"`
	PageURL     string `toml:"page_url,required,url"`
	CompanyName string `toml:"company_name,required"`
	// IconColor and LogoColor are not validated.
	IconColor string `toml:"icon_color,required"`
	IconURL   string `toml:"icon_url,required,url"`
	LogoColor string `toml:"logo_color,required"`
	LogoURL   string `toml:"logo_url,required,url"`
	// WebsiteURL is the "Go to website" link; SupportURL the "Contact
	// support" link, any scheme (e.g. mailto:).
	WebsiteURL string `toml:"website_url,required,url"`
	SupportURL string `toml:"support_url,required,url"`
	// CustomHTML is inserted raw at the end of <head>.
	CustomHTML string `toml:"custom_html"`
}

// Metrics is the [metrics] table: probe timing and thresholds. Defaults are
// the original's code (src/config/defaults.rs), which wins over its README.
type Metrics struct {
	PollInterval  time.Duration `toml:"poll_interval" default:"120"`
	PollRetry     int           `toml:"poll_retry" default:"2"`
	PollRetryWait time.Duration `toml:"poll_retry_wait,ms" default:"500"`
	// Healthy HTTP statuses are [above, below).
	PollHTTPStatusHealthyAbove int           `toml:"poll_http_status_healthy_above,u16" default:"200"`
	PollHTTPStatusHealthyBelow int           `toml:"poll_http_status_healthy_below,u16" default:"400"`
	PollDelayDead              time.Duration `toml:"poll_delay_dead" default:"10"`
	PollDelaySick              time.Duration `toml:"poll_delay_sick" default:"5"`
	// PollParallelism and ScriptParallelism count workers; 0 is stored as 1.
	PollParallelism        int           `toml:"poll_parallelism,u16" default:"4"`
	PushDelayDead          time.Duration `toml:"push_delay_dead" default:"20"`
	PushSystemCPUSickAbove float32       `toml:"push_system_cpu_sick_above" default:"0.99"`
	PushSystemRAMSickAbove float32       `toml:"push_system_ram_sick_above" default:"0.99"`
	ScriptInterval         time.Duration `toml:"script_interval" default:"300"`
	ScriptParallelism      int           `toml:"script_parallelism,u16" default:"2"`
	LocalDelayDead         time.Duration `toml:"local_delay_dead" default:"40"`
	// PushReplicasMax (new) caps the replicas of a push or local node; 0
	// means unlimited.
	PushReplicasMax int `toml:"push_replicas_max" default:"1000"`
	// ScriptTimeout (new) kills a script that runs longer. Default:
	// ScriptInterval, or 300 s when script_interval is 0.
	ScriptTimeout time.Duration `toml:"script_timeout"`
}

// Check applies the derived defaults.
func (m *Metrics) Check(r *Report) {
	m.PollParallelism, m.ScriptParallelism = max(1, m.PollParallelism), max(1, m.ScriptParallelism)
	if m.ScriptTimeout == 0 {
		r.Fail("script_timeout", "must be greater than 0 (omit it to use script_interval)")
		m.ScriptTimeout = cmp.Or(m.ScriptInterval, 300*time.Second)
	}
}

// Plugins is the optional [plugins] table.
type Plugins struct {
	// RabbitMQ is nil unless [plugins.rabbitmq] is present.
	RabbitMQ *RabbitMQ `toml:"rabbitmq"`
}

// RabbitMQ is [plugins.rabbitmq], the management API that tells queue depth.
type RabbitMQ struct {
	APIURL       string `toml:"api_url,required,url"`
	AuthUsername string `toml:"auth_username,required"`
	AuthPassword string `toml:"auth_password,required,secret"`
	// Virtualhost is inserted into API paths.
	Virtualhost string `toml:"virtualhost,required"`
	// A queue is loaded when messages_ready or messages_unacknowledged reach
	// the healthy bounds, stalled when they exceed the dead ones.
	QueueReadyHealthyBelow uint32 `toml:"queue_ready_healthy_below,required"`
	QueueNackHealthyBelow  uint32 `toml:"queue_nack_healthy_below,required"`
	QueueReadyDeadAbove    uint32 `toml:"queue_ready_dead_above,required"`
	QueueNackDeadAbove     uint32 `toml:"queue_nack_dead_above,required"`
	// QueueLoadedRetryDelay is 0 when unset.
	QueueLoadedRetryDelay time.Duration `toml:"queue_loaded_retry_delay,ms"`
}

// Notify is the [notify] table: the reminder policy and the notifier tables.
type Notify struct {
	StartupNotification bool `toml:"startup_notification" default:"true"`
	// ReminderInterval is 0 when unset: no reminders.
	ReminderInterval time.Duration `toml:"reminder_interval"`
	// ReminderBackoffFunction is one of none, linear, square, cubic.
	ReminderBackoffFunction string `toml:"reminder_backoff_function" default:"none"`
	ReminderBackoffLimit    int    `toml:"reminder_backoff_limit,u16" default:"3"`
	ReminderEscalate        bool   `toml:"reminder_escalate"`
	// Notifiers holds each decoded [notify.<name>] table, made by the
	// Notifier of that name given to Load; nil when there is none.
	Notifiers map[string]any `toml:",notifiers"`
}

// Check validates the backoff function and warns about a zero interval.
func (n *Notify) Check(r *Report) {
	if n.ReminderInterval == 0 {
		r.Warn("reminder_interval", "0 disables reminders in this implementation (the original reminded on every aggregation tick)")
	}
	if !slices.Contains([]string{"none", "linear", "square", "cubic"}, n.ReminderBackoffFunction) {
		r.Fail("reminder_backoff_function", "must be one of none, linear, square, cubic (got %q)", n.ReminderBackoffFunction)
	}
}
