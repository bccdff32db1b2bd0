// Command frontonly is the front alone in a binary of its own (only the
// standard library and the front package), for bench/serverless.sh to
// compare its cold start with "moonwake front", the same front inside the
// whole moonwake binary.
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/moonwake/moonwake/front"
)

func main() {
	f, err := front.New(os.Getenv("MOONWAKE_HUB"))
	if err != nil {
		log.Fatal(err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Fatal(http.ListenAndServe(os.Getenv("HOST")+":"+port, f.Handler()))
}
