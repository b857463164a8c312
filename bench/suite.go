package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The standard suite (bench/suite.sh, `make bench`) leaves one directory
// of JSON files: the reports of its runs (<case>.json, ceiling.json), one
// BrokerProcess per case (<case>.broker.json: the separately started
// broker's start-up time and resident memory, which the load generator
// cannot see) and one SuiteInfo (suite.json). SuiteSummary reads them all
// and writes the table docs/performance.md quotes.

// Kinds of the suite's own JSON files; reports have no "kind".
const (
	SuiteInfoKind     = "gannet-suite"
	BrokerProcessKind = "gannet-suite-broker"
)

// SuiteSummaryFile is the file `gannet bench suite-report DIR` writes.
const SuiteSummaryFile = "summary.md"

// SuiteInfo describes one run of the suite, as bench/suite.sh records it.
type SuiteInfo struct {
	Kind      string    `json:"kind"` // SuiteInfoKind
	StartedAt time.Time `json:"started_at"`
	ElapsedS  float64   `json:"elapsed_s"` // the whole suite, build and ceiling included
	Commit    string    `json:"commit,omitempty"`
	Dirty     bool      `json:"dirty,omitempty"` // the work tree had uncommitted changes
	// CaseDurationS is the length of each timed case; Backlog the
	// messages of the backlog fill and drain.
	CaseDurationS float64  `json:"case_duration_s,omitempty"`
	Backlog       int64    `json:"backlog,omitempty"`
	Failures      []string `json:"failures,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

// BrokerProcess is a broker the suite started as its own process
// (`gannet standalone`) for one case, measured from outside: memory from
// /proc/<pid>/status, in KiB.
type BrokerProcess struct {
	Kind string `json:"kind"` // BrokerProcessKind
	Case string `json:"case"` // the report's file name without .json
	PID  int    `json:"pid"`
	// Flush is the broker's flush mode, "async" or "sync": a report made
	// through -n does not know it.
	Flush string `json:"flush"`
	// StartupMs is the time from exec to the name server port accepting
	// connections, BrokerPortMs to the broker port accepting them; zero
	// when the case reused a broker started for an earlier one.
	StartupMs    float64 `json:"startup_ms"`
	BrokerPortMs float64 `json:"broker_port_ms"`
	// Idle is read before the case's load; Peak holds the largest value
	// of each field sampled while the load ran; End is read when it has
	// ended (its VmHWM is the peak over the process's life).
	Idle    ProcStatus `json:"idle"`
	Peak    ProcStatus `json:"peak"`
	End     ProcStatus `json:"end"`
	Samples int        `json:"samples"`
	Note    string     `json:"note,omitempty"`
}

// SuiteCase is one row of the summary: a load report and, when the suite
// started the broker itself, its process figures.
type SuiteCase struct {
	Name   string
	Report *Report
	Broker *BrokerProcess // nil: none recorded
}

// Suite is what a suite directory holds.
type Suite struct {
	Dir     string
	Info    *SuiteInfo // nil: no suite.json
	Ceiling *Report    // the ceiling the ratios divide by; nil: none
	// CeilingName is the file the ceiling came from.
	CeilingName string
	// OtherCeilings are further ceiling reports, by file name, shown for
	// the spread.
	OtherCeilings map[string]*Report
	Cases         []SuiteCase
	// Skipped are JSON files that are none of the above.
	Skipped []string
}

// LoadSuite reads every *.json file directly in dir (not in its
// subdirectories, where the per-case report.json copies live). The
// ceiling the ratios divide by is ceiling.json's, else the earliest
// ceiling report's. Cases are in the order they started.
func LoadSuite(dir string) (*Suite, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no JSON reports in %s", dir)
	}
	sort.Strings(names)
	s := &Suite{Dir: dir, OtherCeilings: map[string]*Report{}}
	brokers := map[string]*BrokerProcess{}
	var ceilings []SuiteCase
	for _, path := range names {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(filepath.Base(path), ".json")
		var head struct {
			Kind    string `json:"kind"`
			Mode    Mode   `json:"mode"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case head.Kind == SuiteInfoKind:
			var si SuiteInfo
			if err := strictUnmarshal(data, &si); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			s.Info = &si
		case head.Kind == BrokerProcessKind:
			var bp BrokerProcess
			if err := strictUnmarshal(data, &bp); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if bp.Case == "" {
				bp.Case = strings.TrimSuffix(base, ".broker")
			}
			if _, dup := brokers[bp.Case]; dup {
				return nil, fmt.Errorf("%s: a second broker record for case %q", path, bp.Case)
			}
			brokers[bp.Case] = &bp
		case head.Kind == "" && head.Mode != "" && head.Version > 0:
			var r Report
			if err := json.Unmarshal(data, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			c := SuiteCase{Name: base, Report: &r}
			if r.Mode == ModeCeiling {
				if r.Ceiling == nil {
					return nil, fmt.Errorf("%s: a ceiling report without its ceiling", path)
				}
				ceilings = append(ceilings, c)
			} else {
				s.Cases = append(s.Cases, c)
			}
		default:
			s.Skipped = append(s.Skipped, filepath.Base(path))
		}
	}
	sort.SliceStable(ceilings, func(i, j int) bool {
		if (ceilings[i].Name == "ceiling") != (ceilings[j].Name == "ceiling") {
			return ceilings[i].Name == "ceiling"
		}
		return ceilings[i].Report.StartedAt.Before(ceilings[j].Report.StartedAt)
	})
	for i, c := range ceilings {
		if i == 0 {
			s.Ceiling, s.CeilingName = c.Report, c.Name+".json"
		} else {
			s.OtherCeilings[c.Name+".json"] = c.Report
		}
	}
	sort.SliceStable(s.Cases, func(i, j int) bool {
		a, b := s.Cases[i].Report.StartedAt, s.Cases[j].Report.StartedAt
		if !a.Equal(b) {
			return a.Before(b)
		}
		return s.Cases[i].Name < s.Cases[j].Name
	})
	for i := range s.Cases {
		if bp, ok := brokers[s.Cases[i].Name]; ok {
			s.Cases[i].Broker = bp
			delete(brokers, s.Cases[i].Name)
		}
	}
	if len(brokers) > 0 {
		orphans := make([]string, 0, len(brokers))
		for name := range brokers {
			orphans = append(orphans, name)
		}
		sort.Strings(orphans)
		return nil, fmt.Errorf("broker records without a report: %s", strings.Join(orphans, ", "))
	}
	if len(s.Cases) == 0 && s.Ceiling == nil {
		return nil, fmt.Errorf("no bench reports in %s", dir)
	}
	return s, nil
}

