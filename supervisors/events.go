package supervisors

import (
	"log/slog"

	"github.com/thejerf/suture/v4"
)

// EventLogger maps suture's supervisor events to structured log records.
func EventLogger(logger *slog.Logger) suture.EventHook {
	l := logger.With("actor", "supervisor")
	return func(ev suture.Event) {
		switch e := ev.(type) {
		case suture.EventServicePanic:
			l.Error("actor panicked", "supervisor", e.SupervisorName, "service", e.ServiceName,
				"panic", e.PanicMsg, "failures", e.CurrentFailures, "restarting", e.Restarting)
		case suture.EventServiceTerminate:
			l.Warn("actor stopped", "supervisor", e.SupervisorName, "service", e.ServiceName,
				"error", errString(e.Err), "failures", e.CurrentFailures, "restarting", e.Restarting)
		case suture.EventBackoff:
			l.Warn("supervisor backing off after repeated failures", "supervisor", e.SupervisorName)
		case suture.EventResume:
			l.Info("supervisor resumed", "supervisor", e.SupervisorName)
		case suture.EventStopTimeout:
			l.Error("actor did not stop in time", "supervisor", e.SupervisorName, "service", e.ServiceName)
		default:
			l.Info("supervisor event", "event", ev.String())
		}
	}
}

func errString(v any) string {
	if v == nil {
		return ""
	}
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return ""
}
