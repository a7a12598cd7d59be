package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const vendColumns = `id, meter, kind, coalesce(idempotency_key, ''), request_hash, units, unit,
	amount, token_amount, other_charges, currency, tariff, received_at, sim_at, detail, response`

const tokenColumns = `vend_id, seq, token, class, subclass, tid, units, state, outcome,
	attempts, issued_at, last_sent_at, next_attempt_at, result_at`

type scanner interface{ Scan(dest ...any) error }

func scanVend(s scanner) (*Vend, error) {
	var (
		v                Vend
		units            int64
		received, sim    int64
		detail, response string
	)
	err := s.Scan(&v.ID, &v.Meter, &v.Kind, &v.IdempotencyKey, &v.RequestHash, &units, &v.Unit,
		&v.Amount, &v.TokenAmount, &v.OtherCharges, &v.Currency, &v.Tariff, &received, &sim,
		&detail, &response)
	if err != nil {
		return nil, err
	}
	v.Units = uint64(units)
	v.ReceivedAt = fromNanos(sql.NullInt64{Int64: received, Valid: true})
	v.SimAt = fromNanos(sql.NullInt64{Int64: sim, Valid: true})
	if detail != "" {
		v.Detail = []byte(detail)
	}
	if response != "" {
		v.Response = []byte(response)
	}
	return &v, nil
}

func scanToken(s scanner) (string, Token, error) {
	var (
		vendID             string
		tk                 Token
		class, sub         int
		tid                sql.NullInt64
		units, issued      int64
		state              string
		sent, next, result sql.NullInt64
	)
	err := s.Scan(&vendID, &tk.Seq, &tk.Token, &class, &sub, &tid, &units, &state, &tk.Outcome,
		&tk.Attempts, &issued, &sent, &next, &result)
	if err != nil {
		return "", tk, err
	}
	tk.Class, tk.SubClass = uint8(class), uint8(sub)
	tk.TID, tk.HasTID = uint32(tid.Int64), tid.Valid
	tk.Units = uint64(units)
	tk.State = State(state)
	tk.IssuedAt = fromNanos(sql.NullInt64{Int64: issued, Valid: true})
	tk.LastSentAt, tk.NextAttemptAt, tk.ResultAt = fromNanos(sent), fromNanos(next),
		fromNanos(result)
	return vendID, tk, nil
}

// Vend returns a vend and its tokens, or [ErrNotFound].
func (l *Ledger) Vend(ctx context.Context, id string) (*Vend, error) {
	row := l.rdb.QueryRowContext(ctx, "SELECT "+vendColumns+" FROM vends WHERE id = ?", id)
	v, err := scanVend(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("vend %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vend %s: %w", id, err)
	}
	rows, err := l.rdb.QueryContext(ctx,
		"SELECT "+tokenColumns+" FROM tokens WHERE vend_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, fmt.Errorf("vend %s: tokens: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		_, tk, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("vend %s: tokens: %w", id, err)
		}
		v.Tokens = append(v.Tokens, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vend %s: tokens: %w", id, err)
	}
	return v, nil
}

