package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--proto", "mqtt", "--qos", "3"},
		{"--flush", "sync", "-n", "127.0.0.1:9876"},
		{"--mode", "soak", "--standalone"},
		{"--size", "-1", "--standalone"},
		{"--standalone", "extra"},
		{"--no-such-flag"},
		{"compare", "one.json"},
		{"suite-report"},
	} {
		if rc := runBench(args); rc != 2 {
			t.Errorf("gannet bench %s exited %d, want 2", strings.Join(args, " "), rc)
		}
	}
}

// TestBenchStandalone runs a short e2e against an in-process broker,
// writes every report, and compares the JSON with itself.
func TestBenchStandalone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	js := filepath.Join(dir, "run.json")
	rc := runBench([]string{"--standalone", "--mode", "e2e", "--messages", "500", "--size", "128", "--producers", "2",
		"--consumers", "2", "--queues", "2", "--dir", dir, "--set", "mappedFileSizeCommitLog=16777216",
		"--set", "mappedFileSizeConsumeQueue=60000", "--set", "maxHashSlotNum=4096", "--set", "maxIndexNum=16384",
		"--json", js, "--out", out, "--quiet", "--timeout", "60s"})
	if rc != 0 {
		t.Fatalf("gannet bench exited %d", rc)
	}
	for _, p := range []string{js, filepath.Join(out, "report.json"), filepath.Join(out, "report.md"), filepath.Join(out, "report.html")} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if rc := runBench([]string{"compare", js, filepath.Join(out, "report.json")}); rc != 0 {
		t.Fatalf("compare exited %d", rc)
	}
	if rc := runBench([]string{"compare", js, filepath.Join(dir, "missing.json")}); rc != 1 {
		t.Fatalf("compare with a missing file exited %d, want 1", rc)
	}
}
