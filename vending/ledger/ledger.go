package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"
)

// Options tune the ledger. The zero value is durable group commit without
// waiting: every commit is fsynced, and a batch is whatever is queued when
// the writer gets to it.
type Options struct {
	// Window is how long the writer waits, after the first request of a
	// batch, for more to join it. Zero means it does not wait: requests
	// that arrive while a commit is running form the next batch, which
	// already batches well under load.
	Window time.Duration
	// MaxBatch caps the requests in one transaction. Zero means 1024.
	MaxBatch int
	// NoSync trades durability for speed: with true, commits are not
	// fsynced (SQLite synchronous=NORMAL in WAL mode), so an operating
	// system crash may lose the latest commits, though never corrupt the
	// database; a process crash loses nothing. False (the default) is
	// synchronous=FULL.
	NoSync bool
	// ReadConns is the size of the read pool. Zero means 4.
	ReadConns int
	// OnCommit, when set, is called by the writer after each
	// transaction with the number of requests it held, how long the
	// commit took and its error. It must not block.
	OnCommit func(requests int, took time.Duration, err error)
	// OnAsyncError, when set, is called with the error of a request
	// queued by [Ledger.Enqueue]. It must not block.
	OnAsyncError func(error)
}

// Ledger is the vending database. See the package documentation for its
// write ordering and concurrency guarantees.
type Ledger struct {
	opts  Options
	wdb   *sql.DB
	rdb   *sql.DB
	stmts statements
	// byIdempotencyKey is the one read every vend makes, prepared once on
	// the read pool rather than at each call.
	byIdempotencyKey *sql.Stmt

	// mu guards closed and sending on reqs, so that Close never races a
	// send on the closed channel.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request

	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// request is one Submit or Enqueue call: ops that succeed or fail
// together.
type request struct {
	ops []Op
	// done receives the outcome; nil for Enqueue.
	done chan error
	// notify, when set, is called with the outcome of an Enqueue.
	notify func(error)
}

// restrict creates the database file readable by its owner alone, or
// narrows an existing one to that: the ledger holds issued tokens, credit
// that anyone could type in. SQLite gives its -wal and -shm files the
// database file's mode.
func restrict(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(0o600)
}

// Open opens or creates the ledger database at path, migrates its schema
// and starts the writer. The caller must Close it.
func Open(ctx context.Context, path string, opts Options) (*Ledger, error) {
	if path == "" {
		return nil, errors.New("open ledger: empty path")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	sync := "FULL"
	if opts.NoSync {
		sync = "NORMAL"
	}
	// _txlock=immediate takes the write lock at BEGIN, so a transaction
	// never fails half-way on a lock upgrade.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	wdsn := "file:" + url.PathEscape(path) + "?" + common +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")&_txlock=immediate" +
		"&_pragma=cache_size(-65536)"
	if err := restrict(path); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	wdb, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	l := &Ledger{opts: opts, wdb: wdb, reqs: make(chan *request, 4*opts.MaxBatch),
		writerDone: make(chan struct{})}
	if err := l.init(ctx, path, common); err != nil {
		wdb.Close()
		if l.rdb != nil {
			l.rdb.Close()
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	go l.writer()
	return l, nil
}

func (l *Ledger) init(ctx context.Context, path, common string) error {
	var mode string
	if err := l.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	if err := migrate(ctx, l.wdb); err != nil {
		return err
	}
	rdb, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?"+common+
		"&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	rdb.SetMaxOpenConns(l.opts.ReadConns)
	rdb.SetMaxIdleConns(l.opts.ReadConns)
	l.rdb = rdb
	if l.byIdempotencyKey, err = rdb.PrepareContext(ctx,
		"SELECT "+vendColumns+" FROM vends WHERE idempotency_key = ?"); err != nil {
		return err
	}
	return l.stmts.prepare(ctx, l.wdb)
}

// Submit applies ops together in the next transaction and waits
// until it is committed. The ops succeed or fail together; an error rolls
// back only this call's ops. ctx bounds the wait for room in the queue;
// once queued, Submit waits for the commit, so that the caller learns what
// was written.
func (l *Ledger) Submit(ctx context.Context, ops ...Op) error {
	r := &request{ops: ops, done: make(chan error, 1)}
	if err := l.send(ctx, r); err != nil {
		return err
	}
	return <-r.done
}

// Enqueue queues ops like [Ledger.Submit] without waiting for the commit.
// A failure is reported to [Options.OnAsyncError]. Ops queued before
// Close are committed by Close.
func (l *Ledger) Enqueue(ctx context.Context, ops ...Op) error {
	return l.send(ctx, &request{ops: ops})
}

// EnqueueNotify is [Ledger.Enqueue] with a callback: notify is called by
// the writer with the outcome once the ops are committed or have failed
// (failures also go to [Options.OnAsyncError]). It must not block.
func (l *Ledger) EnqueueNotify(ctx context.Context, notify func(error), ops ...Op) error {
	return l.send(ctx, &request{ops: ops, notify: notify})
}

func (l *Ledger) send(ctx context.Context, r *request) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger write: %w", ctx.Err())
	}
}

// Close stops intake, commits every queued request, stops the writer and
// closes the database. It is idempotent and returns the first close error.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.reqs)
		l.mu.Unlock()
		<-l.writerDone
		l.stmts.close()
		if l.byIdempotencyKey != nil {
			l.byIdempotencyKey.Close()
		}
		l.closeErr = errors.Join(l.rdb.Close(), l.wdb.Close())
	})
	return l.closeErr
}

// writer is the single goroutine that writes. It exits when reqs is
// closed and drained.
func (l *Ledger) writer() {
	defer close(l.writerDone)
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		first, ok := <-l.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		batch, ok = l.collect(batch)
		l.commit(batch)
		if !ok {
			// reqs is closed and empty: everything queued before
			// Close is committed.
			return
		}
	}
}

// collect adds waiting requests to batch, up to MaxBatch, waiting at most
// Window for them. It reports false when reqs was closed.
func (l *Ledger) collect(batch []*request) ([]*request, bool) {
	var timeout <-chan time.Time
	if l.opts.Window > 0 {
		t := time.NewTimer(l.opts.Window)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < l.opts.MaxBatch {
		if timeout == nil {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					return batch, false
				}
				batch = append(batch, r)
				continue
			default:
				return batch, true
			}
		}
		select {
		case r, ok := <-l.reqs:
			if !ok {
				return batch, false
			}
			batch = append(batch, r)
		case <-timeout:
			return batch, true
		}
	}
	return batch, true
}

// commit writes a batch in one transaction (see [Ledger.runBatch]) and
// tells every request its outcome.
func (l *Ledger) commit(batch []*request) {
	start := time.Now()
	errs := make([]error, len(batch))
	err := l.runBatch(batch, errs)
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(len(batch), time.Since(start), err)
	}
	for i, r := range batch {
		e := errs[i]
		if err != nil {
			e = err
		}
		if r.done != nil {
			r.done <- e
			continue
		}
		if e != nil && l.opts.OnAsyncError != nil {
			l.opts.OnAsyncError(e)
		}
		if r.notify != nil {
			r.notify(e)
		}
	}
}

func (l *Ledger) runBatch(batch []*request, errs []error) error {
	ctx := context.Background()
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger commit: begin: %w", err)
	}
	t := &txn{ctx: ctx, tx: tx, st: &l.stmts}
	for i, r := range batch {
		errs[i] = t.savepoint(r.ops)
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		return fmt.Errorf("ledger commit: %w", err)
	}
	return nil
}