// VendByIdempotencyKey returns the vend created with an idempotency key,
// without its tokens, or [ErrNotFound].
func (l *Ledger) VendByIdempotencyKey(ctx context.Context, key string) (*Vend, error) {
	row := l.byIdempotencyKey.QueryRowContext(ctx, key)
	v, err := scanVend(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	return v, nil
}

// OpenVends returns every vend that has a token still waiting for a
// result ([Issued] or [Lost]), with all of its tokens, oldest first. The
// service reloads them on start to carry on delivering.
func (l *Ledger) OpenVends(ctx context.Context) ([]*Vend, error) {
	const open = `SELECT DISTINCT vend_id FROM tokens WHERE state IN ('issued', 'lost')`
	rows, err := l.rdb.QueryContext(ctx, "SELECT "+vendColumns+" FROM vends WHERE id IN ("+
		open+") ORDER BY received_at, id")
	if err != nil {
		return nil, fmt.Errorf("open vends: %w", err)
	}
	var vends []*Vend
	byID := map[string]*Vend{}
	for rows.Next() {
		v, err := scanVend(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("open vends: %w", err)
		}
		vends = append(vends, v)
		byID[v.ID] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("open vends: %w", err)
	}
	trows, err := l.rdb.QueryContext(ctx, "SELECT "+tokenColumns+
		" FROM tokens WHERE vend_id IN ("+open+") ORDER BY vend_id, seq")
	if err != nil {
		return nil, fmt.Errorf("open vends: tokens: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		id, tk, err := scanToken(trows)
		if err != nil {
			return nil, fmt.Errorf("open vends: tokens: %w", err)
		}
		if v := byID[id]; v != nil {
			v.Tokens = append(v.Tokens, tk)
		}
	}
	if err := trows.Err(); err != nil {
		return nil, fmt.Errorf("open vends: tokens: %w", err)
	}
	return vends, nil
}

// Meters returns every meter the ledger knows, ordered by DRN.
func (l *Ledger) Meters(ctx context.Context) ([]MeterRow, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT drn, identity, last_tid, month, month_units,
		last_vend FROM meters ORDER BY drn`)
	if err != nil {
		return nil, fmt.Errorf("meters: %w", err)
	}
	defer rows.Close()
	var out []MeterRow
	for rows.Next() {
		var (
			m        MeterRow
			identity string
			units    int64
		)
		if err := rows.Scan(&m.DRN, &identity, &m.LastTID, &m.Month, &units,
			&m.LastVend); err != nil {
			return nil, fmt.Errorf("meters: %w", err)
		}
		m.Identity, m.MonthUnits = []byte(identity), uint64(units)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meters: %w", err)
	}
	return out, nil
}

// Tariffs returns every stored tariff definition by name.
func (l *Ledger) Tariffs(ctx context.Context) (map[string][]byte, error) {
	rows, err := l.rdb.QueryContext(ctx, "SELECT name, definition FROM tariffs")
	if err != nil {
		return nil, fmt.Errorf("tariffs: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, fmt.Errorf("tariffs: %w", err)
		}
		out[name] = []byte(def)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tariffs: %w", err)
	}
	return out, nil
}

// Counts returns the tokens grouped by class, sub-class, state and
// outcome, for totals that survive a restart.
func (l *Ledger) Counts(ctx context.Context) ([]CountRow, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT class, subclass, state, outcome, count(*),
		coalesce(sum(units), 0) FROM tokens GROUP BY class, subclass, state, outcome
		ORDER BY class, subclass, state, outcome`)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	defer rows.Close()
	var out []CountRow
	for rows.Next() {
		var (
			c          CountRow
			class, sub int
			state      string
			units      int64
		)
		if err := rows.Scan(&class, &sub, &state, &c.Outcome, &c.Tokens, &units); err != nil {
			return nil, fmt.Errorf("counts: %w", err)
		}
		c.Class, c.SubClass, c.State, c.Units = uint8(class), uint8(sub), State(state),
			uint64(units)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	return out, nil
}

// Ping checks that the database answers.
func (l *Ledger) Ping(ctx context.Context) error {
	var one int
	if err := l.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ledger ping: %w", err)
	}
	return nil
}

// VendIDs returns the IDs of a meter's vends in the order they were
// received.
func (l *Ledger) VendIDs(ctx context.Context, drn string) ([]string, error) {
	rows, err := l.rdb.QueryContext(ctx,
		"SELECT id FROM vends WHERE meter = ? ORDER BY received_at, rowid", drn)
	if err != nil {
		return nil, fmt.Errorf("vends of meter %s: %w", drn, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("vends of meter %s: %w", drn, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vends of meter %s: %w", drn, err)
	}
	return out, nil
}

// IdempotencyKeys calls fn with the idempotency key of every vend that
// has one, in no particular order, and stops at fn's first error.
func (l *Ledger) IdempotencyKeys(ctx context.Context, fn func(key string) error) error {
	rows, err := l.rdb.QueryContext(ctx,
		"SELECT idempotency_key FROM vends WHERE idempotency_key IS NOT NULL")
	if err != nil {
		return fmt.Errorf("idempotency keys: %w", err)
	}
	defer rows.Close()
	var key string
	for rows.Next() {
		if err := rows.Scan(&key); err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("idempotency keys: %w", err)
	}
	return nil
}