// strictUnmarshal decodes the suite's own files, which this package
// defines, refusing unknown fields: a typo in suite.sh shows at once.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// flush is the case's flush mode: the report's (in-process broker) or the
// broker record's.
func (c *SuiteCase) flush() string {
	if c.Report.Flush != "" {
		return c.Report.Flush
	}
	if c.Broker != nil {
		return c.Broker.Flush
	}
	return ""
}

// ceiling is what the case's ratios divide by: the suite's ceiling, else
// the one the report measured itself (--ceiling).
func (s *Suite) ceiling(c *SuiteCase) *Ceiling {
	if s.Ceiling != nil {
		return s.Ceiling.Ceiling
	}
	return c.Report.Ceiling
}

// SuiteRatios are a case's throughput over the ceiling's: MBOfSeqWrite
// for every case, MsgsPerFdatasync for SYNC_FLUSH cases only (how many
// messages each fdatasync the disk can do carried). NaN: no ceiling, or
// not meaningful.
type SuiteRatios struct {
	MBOfSeqWrite     float64
	MsgsPerFdatasync float64
}

// Ratios computes the case's ratios to the suite's ceiling.
func (s *Suite) Ratios(c *SuiteCase) SuiteRatios {
	none := SuiteRatios{MBOfSeqWrite: math.NaN(), MsgsPerFdatasync: math.NaN()}
	ce := s.ceiling(c)
	if ce == nil {
		return none
	}
	r := none
	if ce.SeqWriteMBPerSec > 0 {
		r.MBOfSeqWrite = c.Report.MBPerSec / ce.SeqWriteMBPerSec
	}
	if c.flush() == "sync" && c.Report.Mode != ModeConsume && ce.FdatasyncPerSec > 0 {
		r.MsgsPerFdatasync = c.Report.MsgsPerSec / ce.FdatasyncPerSec
	}
	return r
}

