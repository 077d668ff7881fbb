// Package config is the schema of a Vigil configuration file: the types an
// operator's config.cfg decodes into, their defaults, environment
// interpolation and validation. It holds data only: nothing here changes after
// Load returns, and no actor keeps runtime state in these structs.
package config

import (
	"regexp"
	"time"
)

// Config is a fully decoded, defaulted and validated configuration.
type Config struct {
	// Server is the [server] table.
	Server Server
	// Assets is the [assets] table.
	Assets Assets
	// Branding is the [branding] table.
	Branding Branding
	// Metrics is the [metrics] table.
	Metrics Metrics
	// Plugins is the optional [plugins] table (zero when absent).
	Plugins Plugins
	// Notify is nil when the [notify] table is absent: no notification at all.
	Notify *Notify
	// Probe is the [probe] table: the monitored services.
	Probe Probe
	// Storage is the optional [storage] table (new in this implementation).
	Storage Storage
}

// Storage is the optional [storage] table: where the server keeps what must
// survive a restart.
type Storage struct {
	// Enabled is true unless the file says enabled = false.
	Enabled bool
	// Path is the data directory as written; "" means the default
	// (vigil-data/ beside the configuration file, or --data-dir).
	Path string
}

// PollReplicaCount returns the number of poll replicas over all nodes of all
// services (duplicates already collapsed).
func (c *Config) PollReplicaCount() int {
	n := 0
	for _, s := range c.Probe.Services {
		for _, node := range s.Nodes {
			n += len(node.Replicas)
		}
	}
	return n
}

// Server is the [server] table.
type Server struct {
	// LogLevel is one of off, error, warn, info, debug, trace (lowercased).
	LogLevel string
	// Inet is the listen address, an IP literal with a port ("[::1]:8080").
	Inet string
	// Workers is accepted for compatibility; the Go server does not need it.
	Workers int
	// MCPServer enables the MCP endpoint at /mcp/probes.
	MCPServer bool
	// ManagerToken is the password of the Manager API (required).
	ManagerToken string
	// ReporterToken is the password of the Reporter API (required).
	ReporterToken string
	// MetricsEnabled serves Prometheus metrics at /metrics (server.
	// metrics_enabled, default true; new in this implementation).
	MetricsEnabled bool
	// MetricsToken, when set, protects /metrics (Bearer token or Basic
	// password; server.metrics_token, new in this implementation).
	MetricsToken string
}

// Assets is the [assets] table.
type Assets struct {
	// Path is the assets directory as written (default "./res/assets/").
	Path string
	// PathExists reports whether Path named an existing directory when the
	// file was loaded; files found there override the embedded ones.
	PathExists bool
}

// Branding is the [branding] table. URL fields hold the normalised
// serialisation (e.g. "https://status.example.com/").
type Branding struct {
	// PageTitle is the page title (default "Status Page").
	PageTitle string
	// PageURL is the public URL of the status page (required).
	PageURL string
	// CompanyName is shown in the footer (required).
	CompanyName string
	// IconColor is the tile colour, not validated (required).
	IconColor string
	// IconURL is the favicon / og:image URL (required).
	IconURL string
	// LogoColor is the "Contact support" button colour, not validated (required).
	LogoColor string
	// LogoURL is the header logo URL (required).
	LogoURL string
	// WebsiteURL is the "Go to website" link (required).
	WebsiteURL string
	// SupportURL is the "Contact support" link; any scheme, e.g. mailto: (required).
	SupportURL string
	// CustomHTML is inserted raw at the end of <head> ("" when unset).
	CustomHTML string
}

