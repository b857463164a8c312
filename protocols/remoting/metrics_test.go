package remoting

import (
	"testing"
	"time"
)

func TestServerMetricsCountsConnections(t *testing.T) {
	s := startServer(t, NewRouter(), nil)
	waitConns := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.Metrics().Connections != want {
			if time.Now().After(deadline) {
				t.Fatalf("Connections = %d, want %d", s.Metrics().Connections, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitConns(0)
	a, b := dialRaw(t, s.addr), dialRaw(t, s.addr)
	waitConns(2)
	a.c.Close()
	waitConns(1)
	b.c.Close()
	waitConns(0)
}
