package httpapi

// Expect makes the snapshot of generation gen, or a newer one, what reads
// of the prepared views show from now on: the renderer renders it at once
// instead of at its usual cadence, and reads wait for it (at most
// VisibleWait). For snapshots that change without a write through this
// server, which must still show promptly: a cluster instance's mirror of
// the state written by the leader.
func (s *Server) Expect(gen uint64) {
	s.views.expect(gen)
	s.views.poke()
}
