package cluster

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// The channels the instances NOTIFY, each in the transaction of the write
// it announces (so a listener hears of it once it has committed).
const (
	// StateChannel: the leader wrote the state (storage.Fenced).
	StateChannel = "vigil_state"
	// CommandsChannel: an instance queued a command (Queue.Insert).
	CommandsChannel = "vigil_commands"
)

// Listener is the actor that listens to the database's notifications.
//
// Owns: one dedicated connection (LISTEN needs a session of its own).
//
// Sends: a signal on State for every notification on StateChannel and on
// Commands for every one on CommandsChannel (one-slot channels: signals
// coalesce; they mean "something changed, read again"), and on both after
// every (re)connection, since notifications sent while it was not
// connected are lost. PostgreSQL delivers a notification only to sessions
// listening when it commits, so the readers also read again on a timer of
// their own.
//
// A lost connection is logged and reconnected after 1 s, doubling up to
// 30 s, until ctx ends.
type Listener struct {
	db       *DB
	state    chan struct{}
	commands chan struct{}
	logger   *slog.Logger
}

// NewListener builds the listener.
func NewListener(db *DB, logger *slog.Logger) *Listener {
	return &Listener{db: db, state: make(chan struct{}, 1), commands: make(chan struct{}, 1),
		logger: logger.With("actor", "listener")}
}

func (l *Listener) String() string { return "listener" }

// State is signalled when the leader has written the state.
func (l *Listener) State() <-chan struct{} { return l.state }

// Commands is signalled when a command was queued.
func (l *Listener) Commands() <-chan struct{} { return l.commands }

const (
	minReconnect = time.Second
	maxReconnect = 30 * time.Second
)

// Serve listens until ctx ends.
func (l *Listener) Serve(ctx context.Context) error {
	wait := time.Duration(0)
	lastErr := ""
	for {
		connected, err := l.listen(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			wait = 0
		}
		wait = min(max(2*wait, minReconnect), maxReconnect)
		if msg := err.Error(); msg != lastErr || connected {
			lastErr = msg
			l.logger.Error("listening for the database's notifications failed; reconnecting", "retry_in", wait.String(), "error", msg)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// listen connects, listens and relays until the connection fails or ctx
// ends; connected tells whether it got as far as listening.
func (l *Listener) listen(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.db.conn)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	for _, ch := range []string{StateChannel, CommandsChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false, err
		}
	}
	l.logger.Debug("listening for notifications")
	signal(l.state)
	signal(l.commands)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		switch n.Channel {
		case StateChannel:
			signal(l.state)
		case CommandsChannel:
			signal(l.commands)
		}
	}
}

// signal puts a value in a one-slot channel unless one is waiting.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
