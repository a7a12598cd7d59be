// Package ledger is the vending service's record of every vend, token and
// delivery attempt, kept in an embedded SQLite database in WAL mode
// (modernc.org/sqlite, pure Go). A token is written here before it is
// published anywhere, so a vend that a customer was told about survives a
// crash and is delivered again on restart.
//
// # Writes
//
// One goroutine owned by the [Ledger] writes. Callers hand it [Op] values
// with [Ledger.Submit], which waits until they are committed, or with
// [Ledger.Enqueue], which does not. The writer collects every request that
// is waiting (up to [Options.MaxBatch], for at most [Options.Window]) and
// commits them in one transaction: group commit, so that a thousand
// concurrent vends cost a handful of fsyncs rather than a thousand. A
// request that fails rolls back alone and the rest of its batch still
// commits: the writer runs a batch bare first and, only when a request in
// it failed, again with each request inside its own savepoint.
//
// Requests are applied in the order they reach the writer. Ops from one
// goroutine therefore apply in program order; ops from different
// goroutines are written so that their order does not matter (state
// transitions only move forward, attempt counts only grow).
//
// # Reads
//
// Reads go through a separate pool of read-only connections and see every
// commit that completed before they started. All methods are safe for
// concurrent use. [Ledger.Close] stops intake, commits what is queued and
// closes the database; it is idempotent.
//
// # Schema
//
// The schema is created and migrated in code on [Open], tracked with
// SQLite's user_version; see schema.go.
package ledger
