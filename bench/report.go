package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ReportVersion is the version of the JSON layout below; compare reads
// any version, field by field.
const ReportVersion = 1

// Report is what a run measured. Rates are per second; MB is 10^6 bytes;
// latencies are in microseconds.
type Report struct {
	Version   int       `json:"version"`
	Mode      Mode      `json:"mode"`
	Proto     Proto     `json:"proto"`
	StartedAt time.Time `json:"started_at"`
	Host      Host      `json:"host"`

	Topic      string  `json:"topic"`
	Queues     int     `json:"queues"` // of the topic as the run found or made it
	Size       int     `json:"size"`
	Producers  int     `json:"producers"`
	Consumers  int     `json:"consumers"`
	Inflight   int     `json:"inflight"`
	Rate       float64 `json:"rate"`
	Messages   int64   `json:"messages"` // requested; 0 when bounded by duration
	Standalone bool    `json:"standalone"`
	Flush      string  `json:"flush,omitempty"`
	Broker     string  `json:"broker,omitempty"` // the standalone broker's address

	DurationS       float64          `json:"duration_s"` // first send (or pull) to last ack or receipt
	Sent            int64            `json:"sent"`
	Acked           int64            `json:"acked"`
	Errors          int64            `json:"errors"`
	Received        int64            `json:"received"`
	Missing         int64            `json:"missing"`          // e2e: acked but not received by the end
	ForeignReceived int64            `json:"foreign_received"` // e2e: other runs' messages seen
	ErrorsByKind    map[string]int64 `json:"errors_by_kind,omitempty"`
	MsgsPerSec      float64          `json:"msgs_per_sec"`
	MBPerSec        float64          `json:"mb_per_sec"`

	// LatencyKind names what LatencyUs measures: send_to_ack (produce),
	// pull_round_trip (consume), born_to_receipt (e2e); "_from_schedule"
	// is appended under --rate.
	LatencyKind   string       `json:"latency_kind"`
	LatencyUs     Latency      `json:"latency_us"`
	SendLatencyUs *Latency     `json:"send_latency_us,omitempty"` // e2e: the producers' send to ack
	LatencyCurve  []CurvePoint `json:"latency_curve"`

	Ceiling *Ceiling `json:"ceiling,omitempty"`
	Ratios  *Ratios  `json:"ratios,omitempty"`

	// Standalone only: resident memory of this process, and the time from
	// start to serving (StartupMs) and to being listed by the name server
	// (RegisteredMs).
	Memory       *Memory `json:"memory,omitempty"`
	StartupMs    float64 `json:"startup_ms,omitempty"`
	RegisteredMs float64 `json:"registered_ms,omitempty"`

	Interrupted     bool     `json:"interrupted"`      // ended by the caller (Ctrl-C)
	DeadlineExpired bool     `json:"deadline_expired"` // ended by the hard deadline
	Notes           []string `json:"notes,omitempty"`

	Series []SeriesPoint `json:"series"`
}

