package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

// TestVerifyAcceptsHealthyFiles runs a random workload that grows, splits,
// merges and empties the B+trees (small and overflow-page values, deletes
// of first keys, whole-range deletes) and checks after every commit that
// the open-time verification accepts the file: a false positive would make
// Open move a healthy store aside.
func TestVerifyAcceptsHealthyFiles(t *testing.T) {
	t.Parallel()
	s, err := openBolt(filepath.Join(t.TempDir(), "vigil.db"), discard(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.(*boltStore).h
	r := rand.New(rand.NewPCG(7, 7))
	key := func(i int) messages.ReplicaKey {
		return messages.ReplicaKey{Probe: fmt.Sprintf("p%d", i%5), Node: fmt.Sprintf("n%d", i%11), Replica: fmt.Sprintf("https://replica-%d.example.com/a/rather/long/health/check/path", i)}
	}
	rounds := 120
	if testing.Short() {
		rounds = 30
	}
	for round := range rounds {
		var b Batch
		switch mode := r.IntN(10); {
		case mode < 5: // puts, some with values bigger than a page
			for range 1 + r.IntN(200) {
				rep := Replica{Key: key(r.IntN(3000)), Updated: at(int64(round))}
				if r.IntN(20) == 0 {
					rep.Err = strings.Repeat("e", 1+r.IntN(9000))
				}
				b.PutReplicas = append(b.PutReplicas, rep)
			}
			for range r.IntN(5) {
				b.PutAnnouncements = append(b.PutAnnouncements, ann(fmt.Sprint(r.IntN(300)), uint64(r.IntN(300))))
			}
		case mode < 8: // scattered deletes
			for range 1 + r.IntN(300) {
				b.DeleteReplicas = append(b.DeleteReplicas, key(r.IntN(3000)))
			}
			for range r.IntN(10) {
				b.DeleteAnnouncements = append(b.DeleteAnnouncements, fmt.Sprint(r.IntN(300)))
			}
		default: // delete the first keys, or a long run of keys
			st := mustLoad(t, s)
			n := min(len(st.Replicas), 1+r.IntN(1500))
			for _, rep := range st.Replicas[:n] {
				b.DeleteReplicas = append(b.DeleteReplicas, rep.Key)
			}
		}
		if err := s.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if err := verifyStructure(h.db); err != nil {
			t.Fatalf("round %d: healthy file rejected: %v", round, err)
		}
		if err := h.view(verifyAnnouncementIndex); err != nil {
			t.Fatalf("round %d: announcement index: %v", round, err)
		}
	}
}
