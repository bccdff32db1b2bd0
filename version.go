package moonwake

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Commit and BuildDate are stamped by release builds beside Version:
//
//	-ldflags "-X github.com/moonwake/moonwake.Version=v1.2.3
//	          -X github.com/moonwake/moonwake.Commit=$(git rev-parse HEAD)
//	          -X github.com/moonwake/moonwake.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Unstamped, Build reads them from the VCS information the go command
// embeds when it builds from a checkout.
var (
	Commit    = ""
	BuildDate = ""
)

// BuildInfo says which build a binary is.
type BuildInfo struct {
	Version   string // v1.2.3, or "dev"
	Commit    string // the full commit hash, or ""
	BuildDate string // RFC 3339, or "" (unstamped: the commit's time)
	Modified  bool   // built from a checkout with uncommitted changes
	Go        string // the Go release it was built with
}

// Build returns this binary's build information: what the release build
// stamped, else what the go command recorded (the module's version for
// go install …@v1.2.3; the commit, its time and a modified work tree for a
// build in a checkout).
func Build() BuildInfo {
	return buildInfo(Version, Commit, BuildDate, debug.ReadBuildInfo)
}

func buildInfo(version, commit, date string, read func() (*debug.BuildInfo, bool)) BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, BuildDate: date, Go: runtime.Version()}
	bi, ok := read()
	if !ok {
		return b
	}
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	var vcsTime string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			// Only about the checkout it was built from, if unstamped.
			b.Modified = commit == "" && s.Value == "true"
		}
	}
	if b.BuildDate == "" && commit == "" {
		b.BuildDate = vcsTime
	}
	return b
}

// String is the line that "moonwake version" prints after the program's
// name: v1.2.3 (commit 0123abcd, built 2026-12-04T19:00:00Z, go1.26.8).
func (b BuildInfo) String() string {
	var parts []string
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if b.Modified {
			c += "+modified"
		}
		parts = append(parts, "commit "+c)
	}
	if b.BuildDate != "" {
		parts = append(parts, "built "+b.BuildDate)
	}
	parts = append(parts, b.Go)
	return fmt.Sprintf("%s (%s)", b.Version, strings.Join(parts, ", "))
}