// WriteMarkdown writes the suite's summary: the cases' table, the
// ceiling, and the notes that qualify them.
func (s *Suite) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Gannet bench: standard suite\n\n")
	var host *Host
	if s.Ceiling != nil {
		host = &s.Ceiling.Host
	} else if len(s.Cases) > 0 {
		host = &s.Cases[0].Report.Host
	}
	if host != nil {
		fmt.Fprintf(&b, "%s, %s/%s, %d CPUs, %s", host.Hostname, host.OS, host.Arch, host.CPUs, host.GoVersion)
	}
	if si := s.Info; si != nil {
		fmt.Fprintf(&b, "; suite started %s, took %.0f s", si.StartedAt.UTC().Format("2006-01-02 15:04 MST"), si.ElapsedS)
		if si.Commit != "" {
			fmt.Fprintf(&b, "; commit %s", si.Commit)
			if si.Dirty {
				b.WriteString(" with uncommitted changes")
			}
		}
	}
	fmt.Fprintf(&b, "; reports in `%s`.\n\n", filepath.ToSlash(s.Dir))

	if len(s.Cases) > 0 {
		s.writeCases(&b)
	}
	if s.Ceiling != nil {
		s.writeCeilings(&b)
	}
	s.writeNotes(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (s *Suite) writeCases(b *strings.Builder) {
	b.WriteString("| case | messages | s | msg/s | MB/s | p50 | p99 | p99.9 | errors | MB/s ÷ seq. write | msg/s ÷ fdatasync/s | broker RSS idle (anon), MiB | broker RSS at load (anon), MiB | start-up, ms |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for i := range s.Cases {
		c := &s.Cases[i]
		r := c.Report
		name := c.Name
		switch {
		case r.Interrupted:
			name += " (interrupted)"
		case r.DeadlineExpired:
			name += " (deadline expired)"
		}
		n := r.Acked
		if r.Mode != ModeProduce {
			n = r.Received
		}
		rat := s.Ratios(c)
		idle, load, startup := "—", "—", "—"
		switch {
		case c.Broker != nil:
			bp := c.Broker
			idle = mibPair(bp.Idle.VmRSSKiB, bp.Idle.RssAnonKiB)
			load = mibPair(bp.Peak.VmRSSKiB, bp.Peak.RssAnonKiB)
			if bp.StartupMs > 0 {
				startup = fmt.Sprintf("%.1f", bp.StartupMs)
			}
		case r.Memory != nil:
			// An in-process broker: the figures include the load generator.
			idle = mibPair(r.Memory.Idle.VmRSSKiB, r.Memory.Idle.RssAnonKiB) + "*"
			load = mibPair(r.Memory.End.VmRSSKiB, r.Memory.End.RssAnonKiB) + "*"
			if r.StartupMs > 0 {
				startup = fmt.Sprintf("%.1f*", r.StartupMs)
			}
		}
		fmt.Fprintf(b, "| %s | %d | %.1f | %.0f | %.1f | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n",
			mdEscape(name), n, r.DurationS, r.MsgsPerSec, r.MBPerSec, latOrDash(r.LatencyUs, r.LatencyUs.P50),
			latOrDash(r.LatencyUs, r.LatencyUs.P99), latOrDash(r.LatencyUs, r.LatencyUs.P999), r.Errors,
			ratioOrDash(rat.MBOfSeqWrite), ratioOrDash(rat.MsgsPerFdatasync), idle, load, startup)
	}
	b.WriteString("\n")
}

func (s *Suite) writeCeilings(b *strings.Builder) {
	fmt.Fprintf(b, "## Ceilings (`%s`", s.CeilingName)
	others := make([]string, 0, len(s.OtherCeilings))
	for name := range s.OtherCeilings {
		others = append(others, name)
	}
	sort.Strings(others)
	if len(others) > 0 {
		fmt.Fprintf(b, "; also %s, for the spread", strings.Join(others, ", "))
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(b, "| ceiling | %s |", s.CeilingName)
	for _, name := range others {
		fmt.Fprintf(b, " %s |", name)
	}
	b.WriteString("\n|---|---|")
	for range others {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	rows := s.Ceiling.ceilingFigures()
	for i, f := range rows {
		fmt.Fprintf(b, "| %s | %s |", mdEscape(f.name), mdEscape(f.value))
		for _, name := range others {
			fmt.Fprintf(b, " %s |", mdEscape(s.OtherCeilings[name].ceilingFigures()[i].value))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (s *Suite) writeNotes(b *strings.Builder) {
	var notes []string
	add := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	kinds := map[Mode]string{}
	var modes []Mode
	for _, c := range s.Cases {
		if _, ok := kinds[c.Report.Mode]; !ok && c.Report.LatencyKind != "" {
			kinds[c.Report.Mode] = c.Report.LatencyKind
			modes = append(modes, c.Report.Mode)
		}
	}
	if len(modes) > 0 {
		parts := make([]string, len(modes))
		for i, m := range modes {
			parts[i] = fmt.Sprintf("%s %s", m, strings.ReplaceAll(kinds[m], "_", " "))
		}
		add("Latency is, by mode: %s.", strings.Join(parts, "; "))
	}
	add("MB is 10^6 bytes of message body. \"MB/s ÷ seq. write\" divides by the ceiling's sequential-write MB/s; " +
		"\"msg/s ÷ fdatasync/s\" (SYNC_FLUSH cases) by its 4 KiB append+fdatasync per second: above 1, each sync carried several messages.")
	for _, c := range s.Cases {
		if c.Report.Mode == ModeConsume {
			add("A consume case's MB/s are read, mostly from the page cache: its ratio to the write ceiling can exceed 1.")
			break
		}
	}
	if s.hasBrokerProcess() {
		add("Broker RSS is the separately started broker's VmRSS (RssAnon in brackets) from /proc/<pid>/status: idle before the case's load, " +
			"and the largest values sampled while it ran. VmRSS includes the mapped store files the load touched; RssAnon is heap and stacks. " +
			"Start-up is exec to the name server port accepting connections.")
	}
	if s.hasInProcess() {
		add("* The broker ran inside the load generator (--standalone): memory is the whole process's, idle and at the end of the load.")
	}
	for _, c := range s.Cases {
		r := c.Report
		if r.Missing > 0 {
			add("%s: %d acknowledged messages were not received.", c.Name, r.Missing)
		}
		if len(r.ErrorsByKind) > 0 {
			keys := make([]string, 0, len(r.ErrorsByKind))
			for k := range r.ErrorsByKind {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s %d", k, r.ErrorsByKind[k])
			}
			add("%s: errors: %s.", c.Name, strings.Join(parts, ", "))
		}
		for _, n := range r.Notes {
			add("%s: %s", c.Name, n)
		}
		if c.Broker != nil && c.Broker.Note != "" {
			add("%s: %s", c.Name, c.Broker.Note)
		}
	}
	if si := s.Info; si != nil {
		for _, f := range si.Failures {
			add("FAILED: %s", f)
		}
		for _, n := range si.Notes {
			add("%s", n)
		}
	}
	if len(s.Skipped) > 0 {
		add("Not read (not a report): %s.", strings.Join(s.Skipped, ", "))
	}
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}

func (s *Suite) hasBrokerProcess() bool {
	for _, c := range s.Cases {
		if c.Broker != nil {
			return true
		}
	}
	return false
}

func (s *Suite) hasInProcess() bool {
	for _, c := range s.Cases {
		if c.Broker == nil && c.Report.Memory != nil {
			return true
		}
	}
	return false
}

// WriteSuiteSummary reads the suite directory dir and writes its
// summary to dir/summary.md and to w (nil: only the file).
func WriteSuiteSummary(dir string, w io.Writer) error {
	s, err := LoadSuite(dir)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := s.WriteMarkdown(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SuiteSummaryFile), buf.Bytes(), 0o644); err != nil {
		return err
	}
	if w != nil {
		_, err = w.Write(buf.Bytes())
	}
	return err
}

func ratioOrDash(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func latOrDash(l Latency, us int64) string {
	if l.Count == 0 {
		return "—"
	}
	return fmtUs(us)
}

// mibPair prints VmRSS and RssAnon, in KiB, as "12.3 (4.5)" MiB.
func mibPair(rss, anon int64) string {
	if rss == 0 && anon == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f (%.1f)", float64(rss)/1024, float64(anon)/1024)
}
