package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migrations[i] brings the schema from
// user_version i to i+1. Released migrations are never edited, only
// appended to.
//
// Times are INTEGER nanoseconds since the Unix epoch; NULL means unset.
// Units are tenths of the meter's unit (the STS base unit of 0.1 kWh or
// 0.1 m³); money is in minor currency units (cents).
var migrations = []string{
	// 1: meters, tariffs, vends and their tokens.
	`
CREATE TABLE meters (
	drn         TEXT PRIMARY KEY,
	identity    TEXT NOT NULL,
	last_tid    INTEGER NOT NULL DEFAULT -1,
	month       TEXT NOT NULL DEFAULT '',
	month_units INTEGER NOT NULL DEFAULT 0,
	last_vend   TEXT NOT NULL DEFAULT '',
	updated_at  INTEGER NOT NULL
);
CREATE TABLE tariffs (
	name       TEXT PRIMARY KEY,
	definition TEXT NOT NULL
);
CREATE TABLE vends (
	id              TEXT PRIMARY KEY,
	meter           TEXT NOT NULL,
	kind            TEXT NOT NULL,
	idempotency_key TEXT UNIQUE,
	request_hash    TEXT NOT NULL DEFAULT '',
	units           INTEGER NOT NULL DEFAULT 0,
	unit            TEXT NOT NULL DEFAULT '',
	amount          INTEGER NOT NULL DEFAULT 0,
	token_amount    INTEGER NOT NULL DEFAULT 0,
	other_charges   INTEGER NOT NULL DEFAULT 0,
	currency        TEXT NOT NULL DEFAULT '',
	tariff          TEXT NOT NULL DEFAULT '',
	received_at     INTEGER NOT NULL,
	sim_at          INTEGER NOT NULL,
	detail          TEXT NOT NULL DEFAULT '',
	response        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX vends_by_meter ON vends (meter, received_at);
CREATE TABLE tokens (
	vend_id         TEXT NOT NULL REFERENCES vends (id),
	seq             INTEGER NOT NULL,
	token           TEXT NOT NULL,
	class           INTEGER NOT NULL,
	subclass        INTEGER NOT NULL,
	tid             INTEGER,
	units           INTEGER NOT NULL DEFAULT 0,
	state           TEXT NOT NULL,
	outcome         TEXT NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	issued_at       INTEGER NOT NULL,
	last_sent_at    INTEGER,
	next_attempt_at INTEGER,
	result_at       INTEGER,
	PRIMARY KEY (vend_id, seq)
) WITHOUT ROWID;
CREATE INDEX tokens_open ON tokens (state) WHERE state IN ('issued', 'lost');
`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the database to [SchemaVersion]. A database written by a
// newer version of this package is refused rather than guessed at.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: read user_version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than %d: %w",
			v, len(migrations), ErrSchema)
	}
	for ; v < len(migrations); v++ {
		if err := apply(ctx, db, v); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v is a small integer we own.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return fmt.Errorf("migrate to %d: set user_version: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to %d: commit: %w", v+1, err)
	}
	return nil
}
