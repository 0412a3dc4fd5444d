// Package chaos is iactq's fault-injection suite: scenarios that break things while
// worker processes run (SIGKILL and SIGSTOP of workers, the database stopped and
// restarted, connections cut and stalled by a TCP proxy, lock contention, bad input
// through the CLI, the Go API and plain SQL, probes of the worker user's privileges,
// of secrets, of the dashboard and of deploy and report jobs) and then
// check facts, not hopes: every worker process journals each execution
// (IACTQ_EXEC_LOG), and the checks compare that journal with the database.
//
// `make chaos` runs the full scenarios (chaos/cmd); `make test` runs their short
// versions (chaos_test.go).
package chaos
