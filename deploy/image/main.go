// Command image builds moonwake's container image without Docker, as the
// Dockerfile at the repository's root does: the static binary of
// ./cmd/moonwake for each platform on an empty (scratch) base, with the CA
// bundle, a passwd entry for the non-root user 65532, /tmp and /data, and the
// same configuration. It writes an OCI image layout: a directory that
// skopeo, crane, podman and `docker buildx imagetools` read, with one image
// index (tagged with the version) holding an image per platform.
//
//	go -C deploy run ./image -out /tmp/moonwake-oci -version v0.1.0
//	skopeo copy --all oci:/tmp/moonwake-oci:v0.1.0 docker://registry.example/moonwake:v0.1.0
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// options say what to build and where.
type options struct {
	src       string   // the moonwake module's directory
	out       string   // the OCI layout to write (made or appended to)
	platforms []string // such as linux/amd64
	version   string   // moonwake.Version and the image's version label
	revision  string   // the commit, for the revision label
	caBundle  string   // the CA certificates to ship
	created   time.Time
}

// The non-root user the image runs as, and its passwd and group entries, as
// the Dockerfile writes them.
const (
	uid    = 65532
	passwd = "nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n"
	group  = "nonroot:x:65532:\n"
)

func main() {
	o := options{created: time.Unix(0, 0).UTC()}
	var platforms string
	flag.StringVar(&o.src, "src", "..", "the moonwake module's `directory`")
	flag.StringVar(&o.out, "out", "moonwake-oci", "the OCI image layout `directory` to write")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated `platforms` to build")
	flag.StringVar(&o.version, "version", "dev", "the `version` (moonwake.Version and the image label)")
	flag.StringVar(&o.revision, "revision", "unknown", "the `commit` the image is built from")
	flag.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "the CA certificates `file` to ship (Debian's ca-certificates)")
	flag.Parse()
	o.platforms = strings.Split(platforms, ",")
	// Reproducible builds: the creation time comes from the commit, if given.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	if err := build(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote oci:%s:%s\n", o.out, o.version)
}

// build writes the image index for o.platforms into the layout o.out.
func build(ctx context.Context, o options) error {
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("CA bundle (apt-get install ca-certificates): %w", err)
	}
	base, err := layer(baseFiles(ca, o.created))
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "moonwake-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		platform, err := v1.ParsePlatform(p)
		if err != nil {
			return err
		}
		if platform.OS != "linux" {
			return fmt.Errorf("platform %s: the image is for linux", p)
		}
		bin := filepath.Join(tmp, "moonwake-"+platform.Architecture+platform.Variant)
		if err := goBuild(ctx, o, *platform, bin); err != nil {
			return err
		}
		exe, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		top, err := layer([]file{{name: "moonwake", mode: 0o755, body: exe, mtime: o.created}})
		if err != nil {
			return err
		}
		img, err := image(o, *platform, base, top)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: platform},
		})
	}

	lp, err := layout.FromPath(o.out)
	if err != nil {
		if lp, err = layout.Write(o.out, empty.Index); err != nil {
			return err
		}
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		// The tag: oci:DIR:VERSION.
		"org.opencontainers.image.ref.name": o.version,
	}))
}

// goBuild builds the static binary of ./cmd/moonwake for one platform.
func goBuild(ctx context.Context, o options, p v1.Platform, out string) error {
	// The same stamps as the Dockerfile's: version, commit, build date (the
	// image's creation time, so a reproducible build stays one).
	ldflags := "-s -w -X github.com/moonwake/moonwake.Version=" + o.version +
		" -X github.com/moonwake/moonwake.BuildDate=" + o.created.Format(time.RFC3339)
	if o.revision != "unknown" {
		ldflags += " -X github.com/moonwake/moonwake.Commit=" + o.revision
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/moonwake")
	cmd.Dir = o.src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w\n%s", p.OS, p.Architecture, err, b)
	}
	return nil
}

// image is one platform's image: the shared base layer, the binary's layer,
// and the Dockerfile's configuration.
func image(o options, p v1.Platform, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: o.created}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{"/moonwake"},
		Cmd:          []string{"serve"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"MOONWAKE_DATA=/data",
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "moonwake",
			"org.opencontainers.image.description": "Wake PCs with Wake-on-LAN, know their true power state, shut them down with proof",
			"org.opencontainers.image.source":      "https://github.com/moonwake/moonwake",
			"org.opencontainers.image.version":     o.version,
			"org.opencontainers.image.revision":    o.revision,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of a layer; a name ending in / is a directory.
type file struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte
	mtime    time.Time
}

// baseFiles are the files every platform shares: what scratch lacks for a
// Go server that runs as a user and makes TLS connections.
func baseFiles(ca []byte, mtime time.Time) []file {
	return []file{
		{name: "data/", mode: 0o755, uid: uid, gid: uid, mtime: mtime},
		{name: "etc/", mode: 0o755, mtime: mtime},
		{name: "etc/group", mode: 0o644, body: []byte(group), mtime: mtime},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd), mtime: mtime},
		{name: "etc/ssl/", mode: 0o755, mtime: mtime},
		{name: "etc/ssl/certs/", mode: 0o755, mtime: mtime},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca, mtime: mtime},
		{name: "tmp/", mode: 0o1777, mtime: mtime},
	}
}

// layer makes an OCI layer (gzip) of files, byte for byte the same for the
// same files.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: f.mtime, Format: tar.FormatPAX}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) == 0 {
		return nil, errors.New("empty layer")
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
