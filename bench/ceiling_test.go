package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMeasureCeiling runs the three measurements (about a second each)
// and checks they produced figures and left no file behind.
func TestMeasureCeiling(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := MeasureCeiling(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v", took)
	}
	if c.SeqWriteMBPerSec <= 0 || c.SeqWriteBytes < seqChunk || c.FdatasyncPerSec <= 0 || c.LoopbackRTTPerSec <= 0 ||
		c.LoopbackP50Us > c.LoopbackP99Us || c.FS == "" {
		t.Fatalf("ceiling %+v", c)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), ceilingFilePrefix) {
			t.Errorf("left %s behind", e.Name())
		}
	}
	t.Logf("%+v", *c)
}

// TestMeasureCeilingCancelled: a cancelled context cuts every step short.
func TestMeasureCeilingCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := MeasureCeiling(ctx, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a cancelled measurement took %v", took)
	}
}
