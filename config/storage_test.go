package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStorageCluster: the PostgreSQL keys of [storage] decode, the DSN is
// interpolated like every secret, and the lease timing is checked.
func TestStorageCluster(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "config", "valid", "minimal.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(table string, environ ...string) (string, error) {
		cfg, _, err := parse(append(base, []byte("\n[storage]\n"+table)...), environ)
		if err != nil {
			return "", err
		}
		return cfg.Storage.DSN + " " + cfg.Storage.LeaseTTL.String() + " " + cfg.Storage.LeaseRenew.String(), nil
	}
	got, err := load("dsn = \"${VIGIL_STORAGE_DSN}\"\nlease_ttl = 30\nlease_renew = 5\n", "VIGIL_STORAGE_DSN=postgres://vigil:pw@db/vigil")
	if err != nil || got != "postgres://vigil:pw@db/vigil 30s 5s" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := load(""); err != nil || got != " 10s 2s" {
		t.Fatalf("defaults: got %q, %v", got, err)
	}
	for _, tc := range []struct{ table, want string }{
		{"lease_renew = 5\n", "storage.lease_renew: lease_renew (5s) must be less than half of lease_ttl (10s)"},
		{"lease_ttl = 4\n", "storage.lease_ttl: lease_renew (2s) must be less than half of lease_ttl (4s)"},
		{"lease_ttl = 0\n", "storage.lease_ttl: must be at least 1 second"},
		{"lease_renew = 0\n", "storage.lease_renew: must be greater than 0"},
		{"lease_ttl = 2.5\n", "storage.lease_ttl: must be an integer"},
	} {
		if _, err := load(tc.table); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.table, err, tc.want)
		}
	}
	if _, err := load("dsn = \"${VIGIL_STORAGE_DSN}\"\n"); err == nil || !strings.Contains(err.Error(), "storage.dsn: environment variable VIGIL_STORAGE_DSN is not set") {
		t.Fatalf("unset DSN variable: %v", err)
	}
}
