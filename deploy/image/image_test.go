package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageMatchesDockerfile builds the image into an OCI layout, reads the
// layout back as a registry client would, and checks each platform's image:
// its configuration is the Dockerfile's (user, entrypoint, command, port,
// environment, labels), and its files are a static binary for that
// platform that runs, the CA bundle, and the user's passwd entry.
//
// It builds for this machine's architecture, and for both amd64 and arm64
// when MOONWAKE_IMAGE_PLATFORMS=all.
func TestImageMatchesDockerfile(t *testing.T) {
	platforms := []string{"linux/" + runtime.GOARCH}
	if os.Getenv("MOONWAKE_IMAGE_PLATFORMS") == "all" {
		platforms = []string{"linux/amd64", "linux/arm64"}
	}
	const version, revision = "v9.9.9-test", "0123abcd"
	out := filepath.Join(t.TempDir(), "oci")
	start := time.Now()
	o := options{src: "../..", out: out, platforms: platforms, version: version, revision: revision,
		caBundle: "/etc/ssl/certs/ca-certificates.crt", created: time.Unix(1700000000, 0).UTC()}
	if err := build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %v in %s", platforms, time.Since(start).Round(time.Millisecond))

	want := dockerfile(t, "../../Dockerfile", map[string]string{"VERSION": version, "REVISION": revision})
	root, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Manifests) != 1 || rm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Fatalf("layout index %+v; want one index tagged %s", rm.Manifests, version)
	}
	idx, err := root.ImageIndex(rm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		got = append(got, d.Platform.String())
		t.Run(d.Platform.String(), func(t *testing.T) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != d.Platform.OS || cf.Architecture != d.Platform.Architecture {
				t.Errorf("config says %s/%s, index says %s", cf.OS, cf.Architecture, d.Platform)
			}
			c := cf.Config
			if c.User != want.user || !slices.Equal(c.Entrypoint, want.entrypoint) || !slices.Equal(c.Cmd, want.cmd) {
				t.Errorf("user %q, entrypoint %q, cmd %q; the Dockerfile says %q, %q, %q", c.User, c.Entrypoint, c.Cmd, want.user, want.entrypoint, want.cmd)
			}
			if !slices.Equal(slices.Sorted(maps.Keys(c.ExposedPorts)), want.expose) {
				t.Errorf("exposed ports %v; the Dockerfile says %v", slices.Sorted(maps.Keys(c.ExposedPorts)), want.expose)
			}
			if !maps.Equal(c.Labels, want.labels) {
				t.Errorf("labels %v; the Dockerfile says %v", c.Labels, want.labels)
			}
			for _, e := range want.env {
				if !slices.Contains(c.Env, e) {
					t.Errorf("env %q lacks the Dockerfile's %s", c.Env, e)
				}
			}
			checkFiles(t, img, d.Platform)
		})
	}
	if !slices.Equal(got, platforms) {
		t.Errorf("the index holds %v; want %v", got, platforms)
	}
}

// checkFiles reads the image's file system and checks what the hub needs
// from it; the binary is run when this machine can.
func checkFiles(t *testing.T, img v1.Image, p *v1.Platform) {
	t.Helper()
	files := map[string]*tar.Header{}
	bodies := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		files[name] = h
		if bodies[name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	ca, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if !bytes.Equal(bodies["etc/ssl/certs/ca-certificates.crt"], ca) || len(ca) == 0 {
		t.Error("the image's CA bundle is not Debian's")
	}
	if !strings.Contains(string(bodies["etc/passwd"]), "nonroot:x:65532:65532:") || !strings.Contains(string(bodies["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("passwd %q, group %q; want the user and group 65532", bodies["etc/passwd"], bodies["etc/group"])
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v; want a directory with mode 1777", h)
	}
	if h := files["data"]; h == nil || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("/data: %+v; want a directory owned by 65532", h)
	}
	h := files["moonwake"]
	if h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("/moonwake: %+v; want an executable", h)
	}
	f, err := elf.NewFile(bytes.NewReader(bodies["moonwake"]))
	if err != nil {
		t.Fatalf("/moonwake: %v", err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Architecture]
	if f.Machine != machine {
		t.Errorf("/moonwake is for %s; want %s", f.Machine, machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("/moonwake asks for a dynamic loader; scratch has none, it must be static")
		}
	}
	if p.Architecture != runtime.GOARCH || runtime.GOOS != "linux" {
		return
	}
	exe := filepath.Join(t.TempDir(), "moonwake")
	if err := os.WriteFile(exe, bodies["moonwake"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	// The build stamps the version, the commit and the build date.
	const want = "moonwake v9.9.9-test (commit 0123abcd, built 2023-11-14T22:13:20Z, "
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), want) {
		t.Errorf("moonwake version: %q, %v; want %q…", out, err, want)
	}
}

// dockerConfig is what the Dockerfile's last stage says about the image.
type dockerConfig struct {
	user            string
	entrypoint, cmd []string
	expose, env     []string
	labels          map[string]string
}

// dockerfile reads the instructions of the Dockerfile's last stage that
// make the image's configuration, with build arguments substituted.
func dockerfile(t *testing.T, path string, args map[string]string) dockerConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	cont := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont += s + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	subst := func(s string) string {
		for k, v := range args {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		return s
	}
	c := dockerConfig{labels: map[string]string{}}
	pair := regexp.MustCompile(`([\w./-]+)="([^"]*)"`)
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			c = dockerConfig{labels: map[string]string{}} // a new stage: only the last counts
		case "USER":
			c.user = rest
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				c.expose = append(c.expose, p)
			}
		case "ENV":
			c.env = append(c.env, subst(rest))
		case "LABEL":
			for _, m := range pair.FindAllStringSubmatch(rest, -1) {
				c.labels[m[1]] = subst(m[2])
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s %s: want the exec (JSON) form: %v", word, rest, err)
			}
			if word == "CMD" {
				c.cmd = v
			} else {
				c.entrypoint = v
			}
		}
	}
	if c.user == "" || len(c.entrypoint) == 0 || len(c.labels) == 0 {
		t.Fatalf("read nothing from %s: %+v", path, c)
	}
	slices.Sort(c.expose)
	return c
}
