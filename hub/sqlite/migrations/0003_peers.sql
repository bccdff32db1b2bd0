-- 0003: the agents (and later relays) that act for the hub, known by the
-- Ed25519 public key they registered when they paired, and the pending
-- one-time pairing codes, stored only as hashes.

CREATE TABLE peers (
	id         TEXT PRIMARY KEY,
	purpose    TEXT NOT NULL,
	machine    TEXT NOT NULL DEFAULT '', -- '' for a relay
	public_key BLOB NOT NULL,
	paired_at  TEXT NOT NULL
) STRICT;

-- A machine has one agent: pairing again replaces it.
CREATE UNIQUE INDEX peers_machine ON peers (machine, purpose) WHERE machine != '';

CREATE TABLE pairings (
	code_hash  TEXT PRIMARY KEY,
	machine    TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT;

-- Actions that wait for evidence end by a deadline, which must survive a
-- restart of the hub so that the action ends with a true outcome.
ALTER TABLE actions ADD COLUMN deadline TEXT;
