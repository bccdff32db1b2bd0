-- 0012: the audit log needs the read scope. Tokens made with no actions
-- were made to read, so they keep reading: they get the scope. Tokens made
-- to wake or shut down (a phone shortcut, a Home Assistant button) read
-- the state and the actions they asked for, no longer everyone's.
UPDATE tokens SET actions = '["read"]'
WHERE actions = '[]' AND admin = 0 AND link = 0 AND relay_enrol = 0;
