package meta

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// File names inside Options.Dir, the same as RocketMQ's
// (BrokerPathConfigHelper), so the files can be carried between brokers.
const (
	TopicsFile             = "topics.json"
	ConsumerOffsetFile     = "consumerOffset.json"
	SubscriptionGroupFile  = "subscriptionGroup.json"
	DelayOffsetFile        = "delayOffset.json"
	backupSuffix           = ".bak"
	defaultFilePermissions = 0o644
)

// Options configure a Store.
type Options struct {
	// Dir is the configuration directory itself, normally
	// <storePathRootDir>/config; Open creates it if needed.
	Dir string

	// Logger receives the warnings of loading (a backup used instead of a
	// broken file, offsets with malformed keys). Default slog.Default().
	Logger *slog.Logger

	// NowMillis is the clock for DataVersion timestamps; tests replace it.
	NowMillis func() int64
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NowMillis == nil {
		o.NowMillis = func() int64 { return time.Now().UnixMilli() }
	}
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("meta: Dir is empty"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("meta: Logger is nil"))
	}
	if o.NowMillis == nil {
		errs = append(errs, errors.New("meta: NowMillis is nil"))
	}
	return errors.Join(errs...)
}

// Metrics counts what the store did with its files since Open.
type Metrics struct {
	FilesWritten int64 // main files replaced by Persist
	WriteErrors  int64 // failed Persist attempts of one file
	BackupLoads  int64 // tables loaded from <file>.bak because the main file was missing or broken
}

// counters is shared by the four tables of one Store.
type counters struct {
	filesWritten atomic.Int64
	writeErrors  atomic.Int64
	backupLoads  atomic.Int64
}

// Store holds the four metadata tables of a broker. Each table is safe for
// concurrent use on its own; the Store adds no lock of its own.
type Store struct {
	Topics  *Topics
	Offsets *ConsumerOffsets
	Groups  *SubscriptionGroups
	Delay   *DelayOffsets

	opts Options
	ctr  *counters
}

// Open creates Dir if needed, removes temporary files left by a crash in
// the middle of a replace, and loads the four tables. A missing file gives
// an empty table.
func Open(opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: cannot create directory %q: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, ctr: new(counters)}
	mk := func(name string) *file {
		return &file{path: filepath.Join(opts.Dir, name), log: opts.Logger, ctr: s.ctr, now: opts.NowMillis}
	}
	s.Topics = newTopics(mk(TopicsFile))
	s.Offsets = newConsumerOffsets(mk(ConsumerOffsetFile))
	s.Groups = newSubscriptionGroups(mk(SubscriptionGroupFile))
	s.Delay = newDelayOffsets(mk(DelayOffsetFile))
	for _, t := range s.tables() {
		f := t.metaFile()
		f.removeStaleTemps()
		if err := f.load(t.load); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) tables() []table {
	return []table{s.Topics, s.Offsets, s.Groups, s.Delay}
}

// Persist writes every table that changed since it was last written, and
// nothing else, so it is cheap to call on a short timer. A table that
// fails stays dirty and is tried again by the next call.
func (s *Store) Persist() error {
	var errs []error
	for _, t := range s.tables() {
		if err := persist(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close persists what changed. The tables stay usable in memory, but
// nothing writes them any more unless Persist is called again.
func (s *Store) Close() error {
	return s.Persist()
}

// Dir is the configuration directory of the store.
func (s *Store) Dir() string { return s.opts.Dir }

// Metrics returns the counters since Open.
func (s *Store) Metrics() Metrics {
	return Metrics{
		FilesWritten: s.ctr.filesWritten.Load(),
		WriteErrors:  s.ctr.writeErrors.Load(),
		BackupLoads:  s.ctr.backupLoads.Load(),
	}
}
