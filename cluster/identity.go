package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
)

// NewIdentity names this process among the instances: host name, process
// id and a random suffix (a restarted process, or a container that reuses
// pid 1 on the same host name, gets a new one). It is what the lease row
// and /readyz show.
func NewIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}
