package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pkg/profile"
)

// ProfileKind names what --profile records.
type ProfileKind string

// The kinds --profile accepts; NoProfile ("") records nothing.
const (
	NoProfile        ProfileKind = ""
	ProfileCPU       ProfileKind = "cpu"
	ProfileMem       ProfileKind = "mem"
	ProfileAlloc     ProfileKind = "alloc"
	ProfileMutex     ProfileKind = "mutex"
	ProfileBlock     ProfileKind = "block"
	ProfileTrace     ProfileKind = "trace"
	ProfileGoroutine ProfileKind = "goroutine"
)

// ProfileKinds lists the accepted kinds in the order the flag's help shows.
var ProfileKinds = []ProfileKind{ProfileCPU, ProfileMem, ProfileAlloc, ProfileMutex, ProfileBlock, ProfileTrace, ProfileGoroutine}

// ParseProfileKind accepts "" (no profile) or one of ProfileKinds, in any
// case.
func ParseProfileKind(s string) (ProfileKind, error) {
	k := ProfileKind(strings.ToLower(strings.TrimSpace(s)))
	if k == NoProfile {
		return NoProfile, nil
	}
	for _, known := range ProfileKinds {
		if k == known {
			return k, nil
		}
	}
	return NoProfile, fmt.Errorf("--profile %q: want %s", s, kindList())
}

func kindList() string {
	names := make([]string, len(ProfileKinds))
	for i, k := range ProfileKinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// FileName is the name pkg/profile gives the kind's file; mem and alloc
// share one.
func (k ProfileKind) FileName() string {
	switch k {
	case ProfileCPU:
		return "cpu.pprof"
	case ProfileMem, ProfileAlloc:
		return "mem.pprof"
	case ProfileMutex:
		return "mutex.pprof"
	case ProfileBlock:
		return "block.pprof"
	case ProfileTrace:
		return "trace.out"
	case ProfileGoroutine:
		return "goroutine.pprof"
	}
	return ""
}

// options are pkg/profile's settings for the kind. Quiet because the
// caller logs; NoShutdownHook because pkg/profile's own SIGINT handler
// would call os.Exit and skip the command's shutdown (the servers' Close,
// the store's checkpoint).
func (k ProfileKind) options(dir string) []func(*profile.Profile) {
	opts := []func(*profile.Profile){profile.Quiet, profile.NoShutdownHook, profile.ProfilePath(dir)}
	switch k {
	case ProfileCPU:
		opts = append(opts, profile.CPUProfile)
	case ProfileMem:
		opts = append(opts, profile.MemProfile, profile.MemProfileHeap)
	case ProfileAlloc:
		// MemProfile sets the sampling rate, MemProfileAllocs only the
		// profile type: alone it would leave the rate at zero.
		opts = append(opts, profile.MemProfile, profile.MemProfileAllocs)
	case ProfileMutex:
		opts = append(opts, profile.MutexProfile)
	case ProfileBlock:
		opts = append(opts, profile.BlockProfile)
	case ProfileTrace:
		opts = append(opts, profile.TraceProfile)
	case ProfileGoroutine:
		opts = append(opts, profile.GoroutineProfile)
	default:
		panic(fmt.Sprintf("BUG: no pkg/profile options for profile kind %q", string(k)))
	}
	return opts
}

// profiling is set while a Profile runs: pkg/profile allows one per
// process and calls log.Fatal on a second Start, so StartProfile refuses
// it with an error first.
var profiling atomic.Bool

// Profile is a running profile; Stop writes it.
type Profile struct {
	kind ProfileKind
	path string
	p    interface{ Stop() }
	once sync.Once
}

// StartProfile starts recording kind into dir (created if missing). It
// checks up front what pkg/profile would otherwise answer with log.Fatal:
// a directory or file it cannot create, a profile already running.
func StartProfile(kind ProfileKind, dir string) (*Profile, error) {
	if kind.FileName() == "" {
		return nil, fmt.Errorf("cannot start a %q profile: want %s", string(kind), kindList())
	}
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create profile directory: %w", err)
	}
	path := filepath.Join(dir, kind.FileName())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create profile file: %w", err)
	}
	f.Close()
	if !profiling.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("cannot start a %s profile: another profile is running", kind)
	}
	return &Profile{kind: kind, path: path, p: profile.Start(kind.options(dir)...)}, nil
}

// Kind is what the profile records.
func (p *Profile) Kind() ProfileKind { return p.kind }

// Path is the file the profile goes to.
func (p *Profile) Path() string { return p.path }

// Stop ends the profile and writes its file (CPU and trace data stream
// into it while running; the others are snapshots taken now). Calls after
// the first do nothing.
func (p *Profile) Stop() {
	p.once.Do(func() {
		p.p.Stop()
		profiling.Store(false)
	})
}
