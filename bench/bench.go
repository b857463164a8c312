package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Run performs one bench run. With a report it returns the error, if any,
// that ended the load early; a report with Interrupted set is what a
// cancelled ctx (Ctrl-C) or the hard deadline left, and is still worth
// writing. Without a report the run could not start: bad config, no
// broker, no topic.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := begin(ctx, &cfg, nil)
	if err != nil {
		return nil, err
	}
	defer s.cancel()
	if s.r == nil {
		return s.rep, nil
	}

	rep := s.rep
	nsAddr := cfg.NameServer
	if cfg.Standalone {
		sa, err := StartStandalone(StandaloneOptions{Dir: cfg.Dir, Flush: cfg.Flush, Sets: cfg.Sets, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := sa.Close(); err != nil {
				cfg.Logger.Warn("bench: standalone shutdown", "err", err)
			}
		}()
		nsAddr = sa.NameServer
		rep.StartupMs = msOf(sa.Startup)
		rep.RegisteredMs = msOf(sa.Registered)
		rep.Broker = sa.Broker
		s.watchMemory("this process: the broker, the name server and the load generator")
	}
	return s.end(runRocketMQ(s.hctx, s.r, nsAddr), nil)
}

// session is what Run and RunMQTT share around their protocol's load: the
// report, the hard deadline and the run.
type session struct {
	ctx    context.Context // the caller's
	hctx   context.Context // ctx bounded by cfg.Deadline
	cancel context.CancelFunc
	rep    *Report
	r      *run // nil when there is no load to run (ModeCeiling): rep is final
}

// begin applies cfg's defaults and checks it (check, if not nil, adds the
// protocol's own checks), starts the report, sets the hard deadline and,
// when asked, measures the disk's ceiling. The caller defers s.cancel.
func begin(ctx context.Context, cfg *Config, check func(*Config) error) (*session, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, err
		}
	}
	s := &session{ctx: ctx, rep: newReport(cfg)}
	s.hctx, s.cancel = context.WithTimeout(ctx, cfg.Deadline)

	if cfg.Ceiling || cfg.Mode == ModeCeiling {
		c, err := MeasureCeiling(s.hctx, cfg.Dir)
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("ceiling: %w", err)
		}
		s.rep.Ceiling = c
	}
	if cfg.Mode == ModeCeiling {
		s.rep.finish()
		return s, nil
	}
	s.r = newRun(cfg)
	return s, nil
}

// watchMemory has the run read this process's memory just before and just
// after the load (a standalone run: the broker is in this process).
func (s *session) watchMemory(note string) {
	mem := &Memory{Note: note}
	s.rep.Memory = mem
	s.r.beforeLoad = func() {
		runtime.GC()
		mem.Idle = readProcStatus()
	}
	s.r.afterLoad = func() { mem.End = readProcStatus() }
}

// end finishes the report once the load has returned loadErr: a setup
// failure leaves no report; otherwise the run's figures, then more (the
// protocol's own, if not nil), then whether the run was cut short.
func (s *session) end(loadErr error, more func(*Report)) (*Report, error) {
	if errors.Is(loadErr, errSetup) {
		return nil, loadErr
	}
	s.r.fill(s.rep)
	if more != nil {
		more(s.rep)
	}
	s.rep.Interrupted = s.ctx.Err() != nil
	s.rep.DeadlineExpired = s.ctx.Err() == nil && s.hctx.Err() != nil
	s.rep.finish()
	return s.rep, loadErr
}

// errSetup marks the failures that leave no report.
var errSetup = errors.New("setup")

// The body of every message the bench sends starts with this header:
//
//	 0        4        8                16
//	+--------+--------+----------------+------ - -
//	| "GNB1" | run id | intended time  | filler
//	+--------+--------+----------------+------ - -
//	  magic    uint32   int64 Unix ns,    up to Size
//	                    big endian
//
// The intended time is the send time (closed loop) or the scheduled time
// (open loop); a consumer subtracts it from the receipt time. The run id
// tells this run's messages from older ones in an e2e run.
const (
	headerMagic = uint32('G')<<24 | uint32('N')<<16 | uint32('B')<<8 | '1'
	headerSize  = 16
)

func putHeader(b []byte, runID uint32, intended int64) {
	binary.BigEndian.PutUint32(b[0:], headerMagic)
	binary.BigEndian.PutUint32(b[4:], runID)
	binary.BigEndian.PutUint64(b[8:], uint64(intended))
}

// readHeader returns the run id and intended time of a bench body.
func readHeader(b []byte) (runID uint32, intended int64, ok bool) {
	if len(b) < headerSize || binary.BigEndian.Uint32(b) != headerMagic {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[4:]), int64(binary.BigEndian.Uint64(b[8:])), true
}

// workerStats are one producer's or consumer's counters, written by its
// own goroutines and callbacks and summed by the meter.
type workerStats struct {
	sent     atomic.Int64 // sends handed to the connection
	acked    atomic.Int64 // sends answered SUCCESS
	errors   atomic.Int64 // failed sends and pulls
	received atomic.Int64 // messages received (this run's, in e2e)
	bytes    atomic.Int64 // body bytes acked (producers) or received (consumers)
	foreign  atomic.Int64 // e2e: messages of other runs
	last     atomic.Int64 // Unix ns of the last ack or receipt
	lat      *recorder
	_        [64]byte // keep the next worker's counters off this cache line
}

