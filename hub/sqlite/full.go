package sqlite

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/moonwake/moonwake"
)

// errFull is what a person is told when the database's disk is full.
var errFull = moonwake.Errorf(moonwake.EFull,
	"the disk that holds the hub's database is full, so nothing was stored; free some space and try again (the hub needs no restart)")

// diskFull turns SQLite's "database or disk is full" into errFull, keeping
// SQLite's own words in the chain for the log. SQLite rolls the failed
// transaction back whole, so the file stays sound; the next write that
// finds room succeeds. Any other error is returned as it is.
func diskFull(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_FULL {
		return fmt.Errorf("%w (%w)", errFull, err)
	}
	return err
}
