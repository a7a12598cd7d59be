package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Op is one write. Ops are built with the functions of this file and
// applied by the writer inside a transaction.
type Op interface {
	apply(t *txn) error
}

// txn is the writer's view of the running transaction.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
	st  *statements
	// bound holds the statements bound to tx so far: binding one costs
	// an allocation and a place in tx's list, once per transaction is
	// enough.
	bound map[*sql.Stmt]*sql.Stmt
}

// apply applies ops in order and stops at the first error.
func (t *txn) apply(ops []Op) error {
	for _, op := range ops {
		if err := op.apply(t); err != nil {
			return err
		}
	}
	return nil
}

// savepoint applies ops inside a savepoint and rolls them back together on
// error.
func (t *txn) savepoint(ops []Op) error {
	if _, err := t.tx.ExecContext(t.ctx, "SAVEPOINT req"); err != nil {
		return fmt.Errorf("ledger write: savepoint: %w", err)
	}
	if err := t.apply(ops); err != nil {
		if _, rerr := t.tx.ExecContext(t.ctx, "ROLLBACK TO req"); rerr != nil {
			return errors.Join(err, fmt.Errorf("ledger write: rollback: %w", rerr))
		}
		t.tx.ExecContext(t.ctx, "RELEASE req")
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, "RELEASE req"); err != nil {
		return fmt.Errorf("ledger write: release: %w", err)
	}
	return nil
}

func (t *txn) exec(s *sql.Stmt, args ...any) (sql.Result, error) {
	b := t.bound[s]
	if b == nil {
		if t.bound == nil {
			t.bound = make(map[*sql.Stmt]*sql.Stmt)
		}
		b = t.tx.StmtContext(t.ctx, s)
		t.bound[s] = b
	}
	return b.ExecContext(t.ctx, args...)
}

// statements are the writer's prepared statements.
type statements struct {
	insertVend, insertToken, vendMeter *sql.Stmt
	attempt, result, lost              *sql.Stmt
	addMeter, putIdentity, putTariff   *sql.Stmt
}