func newWorkerStats() *workerStats { return &workerStats{lat: newRecorder()} }

func (s *workerStats) touch(now time.Time) {
	n := now.UnixNano()
	for {
		old := s.last.Load()
		if old >= n || s.last.CompareAndSwap(old, n) {
			return
		}
	}
}

// totals is the sum of some workers' counters.
type totals struct {
	sent, acked, errors, received, bytes, foreign int64
	last                                          int64
}

func sum(ws []*workerStats) totals {
	var t totals
	for _, w := range ws {
		t.sent += w.sent.Load()
		t.acked += w.acked.Load()
		t.errors += w.errors.Load()
		t.received += w.received.Load()
		t.bytes += w.bytes.Load()
		t.foreign += w.foreign.Load()
		t.last = max(t.last, w.last.Load())
	}
	return t
}

// errTally counts errors by kind; errors are rare, so one lock is enough.
type errTally struct {
	mu sync.Mutex
	m  map[string]int64
}

func (t *errTally) add(kind string) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]int64)
	}
	t.m[kind]++
	t.mu.Unlock()
}

func (t *errTally) snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.m)
}

// tickCounts are the totals at the last tick.
type tickCounts struct {
	sent, acked, errors, received int64
	main, bytes                   int64 // what the mode's throughput counts
}

// run is the state of one load phase that outlives the protocol code: the
// workers' stats, the meter's histograms and series, the hooks around the
// load.
type run struct {
	cfg    *Config
	runID  uint32
	queues int       // queues the load used (the topic's, which may predate the run)
	start  time.Time // the load's origin; set before the first send
	end    time.Time // when the load phase ended

	producers []*workerStats
	consumers []*workerStats
	errs      errTally

	notesMu sync.Mutex
	notes   []string // guarded by notesMu

	// Owned by the meter.
	sendTotal *hdrhistogram.Histogram // producers: send to ack
	recvTotal *hdrhistogram.Histogram // consumers: e2e or pull round trip
	interval  *hdrhistogram.Histogram // the main kind, this second
	prev      tickCounts
	prevAt    time.Time
	series    []SeriesPoint

	beforeLoad, afterLoad func()
}

// startLoad begins the load phase: the beforeLoad hook, the load's origin,
// its stop time (zero without a Duration) and the meter. stopMeter, called
// once the load's goroutines have returned, stops the meter and runs the
// afterLoad hook.
func (r *run) startLoad() (stopAt time.Time, stopMeter func()) {
	if r.beforeLoad != nil {
		r.beforeLoad()
	}
	r.start = time.Now()
	if r.cfg.Duration > 0 {
		stopAt = r.start.Add(r.cfg.Duration)
	}
	meterStop, meterDone := make(chan struct{}), make(chan struct{})
	go r.meter(meterStop, meterDone)
	return stopAt, func() {
		close(meterStop)
		<-meterDone
		if r.afterLoad != nil {
			r.afterLoad()
		}
	}
}

// schedule is producer i of n's send loop but for its slots: its quota and,
// in an open loop, its place in the schedule the producers share,
// interleaved: producer i of n sends at start + (k*n + i) * interval.
func schedule[S any](r *run, n, i int, stopAt time.Time) *sendLoop[S] {
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(n) / r.cfg.Rate)
	}
	return &sendLoop[S]{
		quota:    quotaOf(r.cfg.Messages, n, i),
		interval: interval,
		start:    r.start.Add(time.Duration(float64(interval) * float64(i) / float64(n))),
		stopAt:   stopAt,
	}
}

// acquireSlot takes a free slot, waiting for one until ctx ends.
func acquireSlot[S any](ctx context.Context, free chan S) (S, bool) {
	select {
	case s := <-free:
		return s, true
	default:
	}
	select {
	case s := <-free:
		return s, true
	case <-ctx.Done():
		var none S
		return none, false
	}
}

func newRun(cfg *Config) *run {
	var id [4]byte
	rand.Read(id[:])
	return &run{
		cfg:       cfg,
		runID:     binary.BigEndian.Uint32(id[:]),
		sendTotal: newHist(),
		recvTotal: newHist(),
		interval:  newHist(),
	}
}

func (r *run) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.notesMu.Lock()
	r.notes = append(r.notes, msg)
	r.notesMu.Unlock()
	r.cfg.Logger.Warn("bench: " + msg)
}

// mainIsSend reports whether the mode's headline latency is the producers'
// (send to ack) rather than the consumers'.
func (r *run) mainIsSend() bool { return r.cfg.Mode == ModeProduce }

// mainCount is the count the mode's throughput is made of.
func (r *run) mainCount(p, c totals) (n, bytes int64) {
	if r.mainIsSend() {
		return p.acked, p.bytes
	}
	return c.received, c.bytes
}

// meter runs the once-a-second tick until stop is closed.
func (r *run) meter(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.tick(now, false)
		}
	}
}

