package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeReport writes r as dir/name the way gannet bench --json does.
func writeReport(t *testing.T, dir, name string, r *Report) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	writeText(t, dir, name, buf.String())
}

func writeText(t *testing.T, dir, name, text string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// suiteCase is a load report as gannet bench -n leaves it: no flush mode,
// no memory, no ceiling.
func suiteCase(mode Mode, size, producers int, started time.Time, msgs, mb float64) *Report {
	cfg := Config{Mode: mode, NameServer: "127.0.0.1:9876", Size: size, Producers: producers, Duration: 10 * time.Second}
	cfg.EnsureDefaults()
	r := newReport(&cfg)
	r.StartedAt = started
	r.DurationS = 10
	r.MsgsPerSec, r.MBPerSec = msgs, mb
	n := int64(msgs * 10)
	if mode == ModeProduce {
		r.Sent, r.Acked, r.LatencyKind = n, n, "send_to_ack"
	} else {
		r.Received, r.LatencyKind = n, "pull_round_trip"
	}
	r.LatencyUs = Latency{Count: n, P50: 1500, P99: 25_000, P999: 1_200_000, Max: 1_300_000}
	r.finish()
	return r
}

func ceilingReport(started time.Time, seqMB, syncs float64) *Report {
	cfg := Config{Mode: ModeCeiling}
	cfg.EnsureDefaults()
	r := newReport(&cfg)
	r.StartedAt = started
	r.Ceiling = &Ceiling{Dir: "/tmp/x", FS: "ext4", SeqWriteMBPerSec: seqMB, SeqWriteCachedMBPerSec: 2 * seqMB,
		FdatasyncPerSec: syncs, FdatasyncP50Us: 400, FdatasyncP99Us: 900, LoopbackRTTPerSec: 40000, LoopbackP50Us: 20}
	r.finish()
	return r
}

// brokerJSON is a broker record in the layout bench/suite.sh prints.
func brokerJSON(name, flush string, startup float64, idleRSS, idleAnon, peakRSS, peakAnon int64, note string) string {
	return `{"kind": "gannet-suite-broker", "case": "` + name + `", "pid": 4242, "flush": "` + flush + `", "startup_ms": ` +
		trimFloat(startup) + `, "broker_port_ms": ` + trimFloat(startup+3) + `,
 "idle": {"rss_anon_kib": ` + itoa(idleAnon) + `, "vm_rss_kib": ` + itoa(idleRSS) + `, "vm_hwm_kib": ` + itoa(idleRSS) + `},
 "peak": {"rss_anon_kib": ` + itoa(peakAnon) + `, "vm_rss_kib": ` + itoa(peakRSS) + `, "vm_hwm_kib": ` + itoa(peakRSS) + `},
 "end": {"rss_anon_kib": ` + itoa(peakAnon) + `, "vm_rss_kib": ` + itoa(peakRSS) + `, "vm_hwm_kib": ` + itoa(peakRSS) + `},
 "samples": 20, "note": "` + note + `"}
`
}

func itoa(n int64) string { return trimFloat(float64(n)) }

// suiteDir fills a directory the way a suite run leaves it, with a few
// files that are not the suite's.
func suiteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	writeReport(t, dir, "ceiling.json", ceilingReport(t0, 400, 2000))
	writeReport(t, dir, "ceiling-end.json", ceilingReport(t0.Add(5*time.Minute), 300, 1500))
	// Written out of order: the table follows the start times.
	writeReport(t, dir, "produce-1024b-sync-p64.json", suiteCase(ModeProduce, 1024, 64, t0.Add(2*time.Minute), 40000, 40))
	writeText(t, dir, "produce-1024b-sync-p64.broker.json", brokerJSON("produce-1024b-sync-p64", "sync", 11.3, 13312, 2560, 180224, 76800, ""))
	writeReport(t, dir, "produce-1024b-async-p1.json", suiteCase(ModeProduce, 1024, 1, t0.Add(time.Minute), 25000, 25.6))
	writeText(t, dir, "produce-1024b-async-p1.broker.json", brokerJSON("produce-1024b-async-p1", "async", 9.5, 13312, 2560, 86016, 9216, ""))
	drain := suiteCase(ModeConsume, 1024, 4, t0.Add(3*time.Minute), 100000, 102.4)
	drain.Notes = []string{"queue q1: offset 5 moved to 7"}
	writeReport(t, dir, "backlog-drain.json", drain)
	writeText(t, dir, "backlog-drain.broker.json", brokerJSON("backlog-drain", "async", 0, 113664, 74240, 114688, 74752, "same broker as the fill"))
	// An in-process broker (--standalone): memory and start-up from the report.
	inproc := suiteCase(ModeProduce, 128, 64, t0.Add(4*time.Minute), 50000, 6.4)
	inproc.Standalone, inproc.Flush = true, "sync"
	inproc.Memory = &Memory{Idle: ProcStatus{RssAnonKiB: 4096, VmRSSKiB: 15360}, End: ProcStatus{RssAnonKiB: 20480, VmRSSKiB: 56320}}
	inproc.StartupMs = 7.5
	inproc.ErrorsByKind = map[string]int64{"send: timeout": 3}
	inproc.Errors = 3
	inproc.finish()
	writeReport(t, dir, "inproc.json", inproc)
	writeText(t, dir, "suite.json", `{"kind": "gannet-suite", "started_at": "2026-11-22T03:59:00Z", "elapsed_s": 301.4, "commit": "abc123", "dirty": true,
 "case_duration_s": 10, "backlog": 1000000, "failures": ["backlog: 1000000 sent, 999999 acknowledged, 999999 drained"]}
`)
	// Not read: the per-case copies in subdirectories, other JSON, other files.
	writeReport(t, dir, "produce-1024b-async-p1/report.json", suiteCase(ModeProduce, 1024, 1, t0, 1, 1))
	writeText(t, dir, "package.json", `{"name": "x"}`)
	writeText(t, dir, "suite.log", "not json")
	return dir
}

