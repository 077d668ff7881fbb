package config

import "time"

// StorageCluster is the part of the [storage] table that moves the state
// into PostgreSQL, shared by several server instances (high
// availability). Without a DSN the server keeps its embedded store and
// runs alone; the lease keys are then unused.
type StorageCluster struct {
	// DSN names the PostgreSQL database (a postgres:// URL or libpq
	// key=value settings). It usually holds a password, so it is a secret:
	// write it as ${VIGIL_STORAGE_DSN} and set the variable.
	DSN string `toml:"dsn,secret"`
	// LeaseTTL is how long a leader's lease lasts after each renewal, in
	// seconds: an instance that dies is replaced within about LeaseTTL +
	// LeaseRenew.
	LeaseTTL time.Duration `toml:"lease_ttl" default:"10"`
	// LeaseRenew is how often the leader renews its lease, and how often
	// the other instances try to take it, in seconds. It must be less than
	// half of LeaseTTL, so that one renewal may fail without losing the
	// lease.
	LeaseRenew time.Duration `toml:"lease_renew" default:"2"`
}

// Check validates the lease timing.
func (s *StorageCluster) Check(r *Report) {
	if s.LeaseTTL < time.Second {
		r.Fail("lease_ttl", "must be at least 1 second (got %v)", s.LeaseTTL)
	}
	if s.LeaseRenew <= 0 {
		r.Fail("lease_renew", "must be greater than 0 (got %v)", s.LeaseRenew)
	} else if 2*s.LeaseRenew >= s.LeaseTTL {
		// Said at the key the file gave (a default is not reported).
		key := "lease_renew"
		if !r.ok(key) {
			key = "lease_ttl"
		}
		r.Fail(key, "lease_renew (%v) must be less than half of lease_ttl (%v), so that one failed renewal does not lose the lease", s.LeaseRenew, s.LeaseTTL)
	}
}