// SeriesPoint is one second of the load (the last may be shorter).
// Counts are for that interval; T is its end in seconds since the start.
type SeriesPoint struct {
	T          float64 `json:"t"`
	Sent       int64   `json:"sent"`
	Acked      int64   `json:"acked"`
	Received   int64   `json:"received"`
	Errors     int64   `json:"errors"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
	P50Us      int64   `json:"p50_us"`
	P99Us      int64   `json:"p99_us"`
	MaxUs      int64   `json:"max_us"`
}

// Host is the machine a report was made on.
type Host struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// Memory is this process's resident memory (KiB, /proc/self/status) at
// idle before the load and at its end.
type Memory struct {
	Idle ProcStatus `json:"idle"`
	End  ProcStatus `json:"end"`
	Note string     `json:"note"`
}

// ProcStatus holds the resident-memory lines of /proc/self/status, in KiB.
type ProcStatus struct {
	RssAnonKiB int64 `json:"rss_anon_kib"`
	VmRSSKiB   int64 `json:"vm_rss_kib"`
	VmHWMKiB   int64 `json:"vm_hwm_kib"`
}

// Ratios divide the run's throughput by the machine's ceilings: how much
// of what this machine can do at best the broker turned into messages.
type Ratios struct {
	// MsgsPerLoopbackRTT is msgs_per_sec over loopback round trips per
	// second: above 1 means the protocol pipelines.
	MsgsPerLoopbackRTT float64 `json:"msgs_per_loopback_rtt"`
	// MBOfSeqWrite is mb_per_sec over the sequential-write MB/s.
	MBOfSeqWrite float64 `json:"mb_of_seq_write"`
	// MsgsPerFdatasync is msgs_per_sec over 4 KiB appends+fdatasync per
	// second: with SYNC_FLUSH, how many messages each sync carries.
	MsgsPerFdatasync float64 `json:"msgs_per_fdatasync"`
}

func newReport(cfg *Config) *Report {
	return &Report{
		Version:    ReportVersion,
		Mode:       cfg.Mode,
		Proto:      cfg.Proto,
		StartedAt:  time.Now().UTC().Truncate(time.Millisecond),
		Host:       hostInfo(),
		Topic:      cfg.Topic,
		Queues:     cfg.Queues,
		Size:       cfg.Size,
		Producers:  cfg.Producers,
		Consumers:  cfg.Consumers,
		Inflight:   cfg.Inflight,
		Rate:       cfg.Rate,
		Messages:   cfg.Messages,
		Standalone: cfg.Standalone,
		Flush:      cfg.Flush,
	}
}

// finish derives the ratios once the figures are in.
func (r *Report) finish() {
	if r.Series == nil {
		r.Series = []SeriesPoint{}
	}
	c := r.Ceiling
	if c == nil || r.Mode == ModeCeiling {
		return
	}
	div := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return round4(a / b)
	}
	r.Ratios = &Ratios{
		MsgsPerLoopbackRTT: div(r.MsgsPerSec, c.LoopbackRTTPerSec),
		MBOfSeqWrite:       div(r.MBPerSec, c.SeqWriteMBPerSec),
		MsgsPerFdatasync:   div(r.MsgsPerSec, c.FdatasyncPerSec),
	}
}

func round4(f float64) float64 { return round2(f*100) / 100 }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes report.json, report.md and report.html into dir,
// creating it if needed.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"report.json": r.WriteJSON,
		"report.md":   r.WriteMarkdown,
		"report.html": r.WriteHTML,
	} {
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes path through write, reporting the first error.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return f.Close()
}

// title is the report's one-line heading.
func (r *Report) title() string {
	if r.Mode == ModeCeiling {
		return fmt.Sprintf("Gannet bench: ceiling of %s (%d CPUs)", r.Host.Hostname, r.Host.CPUs)
	}
	s := fmt.Sprintf("Gannet bench: %s over %s, %d B messages, %d producers, %d consumers", r.Mode, r.Proto,
		r.Size, r.Producers, r.Consumers)
	if r.Standalone {
		s += ", standalone (flush " + r.Flush + ")"
	}
	return s
}

// figure is one labelled row of the summary tables.
type figure struct{ name, value string }

func (r *Report) figures() []figure {
	if r.Mode == ModeCeiling {
		return nil
	}
	f := []figure{
		{"topic", fmt.Sprintf("%s (%d queues)", r.Topic, r.Queues)},
		{"inflight per producer", fmt.Sprint(r.Inflight)},
	}
	if r.Rate > 0 {
		f = append(f, figure{"rate (open loop)", fmt.Sprintf("%.0f msg/s", r.Rate)})
	}
	f = append(f,
		figure{"duration", fmt.Sprintf("%.2f s", r.DurationS)},
		figure{"sent / acked / errors", fmt.Sprintf("%d / %d / %d", r.Sent, r.Acked, r.Errors)},
		figure{"received", fmt.Sprint(r.Received)},
	)
	if r.Mode == ModeE2E {
		f = append(f, figure{"missing (acked, not received)", fmt.Sprint(r.Missing)})
	}
	f = append(f,
		figure{"throughput", fmt.Sprintf("%.0f msg/s, %.2f MB/s", r.MsgsPerSec, r.MBPerSec)},
		figure{"latency (" + r.LatencyKind + ")", latencyLine(r.LatencyUs)},
	)
	if r.SendLatencyUs != nil {
		f = append(f, figure{"latency (send_to_ack)", latencyLine(*r.SendLatencyUs)})
	}
	if r.Ratios != nil {
		f = append(f, figure{"msgs per loopback round trip", fmt.Sprintf("%.3f", r.Ratios.MsgsPerLoopbackRTT)},
			figure{"share of sequential write MB/s", fmt.Sprintf("%.3f", r.Ratios.MBOfSeqWrite)},
			figure{"msgs per 4 KiB fdatasync", fmt.Sprintf("%.3f", r.Ratios.MsgsPerFdatasync)})
	}
	if r.Memory != nil {
		f = append(f, figure{"RSS idle → end (anon)", fmt.Sprintf("%s → %s (%s → %s)",
			kib(r.Memory.Idle.VmRSSKiB), kib(r.Memory.End.VmRSSKiB), kib(r.Memory.Idle.RssAnonKiB), kib(r.Memory.End.RssAnonKiB))})
	}
	if r.StartupMs > 0 {
		f = append(f, figure{"standalone start-up", fmt.Sprintf("%.1f ms serving, %.1f ms registered", r.StartupMs, r.RegisteredMs)})
	}
	if len(r.ErrorsByKind) > 0 {
		keys := make([]string, 0, len(r.ErrorsByKind))
		for k := range r.ErrorsByKind {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.ErrorsByKind[k]))
		}
		f = append(f, figure{"errors by kind", strings.Join(parts, ", ")})
	}
	if r.Interrupted {
		f = append(f, figure{"ended", "interrupted"})
	} else if r.DeadlineExpired {
		f = append(f, figure{"ended", "hard deadline expired"})
	}
	return f
}

func (r *Report) ceilingFigures() []figure {
	c := r.Ceiling
	if c == nil {
		return nil
	}
	return []figure{
		{"directory (file system)", fmt.Sprintf("%s (%s)", c.Dir, c.FS)},
		{"sequential write, 1 MiB writes", fmt.Sprintf("%.1f MB/s (%.1f MB/s before fdatasync)", c.SeqWriteMBPerSec, c.SeqWriteCachedMBPerSec)},
		{"4 KiB append + fdatasync", fmt.Sprintf("%.0f /s (p50 %s, p99 %s)", c.FdatasyncPerSec, fmtUs(c.FdatasyncP50Us), fmtUs(c.FdatasyncP99Us))},
		{"loopback TCP round trips (16 B)", fmt.Sprintf("%.0f /s (p50 %s, p99 %s)", c.LoopbackRTTPerSec, fmtUs(c.LoopbackP50Us), fmtUs(c.LoopbackP99Us))},
	}
}

func latencyLine(l Latency) string {
	if l.Count == 0 {
		return "none recorded"
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, p99.9 %s, max %s", fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.Max))
}

func kib(k int64) string {
	if k >= 1024 {
		return fmt.Sprintf("%.1f MiB", float64(k)/1024)
	}
	return fmt.Sprintf("%d KiB", k)
}

// WriteMarkdown writes the report as Markdown tables, the per-second
// series included.
func (r *Report) WriteMarkdown(w io.Writer) error { return r.writeMarkdown(w, true) }

// WriteSummary writes the Markdown report without the per-second series:
// what a terminal shows at the end of a run.
func (r *Report) WriteSummary(w io.Writer) error { return r.writeMarkdown(w, false) }

func (r *Report) writeMarkdown(w io.Writer, series bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.title())
	fmt.Fprintf(&b, "%s, %s/%s, %d CPUs, %s, started %s\n\n", r.Host.Hostname, r.Host.OS, r.Host.Arch, r.Host.CPUs,
		r.Host.GoVersion, r.StartedAt.Format(time.RFC3339))
	table := func(rows []figure) {
		b.WriteString("| figure | value |\n|---|---|\n")
		for _, f := range rows {
			fmt.Fprintf(&b, "| %s | %s |\n", mdEscape(f.name), mdEscape(f.value))
		}
		b.WriteString("\n")
	}
	if rows := r.figures(); len(rows) > 0 {
		table(rows)
	}
	if l := r.LatencyUs; l.Count > 0 {
		fmt.Fprintf(&b, "## Latency, µs (%s)\n\n", r.LatencyKind)
		b.WriteString("| count | mean | p50 | p90 | p99 | p99.9 | p99.99 | max |\n|---|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %d | %.1f | %d | %d | %d | %d | %d | %d |\n\n", l.Count, l.Mean, l.P50, l.P90, l.P99, l.P999, l.P9999, l.Max)
	}
	if rows := r.ceilingFigures(); len(rows) > 0 {
		b.WriteString("## Ceiling of this machine\n\n")
		table(rows)
	}
	if series && len(r.Series) > 0 {
		b.WriteString("## Per second\n\n| t (s) | sent | acked | received | errors | msg/s | MB/s | p50 µs | p99 µs | max µs |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range r.Series {
			fmt.Fprintf(&b, "| %.2f | %d | %d | %d | %d | %.0f | %.2f | %d | %d | %d |\n", p.T, p.Sent, p.Acked, p.Received,
				p.Errors, p.MsgsPerSec, p.MBPerSec, p.P50Us, p.P99Us, p.MaxUs)
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", mdEscape(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
