package perf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ParseHTTPAddr checks a --http-addr value. "" and "off" disable the
// listener (enabled false); anything else must be host:port with a numeric
// port (0 picks a free one; an empty host means every interface).
func ParseHTTPAddr(s string) (addr string, enabled bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") {
		return "", false, nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", false, fmt.Errorf("--http-addr %q: want host:port, \"\" or off: %v", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", false, fmt.Errorf("--http-addr %q: port %q is not a number in 0..65535", s, port)
	}
	return s, true, nil
}

// NewHandler serves, on a mux of its own:
//
//	/debug/pprof/   net/http/pprof's index and named profiles
//	                (goroutine, heap, allocs, mutex, block, threadcreate)
//	/debug/pprof/{cmdline,profile,symbol,trace}
//	/metrics        what g gathers, in the Prometheus text format
//	/               a short index of the above
//
// Importing net/http/pprof also registers its handlers on
// http.DefaultServeMux; Gannet never serves that mux.
func NewHandler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // serve what could be gathered
		// Scrapes are cheap; a bound keeps a misconfigured scraper from
		// piling up goroutines.
		MaxRequestsInFlight: 8,
	}))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "gannet\n\n/metrics        Prometheus metrics\n/debug/pprof/   Go profiles (net/http/pprof)\n")
	})
	return mux
}

// closeTimeout bounds how long Close waits for requests in flight (a
// /debug/pprof/profile?seconds=30 download) before cutting them off.
const closeTimeout = 2 * time.Second

// HTTPServer is the running /debug/pprof/ and /metrics listener.
type HTTPServer struct {
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
	done chan struct{} // closed when Serve returned
	err  error         // Serve's error other than ErrServerClosed; read after done
}

// ListenHTTP binds addr now, so a port in use is reported to the caller,
// and serves NewHandler(g) on it in the background until Close.
func ListenHTTP(addr string, g prometheus.Gatherer, log *slog.Logger) (*HTTPServer, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics and pprof listener (--http-addr): %w", err)
	}
	s := &HTTPServer{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           NewHandler(g, log),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// No WriteTimeout: /debug/pprof/profile and /trace stream
			// for as many seconds as asked, and refuse to start when the
			// server's write timeout is shorter.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
			log.Error("metrics and pprof listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, lets requests in flight finish for up to
// closeTimeout, then closes what is left. It returns once the listener's
// goroutine has ended.
func (s *HTTPServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Cutting off a long profile download is what Close is for.
		s.log.Warn("metrics and pprof listener: closing requests still in flight", "addr", s.ln.Addr().String(), "after", closeTimeout)
		err = s.srv.Close()
	}
	<-s.done
	if err == nil {
		err = s.err
	}
	if err != nil {
		return fmt.Errorf("metrics and pprof listener on %s: %w", s.ln.Addr(), err)
	}
	return nil
}
