// Package queue is the iactq engine: a job queue in one MySQL/MariaDB table.
//
// Jobs are inserted with plain SQL or with Client.Insert; worker processes run
// Client.Work, which claims batches with SELECT ... FOR UPDATE SKIP LOCKED in SLA-class
// order (OVERDUE, URGENT, NORMAL), runs them through the kinds registered in a
// Registry, and records each outcome guarded by the claim it holds. Only this package
// imports the generated queries in queue/internal/dbsqlc.
package queue
