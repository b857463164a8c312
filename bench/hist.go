package bench

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, 1 µs to histMaxUs with three
// significant digits; a larger value is recorded as histMaxUs.
const (
	histMinUs  = 1
	histMaxUs  = 1_000_000_000 // about 17 minutes
	histDigits = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUs, histMaxUs, histDigits) }

// recorder is one worker's latency histogram since the monitor last
// drained it. A worker records (under mu, which no one else holds for
// longer than a swap); the monitor swaps the histogram out once a second
// and merges it outside the lock.
type recorder struct {
	mu     sync.Mutex
	active *hdrhistogram.Histogram // guarded by mu
	spare  *hdrhistogram.Histogram // owned by the monitor
}

func newRecorder() *recorder { return &recorder{active: newHist(), spare: newHist()} }

func (r *recorder) record(d time.Duration) {
	us := d.Microseconds()
	if us > histMaxUs {
		us = histMaxUs
	} else if us < 0 {
		us = 0
	}
	r.mu.Lock()
	r.active.RecordValue(us) // in range by construction
	r.mu.Unlock()
}

// drainInto merges what was recorded since the last drain into every
// histogram of dst and clears it. Only the monitor calls it.
func (r *recorder) drainInto(dst ...*hdrhistogram.Histogram) {
	r.mu.Lock()
	h := r.active
	r.active = r.spare
	r.mu.Unlock()
	for _, d := range dst {
		d.Merge(h)
	}
	h.Reset()
	r.spare = h
}

// Latency is a latency summary in microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	P50    int64   `json:"p50"`
	P90    int64   `json:"p90"`
	P99    int64   `json:"p99"`
	P999   int64   `json:"p999"`
	P9999  int64   `json:"p9999"`
	Max    int64   `json:"max"`
	Stddev float64 `json:"stddev"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.TotalCount(),
		Mean:   round2(h.Mean()),
		P50:    h.ValueAtQuantile(50),
		P90:    h.ValueAtQuantile(90),
		P99:    h.ValueAtQuantile(99),
		P999:   h.ValueAtQuantile(99.9),
		P9999:  h.ValueAtQuantile(99.99),
		Max:    h.Max(),
		Stddev: round2(h.StdDev()),
	}
}

// CurvePoint is one point of the latency percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"p"`
	Us         int64   `json:"us"`
}

// curve samples h at percentiles evenly spaced in "nines" (0, 20.6, 36.9,
// 50, ..., 90, ..., 99, ..., 99.999), ten per nine, then 100 (the max): the
// x axis of an HdrHistogram percentile plot.
func curve(h *hdrhistogram.Histogram) []CurvePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	var pts []CurvePoint
	for i := 0; i <= 50; i++ {
		p := 100 * (1 - math.Pow(10, -float64(i)/10))
		p = math.Round(p*1e4) / 1e4
		pts = append(pts, CurvePoint{p, h.ValueAtQuantile(p)})
	}
	return append(pts, CurvePoint{100, h.Max()})
}

func round2(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*100) / 100
}
