-- 0009: relays. A relay's identity is a peer of purpose 'relay' whose
-- machine column holds the relay's name (one key per name: enrolling
-- again replaces it). What a relay last said of itself is kept here.
CREATE TABLE relays (
	name       TEXT PRIMARY KEY,
	networks   TEXT NOT NULL DEFAULT '[]', -- JSON list of CIDR prefixes it serves
	software   TEXT NOT NULL DEFAULT '',
	hostname   TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	last_seen  TEXT NOT NULL DEFAULT '',
	-- 1: its key came with an enrolment token, and a token may replace it;
	-- 0: a person paired it with a code, and no token takes it over.
	enrolled   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Enrolment tokens let relays (pods that are re-created) enrol again
-- without a person; they work on the enrolment route only.
ALTER TABLE tokens ADD COLUMN relay_enrol INTEGER NOT NULL DEFAULT 0;

-- A machine may name the relay that serves it; '' lets its address decide.
ALTER TABLE machines ADD COLUMN relay TEXT NOT NULL DEFAULT '';

-- Deleting a machine forgets its agent, never a relay that has its name.
DROP TRIGGER machines_forget_agents;
CREATE TRIGGER machines_forget_agents AFTER DELETE ON machines
BEGIN
	DELETE FROM peers WHERE machine = old.name AND purpose = 'agent';
	DELETE FROM pairings WHERE machine = old.name AND purpose = 'agent';
END;

-- Forgetting a relay forgets its key and pending codes.
CREATE TRIGGER relays_forget_peers AFTER DELETE ON relays
BEGIN
	DELETE FROM peers WHERE machine = old.name AND purpose = 'relay';
	DELETE FROM pairings WHERE machine = old.name AND purpose = 'relay';
END;
