package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/moonwake/moonwake"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Ensure the service implements the interface.
var _ moonwake.ActionService = (*ActionService)(nil)

// Limits of ListActions.
const (
	defaultActionLimit = 50
	maxActionLimit     = 500
)

// maxBatch is the most action writes committed in one transaction: enough to
// spread a commit over many requests, few enough to keep any one waiting
// briefly.
const maxBatch = 256

// ActionService stores the action log in SQLite. Writes are queued to the
// DB's writer goroutine, which commits all that are waiting in one
// transaction: one commit per request could not keep up with the wake route.
type ActionService struct {
	db *DB
}

// NewActionService returns an ActionService on an open db.
func NewActionService(db *DB) *ActionService {
	return &ActionService{db: db}
}

// actionOp is one queued write and the channel its result comes back on.
// Ops are pooled: the wake route makes two per request.
type actionOp struct {
	update bool
	event  bool // an event insert (event.go), not an action
	settle bool // writes nothing: done once every op queued before it is
	async  bool // nobody waits: the writer releases it
	id     string
	args   []any
	err    error
	done   chan error
}

var opPool = sync.Pool{New: func() any {
	return &actionOp{args: make([]any, 0, 10), done: make(chan error, 1)}
}}

// release drops what op refers to and returns it to the pool.
func (op *actionOp) release() {
	clear(op.args)
	op.args, op.id, op.err, op.event, op.async, op.settle = op.args[:0], "", nil, false, false, false
	opPool.Put(op)
}

// errClosed is returned for writes queued after Close.
var errClosed = errors.New("database is closed")

// CreateAction fills in a's ID, creation time and status when empty, and
// stores a. It returns once a is committed; at synchronous=NORMAL that
// survives a crash of the process, though not of the machine.
func (s *ActionService) CreateAction(ctx context.Context, a *moonwake.Action) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.db.now()
	} else {
		a.CreatedAt = a.CreatedAt.UTC()
	}
	if a.ID == "" {
		a.ID = newActionID(a.CreatedAt.UnixMilli())
	}
	if a.Status == "" {
		a.Status = moonwake.StatusRunning
	}
	if a.Steps == nil {
		a.Steps = []moonwake.Step{}
	}
	actor := a.Actor.AppendJSON(nil)
	steps, err := moonwake.AppendStepsJSON(nil, a.Steps)
	if err != nil {
		return fmt.Errorf("create action: %w", err)
	}
	op := opPool.Get().(*actionOp)
	op.update, op.id = false, a.ID
	op.args = append(op.args[:0], a.ID, a.Kind, a.Machine, a.MAC, string(actor), a.Status, a.Detail,
		string(steps), formatTime(a.CreatedAt), nullTime(a.FinishedAt), nullTime(a.Deadline))
	if err := s.db.write(ctx, op); err != nil {
		return fmt.Errorf("create action: %w", err)
	}
	return nil
}

// UpdateAction stores a's status, detail, steps and finish time, and sets
// the finish time to now if a has ended without one. It returns once the
// change is committed. ENotFound.
func (s *ActionService) UpdateAction(ctx context.Context, a *moonwake.Action) error {
	if a.Done() && a.FinishedAt == nil {
		now := s.db.now()
		a.FinishedAt = &now
	}
	if a.Steps == nil {
		a.Steps = []moonwake.Step{}
	}
	steps, err := moonwake.AppendStepsJSON(nil, a.Steps)
	if err != nil {
		return fmt.Errorf("update action: %w", err)
	}
	op := opPool.Get().(*actionOp)
	op.update, op.id = true, a.ID
	op.args = append(op.args[:0], a.Status, a.Detail, string(steps), nullTime(a.FinishedAt), nullTime(a.Deadline), a.ID)
	if err := s.db.write(ctx, op); err != nil {
		return fmt.Errorf("update action: %w", err)
	}
	return nil
}

// write queues op for the writer goroutine and waits for its result, then
// returns op to the pool. Once queued, it waits even if ctx ends: the write
// may already be committed, and reporting failure then would be a lie.
func (db *DB) write(ctx context.Context, op *actionOp) error {
	db.qmu.RLock()
	if db.closed || db.queue == nil {
		db.qmu.RUnlock()
		op.release()
		return errClosed
	}
	select {
	case db.queue <- op:
	default:
		// The queue is full: wait for room, but give up if ctx ends first,
		// since nothing has been written yet.
		select {
		case db.queue <- op:
		case <-ctx.Done():
			db.qmu.RUnlock()
			op.release()
			return ctx.Err()
		}
	}
	db.qmu.RUnlock()
	err := <-op.done
	op.release()
	return err
}

