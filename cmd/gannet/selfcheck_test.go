package main

import "testing"

func TestSelfCheck(t *testing.T) {
	dir := t.TempDir()
	for _, flush := range []string{"sync", "async"} {
		if rc := runSelfCheck([]string{"--data", dir, "--flush", flush, "--messages", "2000", "--writers", "8"}); rc != 0 {
			t.Fatalf("selfcheck --flush %s exited %d", flush, rc)
		}
	}
	if rc := runSelfCheck([]string{"--data", dir, "--flush", "sometimes"}); rc != 2 {
		t.Fatalf("bad flag value exited %d, want 2", rc)
	}
}
