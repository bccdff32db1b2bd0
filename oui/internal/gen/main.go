// Command gen writes oui.tsv.gz, the vendor table package oui embeds, from
// the IEEE's MA-L registry as Debian's ieee-data package ships it
// (/usr/share/ieee-data/oui.csv). Run it from the oui directory with
// go generate after ieee-data updates; the output is checked in, so
// neither builds nor CI need ieee-data.
package main

import (
	"compress/gzip"
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"slices"
	"strings"
)

// suffixes are the legal forms that make vendor names long and add nothing
// when a person reads "Gaming PC? (ASUSTek Computer)".
var suffixes = regexp.MustCompile(`(?i)[ ,.]+(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|gmbh|ag|s\.?a|s\.?p\.?a|b\.?v|oy|ab|a/s|as|pte|pty|plc|kg|srl|s\.?r\.?l|sas|s\.?a\.?s|co\.?,? ?ltd|technology|technologies|electronics)\.?$`)

func main() {
	in := flag.String("in", "/usr/share/ieee-data/oui.csv", "the IEEE MA-L registry, as CSV")
	out := flag.String("out", "oui.tsv.gz", "the table to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatalf("%v (install Debian's ieee-data)", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, rec := range recs[1:] {
		if len(rec) < 3 || rec[0] != "MA-L" || len(rec[1]) != 6 {
			continue
		}
		name := strings.Join(strings.Fields(rec[2]), " ")
		for {
			short := strings.TrimSpace(suffixes.ReplaceAllString(name, ""))
			if short == name || short == "" {
				break
			}
			name = short
		}
		name = strings.TrimRight(name, " ,.")
		if name == "" || strings.EqualFold(name, "Private") {
			continue
		}
		lines = append(lines, strings.ToUpper(rec[1])+"\t"+name)
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	o, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(o, gzip.BestCompression)
	for _, l := range lines {
		fmt.Fprintln(zw, l)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := o.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d vendors\n", len(lines))
}