// enqueue queues an async op; after Close it is dropped.
func (db *DB) enqueue(op *actionOp) {
	db.qmu.RLock()
	defer db.qmu.RUnlock()
	if db.closed || db.queue == nil {
		op.release()
		return
	}
	db.queue <- op
}

// runWriter commits queued action writes until the queue is closed, taking
// whatever is waiting, up to maxBatch, into each transaction.
func (db *DB) runWriter() {
	defer db.wg.Done()
	batch := make([]*actionOp, 0, maxBatch)
	for op := range db.queue {
		batch = append(batch[:0], op)
	fill:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-db.queue:
				if !ok {
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		batch = db.gather(batch)
		db.commitAll(batch)
		for _, op := range batch {
			op.err = diskFull(op.err)
			if op.async {
				if op.err != nil && db.OnAsyncError != nil {
					db.OnAsyncError(op.err)
				}
				op.release()
				continue
			}
			op.done <- op.err
		}
	}
}

// gather lets the request goroutines that are ready to run queue their
// writes before the batch is committed: on a busy hub each commit then
// serves many requests instead of one or two, and on an idle hub Gosched
// returns at once and adds nothing to a lone write's latency.
func (db *DB) gather(batch []*actionOp) []*actionOp {
	for range 4 {
		runtime.Gosched()
		n := len(batch)
	drain:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-db.queue:
				if !ok {
					return batch
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		if len(batch) == n {
			return batch
		}
	}
	return batch
}

// commitAll commits ops and sets each one's error. When one op's statement
// fails, the transaction is rolled back and the others are committed
// without it, so that only the op at fault fails. When the transaction
// itself fails, every op fails: retrying each alone could wait out the busy
// timeout once per op.
func (db *DB) commitAll(ops []*actionOp) {
	for len(ops) > 0 {
		failed, err := db.commitBatch(ops)
		switch {
		case err == nil:
			return
		case failed == nil:
			for _, op := range ops {
				op.err = err
			}
			return
		}
		failed.err = err
		ops = slices.DeleteFunc(slices.Clone(ops), func(op *actionOp) bool { return op == failed })
	}
}

// commitBatch runs ops in one transaction. It stops at the first statement
// that fails, and returns that op and its error: SQLite may have rolled the
// transaction back, and later statements would then commit on their own.
// An update of a missing action is not an SQL error: it sets that op's error
// and the batch goes on. If beginning or committing fails, the op is nil.
func (db *DB) commitBatch(ops []*actionOp) (failed *actionOp, err error) {
	ctx := context.Background() // no cancellation watcher per statement
	for _, op := range ops {
		op.err = nil
	}
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var ins, upd *sql.Stmt
	var evt *sql.Stmt
	for _, op := range ops {
		if op.settle {
			continue
		}
		if op.event {
			if evt == nil {
				evt = tx.StmtContext(ctx, db.eventStmt)
			}
			if _, err := evt.ExecContext(ctx, op.args...); err != nil {
				if isConstraint(err) {
					return op, moonwake.Errorf(moonwake.EConflict, "event %s exists", op.id)
				}
				return op, err
			}
			continue
		}
		if !op.update {
			if ins == nil {
				ins = tx.StmtContext(ctx, db.insertStmt)
			}
			if _, err := ins.ExecContext(ctx, op.args...); err != nil {
				if isConstraint(err) {
					return op, moonwake.Errorf(moonwake.EConflict, "action %q exists", op.id)
				}
				return op, err
			}
			continue
		}
		if upd == nil {
			upd = tx.StmtContext(ctx, db.updateStmt)
		}
		res, err := upd.ExecContext(ctx, op.args...)
		if err != nil {
			return op, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return op, err
		} else if n == 0 {
			op.err = moonwake.Errorf(moonwake.ENotFound, "no action %q", op.id)
		}
	}
	return nil, tx.Commit()
}

// isConstraint reports whether err is SQLite refusing a row, such as a
// duplicate ID, rather than failing.
func isConstraint(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// prepareActionStmts prepares the writer's statements on the write
// connection, where each batch's transaction reuses them.
func (db *DB) prepareActionStmts(ctx context.Context) (err error) {
	db.insertStmt, err = db.wdb.PrepareContext(ctx, `
		INSERT INTO actions (id, kind, machine, mac, actor, status, detail, steps, created_at, finished_at, deadline)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	db.eventStmt, err = db.wdb.PrepareContext(ctx, `
		INSERT INTO events (seq, at, type, machine, data) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	db.updateStmt, err = db.wdb.PrepareContext(ctx, `
		UPDATE actions SET status = ?, detail = ?, steps = ?, finished_at = ?, deadline = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

const actionColumns = `id, kind, machine, mac, actor, status, detail, steps, created_at, finished_at, deadline`

// FindAction returns the action with that ID, or ENotFound.
func (s *ActionService) FindAction(ctx context.Context, id string) (*moonwake.Action, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT `+actionColumns+` FROM actions WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("find action: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find action: %w", err)
		}
		return nil, moonwake.Errorf(moonwake.ENotFound, "no action %q", id)
	}
	a, err := scanAction(rows)
	if err != nil {
		return nil, fmt.Errorf("find action: %w", err)
	}
	return a, nil
}

// ListActions returns actions newest first: f.Limit of them, 50 when it is
// 0 and at most 500, of f.Machine or of every machine.
func (s *ActionService) ListActions(ctx context.Context, f moonwake.ActionFilter) ([]*moonwake.Action, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultActionLimit
	}
	limit = min(limit, maxActionLimit)
	q := `SELECT ` + actionColumns + ` FROM actions`
	args := []any{}
	if f.Machine != "" {
		q += ` WHERE machine = ?`
		args = append(args, f.Machine)
	}
	// Ids sort in time order: the table or the machine index gives the
	// order without a sort.
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.db.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	defer rows.Close()
	as := []*moonwake.Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("list actions: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return as, nil
}

// LatestActions returns the newest action of each of the named machines
// that has one, in one query: each machine's newest id comes from the
// actions_machine index, so the cost grows with the machines asked for, not
// with the length of the audit log.
func (s *ActionService) LatestActions(ctx context.Context, machines []string) (map[string]*moonwake.Action, error) {
	out := make(map[string]*moonwake.Action, len(machines))
	if len(machines) == 0 {
		return out, nil
	}
	names, err := json.Marshal(machines)
	if err != nil {
		return nil, fmt.Errorf("latest actions: %w", err)
	}
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT `+actionColumns+` FROM actions WHERE id IN (
		SELECT (SELECT id FROM actions WHERE machine = m.value ORDER BY id DESC LIMIT 1) FROM json_each(?) AS m)`, string(names))
	if err != nil {
		return nil, fmt.Errorf("latest actions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("latest actions: %w", err)
		}
		out[a.Machine] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest actions: %w", err)
	}
	return out, nil
}

// RunningActions returns the actions still running, oldest first.
func (s *ActionService) RunningActions(ctx context.Context) ([]*moonwake.Action, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT `+actionColumns+` FROM actions WHERE status = '`+moonwake.StatusRunning+`' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("running actions: %w", err)
	}
	defer rows.Close()
	out := []*moonwake.Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("running actions: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// scanAction reads one row of actionColumns.
func scanAction(rows *sql.Rows) (*moonwake.Action, error) {
	var (
		a                     moonwake.Action
		actor, steps, created string
		finished, deadline    sql.NullString
	)
	if err := rows.Scan(&a.ID, &a.Kind, &a.Machine, &a.MAC, &actor, &a.Status, &a.Detail, &steps, &created, &finished, &deadline); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(actor), &a.Actor); err != nil {
		return nil, fmt.Errorf("action %s: actor: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(steps), &a.Steps); err != nil {
		return nil, fmt.Errorf("action %s: steps: %w", a.ID, err)
	}
	if a.Steps == nil {
		a.Steps = []moonwake.Step{}
	}
	var err error
	if a.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("action %s: %w", a.ID, err)
	}
	if a.FinishedAt, err = parseNullTime(finished); err != nil {
		return nil, fmt.Errorf("action %s: %w", a.ID, err)
	}
	if a.Deadline, err = parseNullTime(deadline); err != nil {
		return nil, fmt.Errorf("action %s: %w", a.ID, err)
	}
	return &a, nil
}

// crockford is Crockford's base32 alphabet in lower case; it is in ASCII
// order, so IDs sort as their bits do.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// newActionID returns "act_" and 26 base32 characters: 48 bits of
// milliseconds, then 80 random bits, like a ULID. IDs sort by time, and
// collide only by a 1 in 2^80 chance within a millisecond. The random bits
// need to be unique, not secret, so they come from the fast per-thread
// generator rather than crypto/rand.
func newActionID(ms int64) string {
	hi := uint64(ms)<<16 | rand.Uint64()&0xffff // 48 bits of time, 16 random
	lo := rand.Uint64()                         // 64 random
	var out [30]byte
	copy(out[:], "act_")
	// 128 bits as 26 characters: the first carries the top 3 bits.
	for i := 29; i >= 4; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
