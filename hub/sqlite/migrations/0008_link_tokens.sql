-- One-tap links are tokens that work on their link page only, never on
-- the API. Tokens made before are not links.
ALTER TABLE tokens ADD COLUMN link INTEGER NOT NULL DEFAULT 0;
