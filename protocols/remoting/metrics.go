package remoting

// ServerMetrics is a snapshot of a server's state, for the metrics
// exporter (perf/) and for reports.
type ServerMetrics struct {
	Connections int // connections open now
}

// Metrics returns the current values. It takes the server's lock briefly,
// so it is cheap enough to call on every scrape.
func (s *Server) Metrics() ServerMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ServerMetrics{Connections: len(s.conns)}
}
