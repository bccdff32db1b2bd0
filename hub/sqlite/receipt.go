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
// actions. Claiming is one INSERT on the primary key (token, source, id), so two
// deliveries of one event racing each other, even from two processes, make
// exactly one claim.
type ReceiptService struct {
	db *DB
}

// NewReceiptService returns the receipt store of db.
func NewReceiptService(db *DB) *ReceiptService { return &ReceiptService{db: db} }

// ClaimReceipt implements moonwake.ReceiptService.
func (s *ReceiptService) ClaimReceipt(ctx context.Context, k moonwake.EventKey) (bool, string, error) {
	id := k.ID
	res, err := s.db.wdb.ExecContext(ctx, `
		INSERT INTO cloudevent_receipts (token_id, source, id, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (token_id, source, id) DO NOTHING`, k.Token, k.Source, k.ID, formatTime(s.db.now()))
	if err != nil {
		return false, "", fmt.Errorf("claim receipt of event %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, "", fmt.Errorf("claim receipt of event %q: %w", id, err)
	} else if n == 1 {
		return true, "", nil
	}
	var action string
	if err := s.db.wdb.QueryRowContext(ctx, `SELECT action_id FROM cloudevent_receipts WHERE token_id = ? AND source = ? AND id = ?`, k.Token, k.Source, k.ID).Scan(&action); err != nil {
		return false, "", fmt.Errorf("read receipt of event %q: %w", id, err)
	}
	return false, action, nil
}

// SetReceiptAction implements moonwake.ReceiptService.
func (s *ReceiptService) SetReceiptAction(ctx context.Context, k moonwake.EventKey, actionID string) error {
	if _, err := s.db.wdb.ExecContext(ctx, `UPDATE cloudevent_receipts SET action_id = ? WHERE token_id = ? AND source = ? AND id = ?`, actionID, k.Token, k.Source, k.ID); err != nil {
		return fmt.Errorf("record action %s of event %q: %w", actionID, k.ID, err)
	}
	return nil
}

// DropReceipt implements moonwake.ReceiptService.
func (s *ReceiptService) DropReceipt(ctx context.Context, k moonwake.EventKey) error {
	if _, err := s.db.wdb.ExecContext(ctx, `DELETE FROM cloudevent_receipts WHERE token_id = ? AND source = ? AND id = ? AND action_id = ''`, k.Token, k.Source, k.ID); err != nil {
		return fmt.Errorf("drop receipt of event %q: %w", k.ID, err)
	}
	return nil
}

// pruneReceiptsSQL deletes receipts from before ?1, batch ?2 at a time,
// through the index of 0011.
const pruneReceiptsSQL = `DELETE FROM cloudevent_receipts WHERE (token_id, source, id) IN (
	SELECT token_id, source, id FROM cloudevent_receipts WHERE received_at < ?1 LIMIT ?2)`

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
