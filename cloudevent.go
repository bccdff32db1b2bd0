package moonwake

import "context"

// EventKey names a CloudEvent that asked the hub to act: the token that
// sent it, and its source and id (which CloudEvents makes unique together
// for one producer). The token is part of the key because sources are
// chosen by whoever sends: one token must neither see nor pre-empt the
// events of another by guessing their source and id.
type EventKey struct {
	Token  string // the id of the token that sent it
	Source string
	ID     string
}

// ReceiptService remembers the CloudEvents that asked the hub to act, by
// their EventKey, so that an event delivered again never acts twice.
type ReceiptService interface {
	// ClaimReceipt records that the event k is being handled. claimed is
	// true when this call recorded it; otherwise an earlier delivery did,
	// and actionID is the action it started ("" while that delivery is
	// still starting it).
	ClaimReceipt(ctx context.Context, k EventKey) (claimed bool, actionID string, err error)
	// SetReceiptAction records the action that the claimed event started.
	SetReceiptAction(ctx context.Context, k EventKey, actionID string) error
	// DropReceipt forgets a claim whose event started no action (the power
	// service refused it before recording anything), so that a delivery
	// again may try again.
	DropReceipt(ctx context.Context, k EventKey) error
}
