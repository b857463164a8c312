package perf

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Default --http-addr values; the name server gets the next port so a
// standalone-style pair of processes on one host does not collide.
const (
	DefaultBrokerHTTPAddr  = "127.0.0.1:8080"
	DefaultNamesrvHTTPAddr = "127.0.0.1:8081"
)

// Config is what the server commands' flags say about profiling and the
// listener.
type Config struct {
	Profile    string // "" (none) or one of ProfileKinds
	ProfileDir string // where the profile file goes, created if missing
	HTTPAddr   string // host:port for /debug/pprof/ and /metrics; "" or "off" disables
}

// AddFlags defines --profile, --profile-dir and --http-addr on fs, the
// last defaulting to httpAddr.
func (c *Config) AddFlags(fs *flag.FlagSet, httpAddr string) {
	fs.StringVar(&c.Profile, "profile", "", "write a profile on clean shutdown: "+kindList())
	fs.StringVar(&c.ProfileDir, "profile-dir", ".", "directory for the --profile file (created if missing)")
	fs.StringVar(&c.HTTPAddr, "http-addr", httpAddr, `serve /debug/pprof/ and /metrics on host:port ("" or off disables)`)
}

// Validate reports every bad value at once; a command answers it with
// exit status 2.
func (c Config) Validate() error {
	_, perr := ParseProfileKind(c.Profile)
	_, _, herr := ParseHTTPAddr(c.HTTPAddr)
	return errors.Join(perr, herr)
}

// Perf is the running profiling and metrics layer of one process.
type Perf struct {
	log  *slog.Logger
	reg  *prometheus.Registry
	http *HTTPServer // nil when --http-addr is off
	prof *Profile    // nil without --profile

	closeOnce sync.Once
	closeErr  error
}

// Start binds the listener (before the servers open their stores, so a
// port in use fails fast and a slow recovery can be profiled over HTTP)
// and starts the profile. The registry starts with the Go runtime,
// process and build-info collectors; Register adds the servers' once
// they run. Errors here are environmental (port in use, directory not
// writable): a command answers them with exit status 1.
func Start(c Config, log *slog.Logger) (*Perf, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	kind, _ := ParseProfileKind(c.Profile)
	addr, enabled, _ := ParseHTTPAddr(c.HTTPAddr)

	p := &Perf{log: log.With("component", "perf"), reg: prometheus.NewRegistry()}
	p.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if enabled {
		h, err := ListenHTTP(addr, p.reg, p.log)
		if err != nil {
			return nil, err
		}
		p.http = h
	}
	if kind != NoProfile {
		prof, err := StartProfile(kind, c.ProfileDir)
		if err != nil {
			if p.http != nil {
				p.http.Close()
			}
			return nil, err
		}
		p.prof = prof
	}
	return p, nil
}

// Register adds collectors to the registry /metrics serves.
func (p *Perf) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := p.reg.Register(c); err != nil {
			return fmt.Errorf("cannot register metrics: %w", err)
		}
	}
	return nil
}

// Registry is what /metrics serves.
func (p *Perf) Registry() *prometheus.Registry { return p.reg }

// HTTPAddr is the listener's bound address, nil when it is off.
func (p *Perf) HTTPAddr() net.Addr {
	if p.http == nil {
		return nil
	}
	return p.http.Addr()
}

// Profile is the running profile, nil without --profile.
func (p *Perf) Profile() *Profile { return p.prof }

// Close writes the profile, then closes the listener. Commands call it
// right after the shutdown signal, before closing their servers: the
// goroutine and heap profiles then show the running server, and no scrape
// reads a closed store. Calls after the first return the first's result.
func (p *Perf) Close() error {
	p.closeOnce.Do(func() {
		if p.prof != nil {
			p.prof.Stop()
		}
		if p.http != nil {
			p.closeErr = p.http.Close()
		}
	})
	return p.closeErr
}
