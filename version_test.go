package moonwake

import (
	"runtime/debug"
	"testing"
)

func TestBuildInfo(t *testing.T) {
	vcs := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
				{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, true
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		read                  func() (*debug.BuildInfo, bool)
		want                  BuildInfo
	}{
		{"stamped by the release build", "v1.2.3", "fedcba9876543210", "2026-12-04T19:00:00Z", vcs,
			BuildInfo{Version: "v1.2.3", Commit: "fedcba9876543210", BuildDate: "2026-12-04T19:00:00Z"}},
		{"built in a checkout", "dev", "", "", vcs,
			BuildInfo{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", BuildDate: "2026-12-01T10:00:00Z", Modified: true}},
		{"go install …@v0.2.0", "dev", "", "", installed, BuildInfo{Version: "v0.2.0"}},
		{"nothing known", "dev", "", "", none, BuildInfo{Version: "dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildInfo(tc.version, tc.commit, tc.date, tc.read)
			got.Go = ""
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	b := BuildInfo{Version: "v1.2.3", Commit: "0123456789abcdef", BuildDate: "2026-12-04T19:00:00Z", Modified: true, Go: "go1.26.8"}
	if got, want := b.String(), "v1.2.3 (commit 0123456789ab+modified, built 2026-12-04T19:00:00Z, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