// tableRow returns the cells of the summary row of case name.
func tableRow(t *testing.T, md, name string) []string {
	t.Helper()
	for line := range strings.SplitSeq(md, "\n") {
		if strings.HasPrefix(line, "| "+name+" ") {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	t.Fatalf("no row for %s in\n%s", name, md)
	return nil
}

func TestSuiteSummary(t *testing.T) {
	dir := suiteDir(t)
	var stdout bytes.Buffer
	if err := WriteSuiteSummary(dir, &stdout); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, SuiteSummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	if stdout.String() != md {
		t.Error("stdout differs from summary.md")
	}
	t.Log("\n" + md)

	// case, messages, s, msg/s, MB/s, p50, p99, p99.9, errors, ÷ seq write,
	// ÷ fdatasync, RSS idle, RSS at load, start-up
	for name, want := range map[string][]string{
		"produce-1024b-async-p1": {"produce-1024b-async-p1", "250000", "10.0", "25000", "25.6", "1.50ms", "25.00ms", "1.20s", "0",
			"0.064", "—", "13.0 (2.5)", "84.0 (9.0)", "9.5"},
		"produce-1024b-sync-p64": {"produce-1024b-sync-p64", "400000", "10.0", "40000", "40.0", "1.50ms", "25.00ms", "1.20s", "0",
			"0.100", "20.0", "13.0 (2.5)", "176.0 (75.0)", "11.3"},
		// A drain: messages received; no fdatasync ratio; no start-up of its own.
		"backlog-drain": {"backlog-drain", "1000000", "10.0", "100000", "102.4", "1.50ms", "25.00ms", "1.20s", "0",
			"0.256", "—", "111.0 (72.5)", "112.0 (73.0)", "—"},
		"inproc": {"inproc", "500000", "10.0", "50000", "6.4", "1.50ms", "25.00ms", "1.20s", "3",
			"0.016", "25.0", "15.0 (4.0)*", "55.0 (20.0)*", "7.5*"},
	} {
		if got := tableRow(t, md, name); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s:\n got %q\nwant %q", name, got, want)
		}
	}
	// Rows in the order the cases started, not by file name.
	order := []string{"| produce-1024b-async-p1 ", "| produce-1024b-sync-p64 ", "| backlog-drain ", "| inproc "}
	last := -1
	for _, o := range order {
		i := strings.Index(md, o)
		if i < last {
			t.Errorf("%q out of order", o)
		}
		last = i
	}
	for _, want := range []string{
		"took 301 s; commit abc123 with uncommitted changes",
		"## Ceilings (`ceiling.json`; also ceiling-end.json, for the spread)",
		"| sequential write, 1 MiB writes | 400.0 MB/s (800.0 MB/s before fdatasync) | 300.0 MB/s (600.0 MB/s before fdatasync) |",
		"| 4 KiB append + fdatasync | 2000 /s (p50 400µs, p99 900µs) | 1500 /s (p50 400µs, p99 900µs) |",
		"- backlog-drain: queue q1: offset 5 moved to 7",
		"- backlog-drain: same broker as the fill",
		"- inproc: errors: send: timeout 3.",
		"- FAILED: backlog: 1000000 sent, 999999 acknowledged, 999999 drained",
		"- * The broker ran inside the load generator",
		"Not read (not a report): package.json.",
		"produce send to ack; consume pull round trip.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(md, "| produce-1024b-async-p1 | 1 |") {
		t.Error("the per-case copy in a subdirectory was read")
	}
}

// Without ceiling.json the earliest ceiling report is the one divided by;
// without any ceiling the ratio columns are dashes.
func TestSuiteCeilingChoice(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	writeReport(t, dir, "b-ceiling.json", ceilingReport(t0.Add(time.Hour), 100, 1000))
	writeReport(t, dir, "a-ceiling.json", ceilingReport(t0.Add(2*time.Hour), 1000, 10))
	writeReport(t, dir, "run.json", suiteCase(ModeProduce, 1024, 1, t0, 1000, 50))
	s, err := LoadSuite(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.CeilingName != "b-ceiling.json" {
		t.Errorf("ceiling from %s, want the earliest, b-ceiling.json", s.CeilingName)
	}
	if r := s.Ratios(&s.Cases[0]); r.MBOfSeqWrite != 0.5 || r.MsgsPerFdatasync == r.MsgsPerFdatasync {
		t.Errorf("ratios %+v, want 0.5 and NaN (no flush mode known)", r)
	}

	dir = t.TempDir()
	writeReport(t, dir, "run.json", suiteCase(ModeProduce, 1024, 1, t0, 1000, 50))
	var buf bytes.Buffer
	if err := WriteSuiteSummary(dir, &buf); err != nil {
		t.Fatal(err)
	}
	row := tableRow(t, buf.String(), "run")
	if row[9] != "—" || row[10] != "—" || row[11] != "—" || row[13] != "—" {
		t.Errorf("row without ceiling or memory: %q", row)
	}
	if strings.Contains(buf.String(), "## Ceilings") {
		t.Error("a ceiling section without a ceiling")
	}
}

func TestSuiteSummaryErrors(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	for name, files := range map[string]map[string]string{
		"empty":           {},
		"no reports":      {"package.json": `{"name": "x"}`},
		"bad json":        {"run.json": `{"mode": "produce",`},
		"orphan broker":   {"x.broker.json": brokerJSON("x", "sync", 1, 1, 1, 1, 1, "")},
		"typo in broker":  {"x.broker.json": `{"kind": "gannet-suite-broker", "case": "x", "startup": 3}`},
		"two brokers":     {"a.broker.json": brokerJSON("x", "sync", 1, 1, 1, 1, 1, ""), "b.broker.json": brokerJSON("x", "sync", 1, 1, 1, 1, 1, "")},
		"bare ceiling":    {"ceiling.json": `{"version": 1, "mode": "ceiling"}`},
		"typo in suite":   {"suite.json": `{"kind": "gannet-suite", "elapsed": 3}`},
		"trailing object": {"suite.json": `{"kind": "gannet-suite"} {}`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if name == "two brokers" || name == "typo in suite" || name == "trailing object" {
				writeReport(t, dir, "x.json", suiteCase(ModeProduce, 1024, 1, t0, 1, 1))
			}
			for f, text := range files {
				writeText(t, dir, f, text)
			}
			if err := WriteSuiteSummary(dir, nil); err == nil {
				t.Fatal("no error")
			} else {
				t.Log(err)
			}
			if _, err := os.Stat(filepath.Join(dir, SuiteSummaryFile)); err == nil {
				t.Error("summary.md written despite the error")
			}
		})
	}
}
