-- 0006: the Sunshine hosts the hub paired with, one per machine: the HTTPS
-- URL of the host's GameStream server and its certificate, pinned at
-- pairing.

CREATE TABLE sunshine_hosts (
	machine     TEXT PRIMARY KEY,
	url         TEXT NOT NULL,
	server_cert TEXT NOT NULL,
	paired_at   TEXT NOT NULL
) STRICT;

-- A deleted machine takes its Sunshine host with it: a machine created
-- later under the same name must not inherit the old PC's pairing.
CREATE TRIGGER machines_forget_sunshine AFTER DELETE ON machines
BEGIN
	DELETE FROM sunshine_hosts WHERE machine = OLD.name;
END;
