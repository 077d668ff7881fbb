package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// MaxICMPWait bounds the wait for each echo reply (spec §4.6: min(1 s,
// poll_delay_dead)).
const MaxICMPWait = time.Second

// errNoReply marks a ping whose socket worked but got no answer in time.
var errNoReply = errors.New("no echo reply")

type icmpProber struct {
	host       string
	privileged bool
	resolveIn  time.Duration
	wait       time.Duration
	sickAt     time.Duration
	logger     *slog.Logger
	lookup     lookupFunc
}

// NewICMP returns the ICMP prober for replica r (spec §4.6): resolve r.Host to
// all its IPv4 and IPv6 addresses, ping each in turn with one echo request
// and a timeout of min(1 s, poll_delay_dead). Up iff every address replied;
// the first failure ends the attempt. Latency is the largest round-trip time.
//
// privileged selects raw ICMP sockets (root or CAP_NET_RAW); otherwise ICMP
// datagram sockets are used, which Linux allows only to groups listed in
// net.ipv4.ping_group_range. Use DetectICMPMode once at startup to choose.
func NewICMP(r config.Replica, m config.Metrics, privileged bool, logger *slog.Logger) Prober {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dead := deadAfter(m)
	return &icmpProber{
		host:       r.Host,
		privileged: privileged,
		resolveIn:  dead,
		wait:       min(MaxICMPWait, dead),
		sickAt:     m.PollDelaySick,
		logger:     logger.With("replica", messages.RedactURL(r.ID)),
	}
}

// Probe runs one ICMP attempt and classifies it.
func (p *icmpProber) Probe(ctx context.Context) messages.ProbeResult {
	return Classify(p.attempt(ctx), p.sickAt)
}

func (p *icmpProber) attempt(parent context.Context) Outcome {
	start := time.Now()
	rctx, cancel := context.WithTimeout(parent, p.resolveIn)
	addrs, err := p.lookup.lookup(rctx, p.host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("lookup %s: no addresses", p.host)
	}
	if err != nil {
		err = attemptErr(parent, rctx, p.resolveIn, err)
	}
	cancel()
	if err != nil {
		return Outcome{Latency: time.Since(start), Err: err}
	}
	var maxRTT time.Duration
	for _, a := range addrs {
		rtt, err := ping(parent, a, p.privileged, p.wait, p.logger)
		if err != nil {
			return Outcome{Latency: time.Since(start), Err: err}
		}
		maxRTT = max(maxRTT, rtt)
	}
	return Outcome{Up: true, Latency: maxRTT}
}

// ping sends one echo request to addr and waits up to wait for the reply.
func ping(ctx context.Context, addr net.IPAddr, privileged bool, wait time.Duration, logger *slog.Logger) (time.Duration, error) {
	pinger := probing.New("")
	pinger.SetIPAddr(&addr)
	pinger.SetPrivileged(privileged)
	pinger.SetLogger(pingLogger{logger})
	pinger.Count = 1
	pinger.Timeout = wait
	pinger.Interval = wait // only one echo is ever sent
	pinger.RecordRtts = false
	pinger.RecordTTLs = false
	if err := pinger.RunWithContext(ctx); err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("ping %s: cancelled: %w", addr.String(), context.Cause(ctx))
		}
		return 0, fmt.Errorf("ping %s: %w", addr.String(), err)
	}
	st := pinger.Statistics()
	if st.PacketsRecv < 1 {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("ping %s: cancelled: %w", addr.String(), context.Cause(ctx))
		}
		return 0, fmt.Errorf("ping %s: %w within %s", addr.String(), errNoReply, wait)
	}
	return st.MaxRtt, nil
}

// DetectICMPMode decides once, at startup, which ICMP sockets to use, and logs
// one line saying so. It tries a raw ICMP socket (privileged: root or
// CAP_NET_RAW) by pinging 127.0.0.1, then an unprivileged ICMP datagram
// socket. When neither can be opened it logs a warning that ICMP replicas
// will be dead and returns false: the datagram mode starts working as soon as
// net.ipv4.ping_group_range admits the process's group, without a restart.
func DetectICMPMode(logger *slog.Logger) (privileged bool) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rawErr := trySocket(true)
	if rawErr == nil {
		logger.Info("ICMP probes use raw sockets (privileged mode)")
		return true
	}
	dgramErr := trySocket(false)
	if dgramErr == nil {
		logger.Info("ICMP probes use unprivileged datagram sockets (raw sockets not permitted)",
			"raw_error", rawErr.Error())
		return false
	}
	logger.Warn("ICMP probes cannot open any socket: every icmp:// replica will be dead until CAP_NET_RAW is granted (setcap cap_net_raw+ep) or net.ipv4.ping_group_range includes this process's group",
		"raw_error", rawErr.Error(), "datagram_error", dgramErr.Error())
	return false
}

// trySocket reports whether an ICMP socket of the given kind can be opened,
// by sending one echo to 127.0.0.1. Only the socket matters: a missing reply
// (e.g. a firewall) is not an error.
func trySocket(privileged bool) error {
	_, err := ping(context.Background(), net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}, privileged,
		200*time.Millisecond, slog.New(slog.DiscardHandler))
	if errors.Is(err, errNoReply) {
		return nil // the socket itself worked
	}
	return err
}

// pingLogger adapts slog to pro-bing's logger. Everything goes to debug: the
// library's "FATAL" lines are about single stray packets, and a real failure
// shows up in the probe result anyway.
type pingLogger struct{ l *slog.Logger }

func (p pingLogger) Fatalf(format string, v ...any) { p.l.Debug("icmp: " + fmt.Sprintf(format, v...)) }
func (p pingLogger) Errorf(format string, v ...any) { p.l.Debug("icmp: " + fmt.Sprintf(format, v...)) }
func (p pingLogger) Warnf(format string, v ...any)  { p.l.Debug("icmp: " + fmt.Sprintf(format, v...)) }
func (p pingLogger) Infof(format string, v ...any)  { p.l.Debug("icmp: " + fmt.Sprintf(format, v...)) }
func (p pingLogger) Debugf(format string, v ...any) { p.l.Debug("icmp: " + fmt.Sprintf(format, v...)) }
