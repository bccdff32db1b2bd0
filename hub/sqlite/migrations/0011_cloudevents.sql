-- 0011: CloudEvents. Knative Triggers cannot set headers, so they carry
-- a token of their own kind in the subscriber URL; it works on the
-- CloudEvents route only.
ALTER TABLE tokens ADD COLUMN cloudevents INTEGER NOT NULL DEFAULT 0;

-- Every CloudEvent that asked for an action, by the token that sent it and
-- its source and id (unique together for one producer, says the spec; the
-- token keeps one sender from seeing or pre-empting another's events): an
-- event delivered again finds its action here and starts nothing.
-- action_id is '' while the first delivery starts it. Rows go with the
-- actions' retention, by received_at.
CREATE TABLE cloudevent_receipts (
	token_id    TEXT NOT NULL,
	source      TEXT NOT NULL,
	id          TEXT NOT NULL,
	action_id   TEXT NOT NULL DEFAULT '',
	received_at TEXT NOT NULL,
	PRIMARY KEY (token_id, source, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX cloudevent_receipts_received_at ON cloudevent_receipts (received_at);
