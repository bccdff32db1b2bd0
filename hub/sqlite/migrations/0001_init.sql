-- 0001: machines, tokens and the action log.
--
-- Times are UTC text, fixed width "2006-01-02T15:04:05.000000000Z", so they
-- sort as strings and stay readable in the sqlite3 shell. Lists are JSON
-- arrays. Tables are STRICT so a wrong type is an error, not a surprise.

CREATE TABLE machines (
	name       TEXT PRIMARY KEY,
	mac        TEXT NOT NULL UNIQUE,
	host       TEXT NOT NULL DEFAULT '',
	interface  TEXT NOT NULL DEFAULT '',
	broadcast  TEXT NOT NULL DEFAULT '',
	port       INTEGER NOT NULL DEFAULT 0,
	password   TEXT NOT NULL DEFAULT '',
	tags       TEXT NOT NULL DEFAULT '[]',
	source     TEXT NOT NULL CHECK (source IN ('api', 'config')),
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE tokens (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	secret_hash  TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret; the secret is never stored
	machines     TEXT NOT NULL DEFAULT '[]',
	actions      TEXT NOT NULL DEFAULT '[]',
	admin        INTEGER NOT NULL DEFAULT 0,
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked_at   TEXT
) STRICT;

-- Revoked tokens keep their name for the audit log; only active names are unique.
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE actions (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	machine     TEXT NOT NULL, -- no foreign key: the log outlives deleted machines
	mac         TEXT NOT NULL,
	actor       TEXT NOT NULL DEFAULT '{}',
	status      TEXT NOT NULL,
	detail      TEXT NOT NULL DEFAULT '',
	steps       TEXT NOT NULL DEFAULT '[]',
	created_at  TEXT NOT NULL,
	finished_at TEXT
) STRICT, WITHOUT ROWID;

-- Action ids begin with their creation time, so the table itself is in time
-- order: listing newest first needs no other index, and a commit of a batch
-- of new actions writes to the right edge of two b-trees only.
CREATE INDEX actions_machine ON actions (machine, id);
-- Only running actions are ever looked up by status, and few are running at
-- once, so the index holds just those and costs nothing once they end.
CREATE INDEX actions_status ON actions (status) WHERE status = 'running';
