package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
)

var updateDeploy = flag.Bool("update-deploy", false, "rewrite docs/deploy/*/*.properties from brokerProperties")

// deployRoot is the store root the example files use.
const deployRoot = "/var/lib/gannet"

// TestDeployExamples checks that docs/deploy/<mode>/<broker>.properties
// exist for every broker of every mode, are what gannet cluster writes for
// the default ports (go test -run TestDeployExamples -update-deploy
// rewrites them), and load with no error and no warning.
func TestDeployExamples(t *testing.T) {
	docs := filepath.Join("..", "..", "docs", "deploy")
	want := map[string]bool{}
	for _, mode := range clusterModes {
		specs, err := clusterLayout(mode)
		if err != nil {
			t.Fatal(err)
		}
		p := clusterParams{Mode: mode, BasePort: 9876, Host: "127.0.0.1", Root: deployRoot, Flush: config.AsyncFlush}
		for _, b := range specs {
			path := filepath.Join(docs, mode, b.Name+".properties")
			want[path] = true
			text := brokerProperties(p, b)
			if *updateDeploy {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != text {
				t.Errorf("%s differs from what gannet cluster writes; go test ./cmd/gannet -run TestDeployExamples -update-deploy", path)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(docs, "*", "*.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if !want[path] {
			t.Errorf("%s is no broker of any mode", path)
		}
		b, warnings, err := config.Load(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, w := range warnings {
			t.Errorf("%s: %s", path, w)
		}
		if b.ListenPort == 10911 && b.BrokerName != "broker-a" || b.BrokerID == 0 && !b.BrokerRole.IsMaster() {
			t.Errorf("%s: %s id %d %s on %d", path, b.BrokerName, b.BrokerID, b.BrokerRole, b.ListenPort)
		}
	}
	if len(files) != len(want) {
		t.Errorf("%d example files, want %d", len(files), len(want))
	}
}
