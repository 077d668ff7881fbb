package config

import "time"

// Defaults of the original's code (src/config/defaults.rs), which win over
// the README where the two disagree (spec §2.6, §11 item 15).
const (
	defaultLogLevel = "error"
	defaultInet     = "[::1]:8080"
	defaultWorkers  = 4

	defaultAssetsPath = "./res/assets/"

	defaultPageTitle = "Status Page"

	defaultPollInterval               = 120 * time.Second
	defaultPollRetry                  = 2
	defaultPollRetryWait              = 500 * time.Millisecond
	defaultPollHTTPStatusHealthyAbove = 200
	defaultPollHTTPStatusHealthyBelow = 400
	defaultPollDelayDead              = 10 * time.Second
	defaultPollDelaySick              = 5 * time.Second
	defaultPollParallelism            = 4
	defaultPushDelayDead              = 20 * time.Second
	defaultPushSystemCPUSickAbove     = 0.99
	defaultPushSystemRAMSickAbove     = 0.99
	defaultScriptInterval             = 300 * time.Second
	defaultScriptParallelism          = 2
	defaultLocalDelayDead             = 40 * time.Second
	// defaultPushReplicasMax caps the push/local replicas a node may hold
	// (new in this implementation, spec §11 item 2).
	defaultPushReplicasMax = 1000

	defaultStartupNotification     = true
	defaultReminderBackoffFunction = "none"
	defaultReminderBackoffLimit    = 3

	defaultSMTPHost    = "localhost"
	defaultSMTPPort    = 587
	defaultSMTPEncrypt = true
)

// logLevels are the accepted values of server.log_level.
var logLevels = map[string]bool{
	"off": true, "error": true, "warn": true, "info": true, "debug": true, "trace": true,
}

// backoffFunctions are the accepted values of notify.reminder_backoff_function.
var backoffFunctions = map[string]bool{
	"none": true, "linear": true, "square": true, "cubic": true,
}

// httpMethods are the accepted values of a node's http_method (uppercase
// only, as in the original).
var httpMethods = map[string]bool{
	"HEAD": true, "GET": true, "POST": true, "PUT": true, "PATCH": true,
}
