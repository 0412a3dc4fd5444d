package chaos

import (
	"context"
	"path/filepath"
	"testing"
)

// TestGaleraShort runs scenario 6 in short form: a fresh 3-node MariaDB Galera cluster
// behind HAProxy (scripts/galera.sh, which installs mariadb-server, galera-4, haproxy
// and rsync with apt when they are missing and this runs as root), 3 worker processes
// with SIGKILLs, and the writing node SIGKILLed mid-run. It needs no test database of
// its own. It fails — it does not skip — when the machine cannot run the cluster
// (no galera-4 package, not root): the high-availability claim is then unproven.
// Not parallel: the cluster's failover timing wants the CPU to itself.
func TestGaleraShort(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Short: true, Bin: iactqBinary(t), Root: root, Dir: t.TempDir(), Logf: t.Logf}
	r, err := Galera(context.Background(), o)
	if err != nil {
		t.Fatalf("the Galera scenario could not run (this machine must be able to run a 3-node MariaDB Galera cluster: root, apt and Debian's galera-4, mariadb-server, haproxy, rsync): %v", err)
	}
	requirePassed(t, o.Dir, r, nil)
	if r.Faults < 2 {
		t.Errorf("only %d faults injected (want worker SIGKILLs and the writer's)", r.Faults)
	}
}
