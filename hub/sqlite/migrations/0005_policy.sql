-- 0005: what the power policies must remember across restarts: when each
-- schedule last ran (so a run missed while the hub was down can be caught
-- up, within a grace period), and "keep awake until" overrides that stop
-- idle auto-off (and scheduled shutdowns) for a machine.

CREATE TABLE policy_runs (
	key    TEXT PRIMARY KEY, -- a schedule entry and its action, see policy.Scheduler
	run_at TEXT NOT NULL     -- the scheduled time of the last run handled
) STRICT;

CREATE TABLE keep_awake (
	machine TEXT PRIMARY KEY,
	until   TEXT NOT NULL,
	set_by  TEXT NOT NULL DEFAULT '',
	set_at  TEXT NOT NULL
) STRICT;

-- A deleted machine takes its override with it.
CREATE TRIGGER machines_forget_keep_awake AFTER DELETE ON machines
BEGIN
	DELETE FROM keep_awake WHERE machine = OLD.name;
END;
