// Command sqlfloor is the least a durable, authorized wake needs with the
// hub's storage, for docs/performance.md's cold start: it opens a copy of
// a hub's database with the same driver and pragmas, and on GET /wake
// finds the ?token= by its hash, commits a row, sends the magic packet
// and answers 202. Nothing else: no config, no metrics, no monitor, no
// web app. Timed with bench/coldstart beside bench/baseline, it shows how
// far any hub built on this storage can get.
//
//	sqlfloor -db COPY-OF/moonwake.db -token SECRET -listen 127.0.0.1:8082 -target 10.78.0.255:9
package main

import (
	"crypto/sha256"
	"database/sql"
	"flag"
	"log"
	"net"
	"net/http"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	path := flag.String("db", "", "a copy of a hub's moonwake.db (it is written to)")
	token := flag.String("token", "", "the secret that GET /wake?token= must carry")
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve on")
	target := flag.String("target", "127.0.0.1:9", "where to send the packet")
	flag.Parse()
	if *path == "" || *token == "" {
		log.Fatal("usage: sqlfloor -db FILE -token SECRET [-listen ADDR] [-target ADDR]")
	}
	db, err := sql.Open("sqlite", *path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	// Its own tables, beside the hub's schema, which SQLite parses all the
	// same when the connection first reads.
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS floor_tokens (hash BLOB PRIMARY KEY);
		CREATE TABLE IF NOT EXISTS floor_actions (id INTEGER PRIMARY KEY, at TEXT NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	want := sha256.Sum256([]byte(*token))
	if _, err := db.Exec(`INSERT OR IGNORE INTO floor_tokens VALUES (?)`, want[:]); err != nil {
		log.Fatal(err)
	}
	dst, err := net.ResolveUDPAddr("udp4", *target)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		log.Fatal(err)
	}
	pkt := make([]byte, 102)
	for i := range 6 {
		pkt[i] = 0xff
	}
	http.HandleFunc("GET /wake", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.Sum256([]byte(r.URL.Query().Get("token")))
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM floor_tokens WHERE hash = ?`, h[:]).Scan(&n); err != nil || n == 0 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if _, err := db.Exec(`INSERT INTO floor_actions (at) VALUES (?)`, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if _, err := conn.WriteToUDP(pkt, dst); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
