-- 0004: a deleted machine takes its agent and pending pairing codes with it,
-- whichever way it is deleted (API or config file): a machine created later
-- under the same name must not inherit the old PC's agent.
CREATE TRIGGER machines_forget_agents AFTER DELETE ON machines
BEGIN
	DELETE FROM peers WHERE machine = old.name;
	DELETE FROM pairings WHERE machine = old.name;
END;
