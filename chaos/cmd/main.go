// Command chaos runs iactq's fault-injection scenarios (package chaos) and prints
// their summary table; it exits 1 if any scenario fails. `make chaos` runs it.
//
//	go run ./chaos/cmd [--short] [--scenario crash,away,contention,badinput,privilege,galera] [--bin bin/iactq]
//
// It starts private MariaDB servers with scripts/db.sh (.iactq/chaos and
// .iactq/chaos-away) and removes them afterwards; "galera" runs scripts/galera.sh
// (.iactq/galera, as root).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/iact/iactq/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	short := flag.Bool("short", false, "the short scenarios (as in make test)")
	only := flag.String("scenario", "crash,away,contention,badinput,privilege,galera", "scenarios to run, comma-separated: crash, away, contention, badinput, privilege, galera")
	bin := flag.String("bin", "bin/iactq", "the iactq binary the worker processes run")
	root := flag.String("root", ".", "the repository root (for scripts/db.sh)")
	keep := flag.String("dir", "", "keep journals, configs and worker logs in this directory (default: a temporary one, removed)")
	quiet := flag.Bool("quiet", false, "no progress lines")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chaos: unexpected arguments %q\n", flag.Args())
		return 2
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		switch s = strings.TrimSpace(s); s {
		case "crash", "away", "contention", "badinput", "privilege", "galera":
			want[s] = true
		default:
			fmt.Fprintf(os.Stderr, "chaos: unknown scenario %q (crash, away, contention, badinput, privilege, galera)\n", s)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	o := chaos.Options{Short: *short}
	var err error
	if o.Bin, err = filepath.Abs(*bin); err == nil {
		o.Root, err = filepath.Abs(*root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if _, err := os.Stat(o.Bin); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v (build it: go build -o bin/iactq ./cmd/iactq)\n", err)
		return 2
	}
	if *keep != "" {
		o.Dir = *keep
	} else {
		dir, err := os.MkdirTemp("", "iactq-chaos")
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	if !*quiet {
		began := time.Now()
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
		}
	}

	var results []*chaos.Result
	failed := false
	record := func(name string, r *chaos.Result, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: scenario %s could not run: %v\n", name, err)
			failed = true
			return
		}
		results = append(results, r)
		failed = failed || !r.Passed()
	}
	if want["crash"] || want["contention"] || want["badinput"] || want["privilege"] {
		srv, err := chaos.StartPrivateServer(ctx, o.Root, "chaos")
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		defer srv.Remove()
		o.Server = srv.Server()
		if want["crash"] {
			r, err := chaos.CrashingWorkers(ctx, o)
			record("crash", r, err)
		}
		if want["contention"] {
			r, err := chaos.Contention(ctx, o)
			record("contention", r, err)
		}
		if want["badinput"] {
			r, err := chaos.BadInput(ctx, o)
			record("badinput", r, err)
		}
		if want["privilege"] {
			r, err := chaos.LeastPrivilege(ctx, o)
			record("privilege", r, err)
		}
	}
	if want["away"] {
		r, err := chaos.DatabaseGoesAway(ctx, o, "chaos-away")
		record("away", r, err)
	}
	if want["galera"] {
		r, err := chaos.Galera(ctx, o)
		record("galera", r, err)
	}
	fmt.Println()
	chaos.WriteTable(os.Stdout, results)
	if failed {
		return 1
	}
	return 0
}