// Metrics is the [metrics] table: probe timing and thresholds.
type Metrics struct {
	// PollInterval is the pause between two poll rounds (default 120 s).
	PollInterval time.Duration
	// PollRetry is the number of extra attempts after a dead poll result (default 2).
	PollRetry int
	// PollRetryWait is the sleep before each poll attempt (default 500 ms).
	PollRetryWait time.Duration
	// PollHTTPStatusHealthyAbove is the inclusive lower bound of healthy HTTP statuses (default 200).
	PollHTTPStatusHealthyAbove int
	// PollHTTPStatusHealthyBelow is the exclusive upper bound of healthy HTTP statuses (default 400).
	PollHTTPStatusHealthyBelow int
	// PollDelayDead is the poll timeout (default 10 s).
	PollDelayDead time.Duration
	// PollDelaySick is the latency from which a successful poll is sick (default 5 s).
	PollDelaySick time.Duration
	// PollParallelism is the number of poll workers (default 4); 0 in the file is stored as 1.
	PollParallelism int
	// PushDelayDead is the grace added to a reporter's interval (default 20 s).
	PushDelayDead time.Duration
	// PushSystemCPUSickAbove is the reported CPU load above which a push replica is sick (default 0.99).
	PushSystemCPUSickAbove float32
	// PushSystemRAMSickAbove is the reported RAM load above which a push replica is sick (default 0.99).
	PushSystemRAMSickAbove float32
	// ScriptInterval is the pause between two script rounds (default 300 s).
	ScriptInterval time.Duration
	// ScriptParallelism is the number of script workers (default 2); 0 in the file is stored as 1.
	ScriptParallelism int
	// ScriptTimeout is metrics.script_timeout (new; must be > 0 when given).
	// Default: ScriptInterval, or 300 s when script_interval is 0.
	ScriptTimeout time.Duration
	// LocalDelayDead is the grace added to a Vigil Local interval (default 40 s).
	LocalDelayDead time.Duration
	// PushReplicasMax is metrics.push_replicas_max (new): the maximum number
	// of push/local replicas per node; default 1000, 0 means unlimited.
	PushReplicasMax int
}

// Plugins is the optional [plugins] table.
type Plugins struct {
	// RabbitMQ is nil unless [plugins.rabbitmq] is present.
	RabbitMQ *RabbitMQ
}

// RabbitMQ is [plugins.rabbitmq].
type RabbitMQ struct {
	// APIURL is the management API base URL, normalised.
	APIURL string
	// AuthUsername is the Basic auth user of the API.
	AuthUsername string
	// AuthPassword is the Basic auth password of the API.
	AuthPassword string
	// Virtualhost is inserted into API paths.
	Virtualhost string
	// QueueReadyHealthyBelow: a queue is loaded when messages_ready >= this.
	QueueReadyHealthyBelow uint32
	// QueueNackHealthyBelow: a queue is loaded when messages_unacknowledged >= this.
	QueueNackHealthyBelow uint32
	// QueueReadyDeadAbove: a queue is stalled when messages_ready > this.
	QueueReadyDeadAbove uint32
	// QueueNackDeadAbove: a queue is stalled when messages_unacknowledged > this.
	QueueNackDeadAbove uint32
	// QueueLoadedRetryDelay is 0 when unset.
	QueueLoadedRetryDelay time.Duration
}

// Notify is the [notify] table and its notifier sub-tables; a nil notifier
// pointer means that notifier is not configured.
type Notify struct {
	// StartupNotification sends a startup notification (default true).
	StartupNotification bool
	// ReminderInterval is 0 when unset (no reminders). An explicit 0 in the
	// file is also stored as 0 (with a warning).
	ReminderInterval time.Duration
	// ReminderBackoffFunction is one of none, linear, square, cubic (default none).
	ReminderBackoffFunction string
	// ReminderBackoffLimit is the maximum backoff counter (default 3).
	ReminderBackoffLimit int
	// ReminderEscalate enables progressive reminder escalation (default false).
	ReminderEscalate bool

	// Email is [notify.email].
	Email *Email
	// Twilio is [notify.twilio].
	Twilio *Twilio
	// Slack is [notify.slack].
	Slack *Slack
	// Zulip is [notify.zulip].
	Zulip *Zulip
	// Telegram is [notify.telegram].
	Telegram *Telegram
	// Pushover is [notify.pushover].
	Pushover *Pushover
	// Gotify is [notify.gotify].
	Gotify *Gotify
	// XMPP is [notify.xmpp].
	XMPP *XMPP
	// Matrix is [notify.matrix].
	Matrix *Matrix
	// Webex is [notify.webex].
	Webex *Webex
	// Webhook is [notify.webhook].
	Webhook *Webhook
}

