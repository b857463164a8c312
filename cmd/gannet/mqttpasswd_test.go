package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gannetmq/gannet/protocols/mqtt"
)

func TestMQTTPasswd(t *testing.T) {
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "stdin")
		if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var out, errb bytes.Buffer
		code := runMQTTPasswd(args, in, &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, stderr := run("pa ss\r\nignored\n", "alice")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	authFile := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(authFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := mqtt.LoadAuth(authFile)
	if err != nil {
		t.Fatalf("the printed line %q does not load: %v", out, err)
	}
	if !a.CheckPassword("alice", []byte("pa ss")) {
		t.Errorf("the printed line %q does not hold the first stdin line as password", out)
	}

	if code, _, _ := run("pw\n"); code != 2 {
		t.Errorf("no NAME: exit %d, want 2", code)
	}
	if code, _, stderr := run("pw\n", "a/b"); code != 1 || !strings.Contains(stderr, "a/b") {
		t.Errorf("bad NAME: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := run("", "alice"); code != 1 {
		t.Errorf("empty stdin: exit %d, want 1", code)
	}
}
