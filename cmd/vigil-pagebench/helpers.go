package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The probe target and the file server run in helper processes (this
// binary started again with a role as its first argument) so that their CPU
// is scheduled like the server's and not inside the load generator's
// runtime.
const (
	roleTarget = "__target"
	roleFiles  = "__files"
)

// serveHelper serves h on a loopback port, prints "ADDR host:port" on
// standard output and returns when standard input closes (the parent is done
// or gone) or ctx ends.
func serveHelper(ctx context.Context, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("ADDR %s\n", ln.Addr())
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-served:
		return err
	}
	srv.Close()
	return nil
}

// fileServerMain runs the file server: it answers every GET with the bytes
// of one file and the given headers, the least work a server can do to send
// that response.
func fileServerMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	body := fs.String("body", "", "file whose bytes are served")
	contentType := fs.String("content-type", "", "Content-Type header")
	contentEncoding := fs.String("content-encoding", "", "Content-Encoding header (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*body)
	if err != nil {
		return err
	}
	length := strconv.Itoa(len(data))
	return serveHelper(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if *contentType != "" {
			h["Content-Type"] = []string{*contentType}
		}
		if *contentEncoding != "" {
			h["Content-Encoding"] = []string{*contentEncoding}
		}
		h["Content-Length"] = []string{length}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(data)
		}
	}))
}

// A helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	done  chan struct{}
}

// startHelper starts this binary in role with args and waits (at most 10 s)
// for the address it serves on.
func startHelper(ctx context.Context, role string, args ...string) (*helper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{role}, args...)...)
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &helper{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
				break
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(h.done)
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case h.addr = <-addr:
		return h, nil
	case <-h.done:
		return nil, fmt.Errorf("%s helper exited before serving: %v", role, cmd.ProcessState)
	case <-timer.C:
		err = fmt.Errorf("%s helper did not start within 10 s", role)
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.stop()
	return nil, err
}

// stop closes the helper's standard input, which ends it, and kills it if it
// has not exited within 5 s.
func (h *helper) stop() {
	h.stdin.Close()
	stopProcess(h.cmd, h.done, 5*time.Second)
}

// stopProcess waits up to grace for a process that was asked to stop (done
// closes when it has been waited for) and kills it after that.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		cmd.Process.Kill()
		<-done
	}
}

// vigilProcess is the server under test.
type vigilProcess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	started time.Time
	logPath string
}

// startVigil runs bin -c cfg --data-dir dataDir, with its output going to
// logPath.
func startVigil(bin, cfg, dataDir, logPath string) (*vigilProcess, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", cfg, "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	v := &vigilProcess{cmd: cmd, done: make(chan struct{}), started: started, logPath: logPath}
	go func() {
		cmd.Wait()
		log.Close()
		close(v.done)
	}()
	return v, nil
}

// stop asks the server to stop (SIGTERM) and kills it after 10 s.
func (v *vigilProcess) stop() {
	if err := v.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		v.cmd.Process.Kill()
	}
	stopProcess(v.cmd, v.done, 10*time.Second)
}

// exited reports whether the server has exited.
func (v *vigilProcess) exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the server's log, for error messages.
func (v *vigilProcess) logTail() string {
	data, _ := os.ReadFile(v.logPath)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