// tick drains the workers' histograms, appends a series point for the
// time since the last tick, and prints the progress line. The final tick
// prints nothing and adds no point when nothing happened since the last.
func (r *run) tick(now time.Time, final bool) {
	if r.prevAt.IsZero() {
		r.prevAt = r.start
	}
	secs := now.Sub(r.prevAt).Seconds()
	if secs <= 0 {
		return
	}
	r.interval.Reset()
	mainSend := r.mainIsSend()
	for _, w := range r.producers {
		if mainSend {
			w.lat.drainInto(r.sendTotal, r.interval)
		} else {
			w.lat.drainInto(r.sendTotal)
		}
	}
	for _, w := range r.consumers {
		if mainSend {
			w.lat.drainInto(r.recvTotal)
		} else {
			w.lat.drainInto(r.recvTotal, r.interval)
		}
	}
	p, c := sum(r.producers), sum(r.consumers)
	n, bytes := r.mainCount(p, c)
	cur := tickCounts{sent: p.sent, acked: p.acked, errors: p.errors + c.errors, received: c.received, main: n, bytes: bytes}
	pt := SeriesPoint{
		T:          round2(now.Sub(r.start).Seconds()),
		Sent:       cur.sent - r.prev.sent,
		Acked:      cur.acked - r.prev.acked,
		Received:   cur.received - r.prev.received,
		Errors:     cur.errors - r.prev.errors,
		MsgsPerSec: round2(float64(cur.main-r.prev.main) / secs),
		MBPerSec:   round2(float64(cur.bytes-r.prev.bytes) / secs / 1e6),
	}
	if final && cur == r.prev && r.interval.TotalCount() == 0 {
		return
	}
	if r.interval.TotalCount() > 0 {
		pt.P50Us = r.interval.ValueAtQuantile(50)
		pt.P99Us = r.interval.ValueAtQuantile(99)
		pt.MaxUs = r.interval.Max()
	}
	r.series = append(r.series, pt)
	r.prev, r.prevAt = cur, now
	if w := r.cfg.Progress; w != nil && !final {
		total := r.recvTotal
		if mainSend {
			total = r.sendTotal
		}
		fmt.Fprintf(w, "%6.1fs  sent %9.0f/s  acked %9.0f/s  recv %9.0f/s  %7.2f MB/s  err %d  p99 %s (run %s)\n",
			pt.T, float64(pt.Sent)/secs, float64(pt.Acked)/secs, float64(pt.Received)/secs, pt.MBPerSec,
			cur.errors, fmtUs(pt.P99Us), fmtUs(total.ValueAtQuantile(99)))
	}
}

// fill writes the load's figures into rep; the meter has stopped.
func (r *run) fill(rep *Report) {
	if r.start.IsZero() {
		return
	}
	if r.end.IsZero() {
		r.end = time.Now()
	}
	r.tick(time.Now(), true) // the last, partial second
	p, c := sum(r.producers), sum(r.consumers)
	end := r.end
	if last := max(p.last, c.last); last > r.start.UnixNano() {
		end = time.Unix(0, last)
	}
	d := end.Sub(r.start).Seconds()
	rep.DurationS = round2(d)
	if r.queues > 0 {
		rep.Queues = r.queues
	}
	rep.Sent, rep.Acked, rep.Errors, rep.Received = p.sent, p.acked, p.errors+c.errors, c.received
	rep.ForeignReceived = c.foreign
	if r.cfg.Mode == ModeE2E && p.acked > c.received {
		rep.Missing = p.acked - c.received
	}
	n, bytes := r.mainCount(p, c)
	if d > 0 {
		rep.MsgsPerSec = round2(float64(n) / d)
		rep.MBPerSec = round2(float64(bytes) / d / 1e6)
	}
	main := r.recvTotal
	switch r.cfg.Mode {
	case ModeProduce:
		main = r.sendTotal
		rep.LatencyKind = "send_to_ack"
	case ModeConsume:
		rep.LatencyKind = "pull_round_trip"
	case ModeE2E:
		rep.LatencyKind = "born_to_receipt"
		s := summarize(r.sendTotal)
		rep.SendLatencyUs = &s
	}
	if r.cfg.Rate > 0 {
		rep.LatencyKind += "_from_schedule"
	}
	rep.LatencyUs = summarize(main)
	rep.LatencyCurve = curve(main)
	rep.ErrorsByKind = r.errs.snapshot()
	rep.Series = r.series
	r.notesMu.Lock()
	rep.Notes = append(rep.Notes, r.notes...)
	r.notesMu.Unlock()
}

// fmtUs prints microseconds in the unit that suits them.
func fmtUs(us int64) string {
	switch {
	case us >= 1_000_000:
		return fmt.Sprintf("%.2fs", float64(us)/1e6)
	case us >= 1000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%dµs", us)
	}
}

func msOf(d time.Duration) float64 { return round2(float64(d) / float64(time.Millisecond)) }

// hostInfo describes the machine a report was made on.
func hostInfo() Host {
	name, _ := os.Hostname()
	return Host{
		Hostname:  name,
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
	}
}
