package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine is a library at the bottom of the dependency graph: nothing
// under engine/ may import a Gannet package outside engine/.
func TestForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/gannetmq/gannet/engine/...").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/gannetmq/gannet/") && !strings.HasPrefix(dep, "github.com/gannetmq/gannet/engine") {
			t.Errorf("engine depends on %s", dep)
		}
	}
}
