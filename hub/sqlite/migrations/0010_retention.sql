-- 0010: retention. The hub deletes ended actions and old events in small
-- batches (retention.go); these indexes find them without reading the
-- tables through.

-- Every ended action, by the time it ended (its creation time for an action
-- stored as already ended without one). Running actions are not in it, so
-- they are never candidates for deletion. Actions end in time order, so an
-- update that ends one writes near the right edge of the index.
CREATE INDEX actions_ended ON actions (coalesce(finished_at, created_at)) WHERE status != 'running';

-- Events by time. Seq grows with time too, but only as far as the clock
-- does: deleting by "at" stays exact if the clock was ever set back.
CREATE INDEX events_at ON events (at);
