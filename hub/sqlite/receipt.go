package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/moonwake/moonwake"
)

// Ensure the service implements the interface.
var _ moonwake.ReceiptService = (*ReceiptService)(nil)

// ReceiptService stores the receipts of the CloudEvents that asked for
// actions. Claiming is one INSERT on the primary key (source, id), so two
// deliveries of one event racing each other, even from two processes, make
// exactly one claim.
type ReceiptService struct {
	db *DB
}

// NewReceiptService returns the receipt store of db.
func NewReceiptService(db *DB) *ReceiptService { return &ReceiptService{db: db} }

// ClaimReceipt implements moonwake.ReceiptService.
func (s *ReceiptService) ClaimReceipt(ctx context.Context, source, id string) (bool, string, error) {
	res, err := s.db.wdb.ExecContext(ctx, `
		INSERT INTO cloudevent_receipts (source, id, received_at) VALUES (?, ?, ?)
		ON CONFLICT (source, id) DO NOTHING`, source, id, formatTime(s.db.now()))
	if err != nil {
		return false, "", fmt.Errorf("claim receipt of event %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, "", fmt.Errorf("claim receipt of event %q: %w", id, err)
	} else if n == 1 {
		return true, "", nil
	}
	var action string
	if err := s.db.wdb.QueryRowContext(ctx, `SELECT action_id FROM cloudevent_receipts WHERE source = ? AND id = ?`, source, id).Scan(&action); err != nil {
		return false, "", fmt.Errorf("read receipt of event %q: %w", id, err)
	}
	return false, action, nil
}

// SetReceiptAction implements moonwake.ReceiptService.
func (s *ReceiptService) SetReceiptAction(ctx context.Context, source, id, actionID string) error {
	if _, err := s.db.wdb.ExecContext(ctx, `UPDATE cloudevent_receipts SET action_id = ? WHERE source = ? AND id = ?`, actionID, source, id); err != nil {
		return fmt.Errorf("record action %s of event %q: %w", actionID, id, err)
	}
	return nil
}

// DropReceipt implements moonwake.ReceiptService.
func (s *ReceiptService) DropReceipt(ctx context.Context, source, id string) error {
	if _, err := s.db.wdb.ExecContext(ctx, `DELETE FROM cloudevent_receipts WHERE source = ? AND id = ? AND action_id = ''`, source, id); err != nil {
		return fmt.Errorf("drop receipt of event %q: %w", id, err)
	}
	return nil
}

// pruneReceiptsSQL deletes receipts from before ?1, batch ?2 at a time,
// through the index of 0011.
const pruneReceiptsSQL = `DELETE FROM cloudevent_receipts WHERE (source, id) IN (
	SELECT source, id FROM cloudevent_receipts WHERE received_at < ?1 LIMIT ?2)`

// PruneReceipts deletes the receipts of events received before before,
// batch at a time (DefaultPruneBatch when batch <= 0). An event delivered
// again after that acts again: keep receipts longer than any sender
// retries.
func (s *ReceiptService) PruneReceipts(ctx context.Context, before time.Time, batch int) (int, error) {
	n, err := s.db.prune(ctx, pruneReceiptsSQL, before, batch)
	if err != nil {
		return n, fmt.Errorf("prune cloudevent receipts: %w", err)
	}
	return n, nil
}
