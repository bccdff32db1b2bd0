package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/moonwake/moonwake"
)

// EventService stores the machines' history. Appends go through the action
// writer, so they share its group commits.
type EventService struct {
	db *DB
}

var _ moonwake.EventService = (*EventService)(nil)

// NewEventService returns the event store of db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

// AppendEvent stores e; e.Seq must be new. It returns once e is committed.
func (s *EventService) AppendEvent(ctx context.Context, e *moonwake.Event) error {
	if e.Seq <= 0 {
		return moonwake.Errorf(moonwake.EInvalid, "event without a sequence number")
	}
	if e.At.IsZero() {
		e.At = s.db.now()
	}
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	op := opPool.Get().(*actionOp)
	op.event, op.id = true, fmt.Sprint(e.Seq)
	op.args = append(op.args[:0], e.Seq, formatTime(e.At), e.Type, e.Machine, data)
	if err := s.db.write(ctx, op); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// QueueEvent queues e to be stored and returns at once; a failure goes to
// DB.OnAsyncError. Events queued before an action write are committed before
// it (one writer, in order).
func (s *EventService) QueueEvent(e *moonwake.Event) {
	if e.At.IsZero() {
		e.At = s.db.now()
	}
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	op := opPool.Get().(*actionOp)
	op.event, op.async, op.id = true, true, fmt.Sprint(e.Seq)
	op.args = append(op.args[:0], e.Seq, formatTime(e.At), e.Type, e.Machine, data)
	s.db.enqueue(op)
}

// SettleEvents returns once every event queued before it is committed, or
// has failed: the writer commits in order. Events missing from ListEvents
// after it are lost, not late.
func (s *EventService) SettleEvents(ctx context.Context) error {
	op := opPool.Get().(*actionOp)
	op.settle = true
	return s.db.write(ctx, op)
}

// ListEvents returns events oldest first.
func (s *EventService) ListEvents(ctx context.Context, f moonwake.EventFilter) ([]*moonwake.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	limit = min(limit, maxEventLimit)
	var where []string
	args := []any{}
	if f.After > 0 {
		where = append(where, "seq > ?")
		args = append(args, f.After)
	}
	if f.Machine != "" {
		where = append(where, "machine = ?")
		args = append(args, f.Machine)
	}
	if f.Type != "" {
		where = append(where, "type = ?")
		args = append(args, f.Type)
	}
	q := `SELECT seq, at, type, machine, data FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	order := "ASC"
	if f.Newest {
		order = "DESC"
	}
	q += " ORDER BY seq " + order + " LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []*moonwake.Event{}
	for rows.Next() {
		var e moonwake.Event
		var at, data string
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Machine, &data); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Data = []byte(data)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if f.Newest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// LastEventSeq returns the largest stored Seq, 0 if there is none.
func (s *EventService) LastEventSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	return seq, nil
}
