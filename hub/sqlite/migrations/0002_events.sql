-- 0002: the machines' history (state changes, action progress), which the
-- event stream replays from when a client resumes with Last-Event-ID, and
-- what the probes and notifications need per machine.

CREATE TABLE events (
	seq     INTEGER PRIMARY KEY, -- assigned by the hub, in order
	at      TEXT NOT NULL,
	type    TEXT NOT NULL,
	machine TEXT NOT NULL,
	data    TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX events_machine ON events (machine, seq);

-- TCP ports whose answer means "on" (JSON list; empty: Sunshine's 47989).
ALTER TABLE machines ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';
-- Where to send this machine's notifications (JSON notify target).
ALTER TABLE machines ADD COLUMN notify TEXT NOT NULL DEFAULT '{}';