func (s *statements) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.insertVend, `INSERT INTO vends (id, meter, kind, idempotency_key, request_hash,
			units, unit, amount, token_amount, other_charges, currency, tariff,
			received_at, sim_at, detail, response)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.insertToken, `INSERT INTO tokens (vend_id, seq, token, class, subclass, tid,
			units, state, outcome, attempts, issued_at, last_sent_at, next_attempt_at,
			result_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, NULL)`},
		{&s.vendMeter, `UPDATE meters SET last_tid = max(last_tid, ?), month = ?,
			month_units = ?, last_vend = ?, updated_at = ? WHERE drn = ?`},
		{&s.attempt, `UPDATE tokens SET attempts = max(attempts, ?),
			last_sent_at = max(coalesce(last_sent_at, 0), ?), next_attempt_at = ?
			WHERE vend_id = ? AND seq = ?`},
		{&s.result, `UPDATE tokens SET state = ?, outcome = ?, result_at = ?
			WHERE vend_id = ? AND seq = ? AND state IN ('issued', 'lost')`},
		{&s.lost, `UPDATE tokens SET state = 'lost', result_at = ?
			WHERE vend_id = ? AND seq = ? AND state = 'issued'`},
		{&s.addMeter, `INSERT INTO meters (drn, identity, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (drn) DO NOTHING`},
		{&s.putIdentity, `INSERT INTO meters (drn, identity, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (drn) DO UPDATE SET identity = excluded.identity,
			updated_at = excluded.updated_at,
			last_tid = CASE WHEN ? THEN -1 ELSE last_tid END`},
		{&s.putTariff, `INSERT INTO tariffs (name, definition) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET definition = excluded.definition`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			s.close()
			return fmt.Errorf("prepare: %w", err)
		}
		*p.dst = st
	}
	return nil
}

func (s *statements) close() {
	for _, st := range []*sql.Stmt{s.insertVend, s.insertToken, s.vendMeter, s.attempt,
		s.result, s.lost, s.addMeter, s.putIdentity, s.putTariff} {
		if st != nil {
			st.Close()
		}
	}
}

// opFunc adapts a function to [Op].
type opFunc func(t *txn) error

func (f opFunc) apply(t *txn) error { return f(t) }

// InsertVend writes a new vend with its tokens and the meter state the vend
// leaves behind. The meter must exist. A vend ID or idempotency key that
// is already present fails with [ErrDuplicate].
func InsertVend(v *Vend, m MeterState) Op {
	return opFunc(func(t *txn) error {
		var key any
		if v.IdempotencyKey != "" {
			key = v.IdempotencyKey
		}
		_, err := t.exec(t.st.insertVend, v.ID, v.Meter, v.Kind, key, v.RequestHash,
			int64(v.Units), v.Unit, v.Amount, v.TokenAmount, v.OtherCharges, v.Currency,
			v.Tariff, nanos(v.ReceivedAt), nanos(v.SimAt), string(v.Detail),
			string(v.Response))
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("insert vend %s: %w", v.ID, ErrDuplicate)
			}
			return fmt.Errorf("insert vend %s: %w", v.ID, err)
		}
		for i := range v.Tokens {
			if err := insertToken(t, v.ID, &v.Tokens[i]); err != nil {
				return err
			}
		}
		res, err := t.exec(t.st.vendMeter, m.LastTID, m.Month, int64(m.MonthUnits),
			m.LastVend, nanos(v.ReceivedAt), m.DRN)
		if err != nil {
			return fmt.Errorf("insert vend %s: meter state: %w", v.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("insert vend %s: meter %s: %w", v.ID, m.DRN, ErrNotFound)
		}
		return nil
	})
}

func insertToken(t *txn, vendID string, tk *Token) error {
	var tid any
	if tk.HasTID {
		tid = int64(tk.TID)
	}
	_, err := t.exec(t.st.insertToken, vendID, tk.Seq, tk.Token, int(tk.Class),
		int(tk.SubClass), tid, int64(tk.Units), string(tk.State), tk.Attempts,
		nanos(tk.IssuedAt), nullNanos(tk.LastSentAt), nullNanos(tk.NextAttemptAt))
	if err != nil {
		return fmt.Errorf("insert token %s/%d: %w", vendID, tk.Seq, err)
	}
	return nil
}

// RecordAttempt notes a publication of a token: its attempt number, when
// it was sent and when it is due again. Attempt counts only grow, so
// attempts recorded out of order keep the highest.
func RecordAttempt(vendID string, seq, attempts int, sentAt, nextAt time.Time) Op {
	return opFunc(func(t *txn) error {
		_, err := t.exec(t.st.attempt, attempts, nanos(sentAt), nullNanos(nextAt), vendID, seq)
		if err != nil {
			return fmt.Errorf("record attempt %s/%d: %w", vendID, seq, err)
		}
		return nil
	})
}

// RecordResult settles a token with its first result: state is
// [Accepted], [Delivered] or [Rejected]. It changes only a token that is
// still [Issued] or [Lost], so a later copy's result never overwrites the
// first.
func RecordResult(vendID string, seq int, state State, outcome string, at time.Time) Op {
	return opFunc(func(t *txn) error {
		if !state.Final() {
			return fmt.Errorf("record result %s/%d: state %q is not a result", vendID, seq, state)
		}
		_, err := t.exec(t.st.result, string(state), outcome, nanos(at), vendID, seq)
		if err != nil {
			return fmt.Errorf("record result %s/%d: %w", vendID, seq, err)
		}
		return nil
	})
}

// MarkLost records that the vendor gave up on an [Issued] token.
func MarkLost(vendID string, seq int, at time.Time) Op {
	return opFunc(func(t *txn) error {
		if _, err := t.exec(t.st.lost, nanos(at), vendID, seq); err != nil {
			return fmt.Errorf("mark lost %s/%d: %w", vendID, seq, err)
		}
		return nil
	})
}

// AddMeter registers a meter with its identity unless the DRN is already
// known, in which case the ledger's identity is kept.
func AddMeter(drn string, identity []byte, at time.Time) Op {
	return opFunc(func(t *txn) error {
		if _, err := t.exec(t.st.addMeter, drn, string(identity), nanos(at)); err != nil {
			return fmt.Errorf("add meter %s: %w", drn, err)
		}
		return nil
	})
}

// PutMeterIdentity sets a meter's identity, as after a key change. With
// resetTID the meter's last TID is forgotten: it moved to a new base date.
func PutMeterIdentity(drn string, identity []byte, resetTID bool, at time.Time) Op {
	return opFunc(func(t *txn) error {
		_, err := t.exec(t.st.putIdentity, drn, string(identity), nanos(at), resetTID)
		if err != nil {
			return fmt.Errorf("put meter %s: %w", drn, err)
		}
		return nil
	})
}

// PutTariff stores a tariff definition under its name.
func PutTariff(name string, definition []byte) Op {
	return opFunc(func(t *txn) error {
		if _, err := t.exec(t.st.putTariff, name, string(definition)); err != nil {
			return fmt.Errorf("put tariff %s: %w", name, err)
		}
		return nil
	})
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}

// isConstraint reports a uniqueness or key violation: SQLite's primary
// result code SQLITE_CONSTRAINT, whatever the extended code.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xFF == sqlite3.SQLITE_CONSTRAINT
}