// Email is [notify.email].
type Email struct {
	// To and From are single addresses (both required).
	To, From string
	// SMTPHost is the SMTP server (default "localhost").
	SMTPHost string
	// SMTPPort is the SMTP port (default 587).
	SMTPPort int
	// SMTPUsername and SMTPPassword are "" when unset (no authentication).
	SMTPUsername, SMTPPassword string
	// SMTPEncrypt enables STARTTLS (default true).
	SMTPEncrypt bool
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Twilio is [notify.twilio].
type Twilio struct {
	// To lists the recipient phone numbers.
	To []string
	// ServiceSID, AccountSID and AuthToken are the Twilio credentials.
	ServiceSID, AccountSID, AuthToken string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Slack is [notify.slack].
type Slack struct {
	// HookURL is the incoming webhook URL, normalised.
	HookURL string
	// MentionChannel adds @channel to messages.
	MentionChannel bool
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Zulip is [notify.zulip].
type Zulip struct {
	// BotEmail, BotAPIKey and Channel identify the bot and stream; APIURL is
	// the normalised API base (e.g. "https://x.zulipchat.com/api/v1/").
	BotEmail, BotAPIKey, Channel, APIURL string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Telegram is [notify.telegram].
type Telegram struct {
	// BotToken and ChatID address the bot and chat.
	BotToken, ChatID string
	// MessageThreadID is nil when unset.
	MessageThreadID *int64
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Pushover is [notify.pushover].
type Pushover struct {
	// AppToken is the application token.
	AppToken string
	// UserKeys are the recipients, in escalation order.
	UserKeys []string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Gotify is [notify.gotify].
type Gotify struct {
	// AppURL is the normalised server URL; AppToken the application token.
	AppURL, AppToken string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// XMPP is [notify.xmpp].
type XMPP struct {
	// To and From are JIDs; XMPPPassword authenticates From.
	To, From, XMPPPassword string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Matrix is [notify.matrix].
type Matrix struct {
	// HomeserverURL is normalised; AccessToken and RoomID address the room.
	HomeserverURL, AccessToken, RoomID string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Webex is [notify.webex].
type Webex struct {
	// EndpointURL is normalised; Token and RoomID address the room.
	EndpointURL, Token, RoomID string
	// RemindersOnly restricts this notifier to reminders.
	RemindersOnly bool
}

// Webhook is [notify.webhook]. It has no reminders_only option.
type Webhook struct {
	// HookURL is the normalised URL the JSON payloads are posted to.
	HookURL string
}

// Probe is the [probe] table.
type Probe struct {
	// Services are the [[probe.service]] entries in file order.
	Services []Service
}

// Service is one [[probe.service]].
type Service struct {
	// ID is unique among services.
	ID string
	// Label is shown on the page.
	Label string
	// Nodes are the service's nodes in file order.
	Nodes []Node
}

// Mode is a node's probe mode.
type Mode string

const (
	ModePoll   Mode = "poll"
	ModePush   Mode = "push"
	ModeScript Mode = "script"
	ModeLocal  Mode = "local"
)

// Node is one [[probe.service.node]].
type Node struct {
	// ID is unique within its service.
	ID string
	// Label is shown on the page.
	Label string
	// Mode is the probe mode.
	Mode Mode
	// Replicas are the poll targets in file order, duplicates collapsed.
	Replicas []Replica
	// Scripts are the script bodies; the replica id of Scripts[i] is strconv.Itoa(i).
	Scripts []string
	// HTTPHeaders keep file order; a repeated header appears once per value.
	HTTPHeaders []Header
	// HTTPMethod is HEAD, GET, POST, PUT or PATCH; "" when unset.
	HTTPMethod string
	// HTTPBody is nil when unset.
	HTTPBody *string
	// HTTPBodyHealthyMatch is nil when unset (compiled once; safe for concurrent use).
	HTTPBodyHealthyMatch *regexp.Regexp
	// RevealReplicaName shows replica ids in the page tooltip.
	RevealReplicaName bool
	// LinkURL is normalised, "" when unset.
	LinkURL string
	// LinkLabel is "" when unset.
	LinkLabel string
	// RabbitMQQueue is "" when unset.
	RabbitMQQueue string
	// Per-node overrides; nil when unset.
	RabbitMQQueueNackHealthyBelow *uint32
	RabbitMQQueueNackDeadAbove    *uint32
}

// Header is one HTTP header applied to HTTP(S) poll requests.
type Header struct {
	// Name is an HTTP token; Value has no control characters but tab.
	Name, Value string
}

// ReplicaKind is the scheme class of a poll replica.
type ReplicaKind string

const (
	KindHTTP ReplicaKind = "http" // http and https
	KindTCP  ReplicaKind = "tcp"
	KindSSH  ReplicaKind = "ssh"
	KindICMP ReplicaKind = "icmp"
)

// Replica is one poll target.
type Replica struct {
	// ID is the URL exactly as written in the file.
	ID string
	// Kind is the scheme class.
	Kind ReplicaKind
	// URL is the normalised URL used for HTTP(S) requests ("https://x.com/").
	URL string
	// Host (without IPv6 brackets) and Port for tcp, ssh and icmp (Port empty for icmp).
	Host string
	Port string
}
