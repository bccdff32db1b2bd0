package moonwake

import "context"

// ReceiptService remembers the CloudEvents that asked the hub to act, by
// their source and id (which CloudEvents makes unique together), so that an
// event delivered again never acts twice.
type ReceiptService interface {
	// ClaimReceipt records that the event (source, id) is being handled.
	// claimed is true when this call recorded it; otherwise an earlier
	// delivery did, and actionID is the action it started ("" while that
	// delivery is still starting it).
	ClaimReceipt(ctx context.Context, source, id string) (claimed bool, actionID string, err error)
	// SetReceiptAction records the action that the claimed event started.
	SetReceiptAction(ctx context.Context, source, id, actionID string) error
	// DropReceipt forgets a claim whose event started no action (the power
	// service refused it before recording anything), so that a delivery
	// again may try again.
	DropReceipt(ctx context.Context, source, id string) error
}
