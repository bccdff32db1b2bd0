-- 0007: the web app's admin password and its signed-in browsers. A
-- session's secret lives only in the browser's cookie; the hub keeps its
-- SHA-256. Revoked and expired sessions are deleted.

CREATE TABLE admin_password (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	hash   TEXT NOT NULL, -- argon2id, PHC string
	set_at TEXT NOT NULL
) STRICT;

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	secret_hash  TEXT NOT NULL UNIQUE,
	created_at   TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	addr         TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_expires ON sessions (expires_at);
