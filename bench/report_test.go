package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sampleReport is a filled e2e report with a ceiling, as a run leaves it.
func sampleReport() *Report {
	cfg := Config{Mode: ModeE2E, Standalone: true, Flush: "async", Messages: 3000, Rate: 1000}
	cfg.EnsureDefaults()
	r := newReport(&cfg)
	h := newHist()
	for i := range 3000 {
		h.RecordValue(int64(100 + i%700))
	}
	h.RecordValue(25_000)
	r.DurationS, r.Sent, r.Acked, r.Received = 3.01, 3000, 3000, 3000
	r.MsgsPerSec, r.MBPerSec = 996.68, 1.02
	r.LatencyKind = "born_to_receipt_from_schedule"
	r.LatencyUs = summarize(h)
	r.SendLatencyUs = &Latency{Count: 3000, P50: 90, Max: 900}
	r.LatencyCurve = curve(h)
	r.ErrorsByKind = map[string]int64{"send: timeout|x": 1}
	r.Memory = &Memory{Idle: ProcStatus{4000, 15000, 15000}, End: ProcStatus{20000, 50000, 52000}, Note: "n"}
	r.StartupMs, r.RegisteredMs = 10.5, 12.25
	r.Notes = []string{"a <note> & more"}
	for i := range 3 {
		r.Series = append(r.Series, SeriesPoint{T: float64(i + 1), Sent: 1000, Acked: 1000, Received: 1000,
			MsgsPerSec: 1000, MBPerSec: 1.02, P50Us: 300, P99Us: 700 + int64(i)*100, MaxUs: 25_000})
	}
	r.Ceiling = &Ceiling{Dir: "/tmp", FS: "ext4", SeqWriteMBPerSec: 400, SeqWriteCachedMBPerSec: 600,
		FdatasyncPerSec: 2500, LoopbackRTTPerSec: 50000, LoopbackP50Us: 16}
	r.finish()
	return r
}

func TestReportRatios(t *testing.T) {
	r := sampleReport()
	want := Ratios{MsgsPerLoopbackRTT: 0.0199, MBOfSeqWrite: 0.0026, MsgsPerFdatasync: 0.3987}
	if r.Ratios == nil || *r.Ratios != want {
		t.Fatalf("ratios %+v, want %+v", r.Ratios, want)
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", buf.String())
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.LatencyUs != r.LatencyUs || len(back.Series) != 3 || back.Ceiling.FdatasyncPerSec != 2500 ||
		back.Memory.End.VmHWMKiB != 52000 || !back.StartedAt.Equal(r.StartedAt) {
		t.Fatalf("round trip lost figures:\n%s", buf.String())
	}
	checkJSONFields(t, r)
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# Gannet bench: e2e over rocketmq", "| figure | value |\n|---|---|\n", "| sent / acked / errors | 3000 / 3000 / 0 |",
		"## Latency, µs (born_to_receipt_from_schedule)", "## Ceiling of this machine", "## Per second",
		`send: timeout\|x 1`, // a | inside a cell is escaped
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := len(regexp.MustCompile(`[^\\]\|`).FindAllString(line, -1))
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row with %d cells under a header of %d: %s", n, cols, line)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.HasSuffix(page, "</html>\n") {
		t.Fatalf("not a whole page:\n%s", page)
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(svgs) != 3 {
		t.Fatalf("%d charts, want throughput, p99 and percentiles", len(svgs))
	}
	for _, svg := range svgs {
		if !strings.Contains(svg, "<polyline") {
			t.Errorf("chart without a line: %s", svg)
		}
		// Each chart is well-formed XML.
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("chart is not well-formed: %v\n%s", err, svg)
			}
		}
	}
	// Self-contained: nothing to fetch.
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if strings.Contains(page, "<note>") || !strings.Contains(page, "a &lt;note&gt; &amp; more") {
		t.Error("notes are not escaped")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := sampleReport().WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCeilingReport writes a ceiling-only report: no load figures, no
// ratios, no charts but its table.
func TestCeilingReport(t *testing.T) {
	r := &Report{Mode: ModeCeiling, Proto: ProtoRocketMQ, Host: hostInfo(), StartedAt: time.Now(),
		Ceiling: &Ceiling{Dir: "/d", FS: "xfs", SeqWriteMBPerSec: 1}}
	r.finish()
	if r.Ratios != nil {
		t.Fatal("ratios for a ceiling run")
	}
	var md, page bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "/d (xfs)") || !strings.Contains(page.String(), "/d (xfs)") {
		t.Fatalf("ceiling table missing:\n%s", md.String())
	}
}

func TestCompare(t *testing.T) {
	a := []byte(`{"mode":"e2e","sent":1000,"msgs_per_sec":500,"latency_us":{"p99":200,"max":0},"interrupted":false,
		"errors":0,"series":[{"t":1,"sent":5}],"only_a":3}`)
	b := []byte(`{"mode":"e2e","sent":1000,"msgs_per_sec":750,"latency_us":{"p99":100,"max":40},"interrupted":false,
		"errors":0,"series":[],"only_b":1}`)
	figs, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Figure{}
	var names []string
	for _, f := range figs {
		got[f.Name] = f
		names = append(names, f.Name)
	}
	wantNames := "sent msgs_per_sec latency_us.p99 latency_us.max interrupted errors only_a only_b"
	if strings.Join(names, " ") != wantNames {
		t.Fatalf("figures %v, want %s", names, wantNames)
	}
	check := func(name string, ratio float64) {
		t.Helper()
		f := got[name]
		if math.IsNaN(ratio) != math.IsNaN(f.Ratio) || !math.IsNaN(ratio) && math.Abs(f.Ratio-ratio) > 1e-9 {
			t.Errorf("%s: ratio %v, want %v (%+v)", name, f.Ratio, ratio, f)
		}
	}
	check("sent", 1)
	check("msgs_per_sec", 1.5)
	check("latency_us.p99", 0.5)
	check("latency_us.max", math.NaN()) // 40/0
	check("errors", 1)                  // 0/0: unchanged
	check("only_a", math.NaN())
	check("only_b", math.NaN())

	var out bytes.Buffer
	if err := WriteComparison(&out, figs, "a.json", "b.json"); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^msgs_per_sec\s+500\s+750\s+1\.500$`).MatchString(out.String()) {
		t.Fatalf("comparison table:\n%s", out.String())
	}
	if _, err := Compare([]byte(`{"a":`), b); err == nil {
		t.Fatal("a truncated report compared")
	}
}

// TestCompareReports compares two real report encodings: every numeric
// field of the report is a figure.
func TestCompareReports(t *testing.T) {
	var a, b bytes.Buffer
	ra, rb := sampleReport(), sampleReport()
	rb.MsgsPerSec *= 2
	ra.WriteJSON(&a)
	rb.WriteJSON(&b)
	figs, err := Compare(a.Bytes(), b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, f := range figs {
		seen[f.Name] = f.Ratio
	}
	for _, name := range []string{"msgs_per_sec", "latency_us.p999", "ceiling.fdatasync_per_sec", "ratios.msgs_per_fdatasync",
		"memory.end.vm_rss_kib", "startup_ms", "host.cpus"} {
		if _, ok := seen[name]; !ok {
			t.Errorf("no figure %s", name)
		}
	}
	if seen["msgs_per_sec"] != 2 || seen["sent"] != 1 {
		t.Fatalf("msgs_per_sec ratio %v, sent %v", seen["msgs_per_sec"], seen["sent"])
	}
	if _, ok := seen["series.t"]; ok {
		t.Fatal("the series is not a figure")
	}
}
