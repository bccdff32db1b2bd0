// Command mkicons draws the web app's PNG icons (the same picture as
// static/icons/icon.svg: a crescent moon and a green dot on a dark rounded
// square) at the sizes browsers and phones ask for. Run it with
// go generate ./web; the PNGs are committed.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

var (
	bg    = color.NRGBA{0x1b, 0x20, 0x33, 0xff}
	moon  = color.NRGBA{0xff, 0xd6, 0x6b, 0xff}
	green = color.NRGBA{0x6b, 0xe3, 0xa4, 0xff}
)

func main() {
	out := flag.String("out", "static/icons", "the directory to write the PNGs to")
	flag.Parse()
	icons := []struct {
		name     string
		size     int
		maskable bool // full-bleed background, picture inside the safe zone
	}{
		{"icon-192.png", 192, false},
		{"icon-512.png", 512, false},
		{"maskable-192.png", 192, true},
		{"maskable-512.png", 512, true},
		{"apple-touch-icon.png", 180, true}, // iOS rounds the corners itself
	}
	for _, ic := range icons {
		if err := write(filepath.Join(*out, ic.name), draw(ic.size, ic.maskable)); err != nil {
			log.Fatal(err)
		}
	}
}

func write(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// draw renders the icon at size×size pixels, 4×4 supersampled. Coordinates
// are those of the SVG (a 512 square).
func draw(size int, maskable bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := 512 / float64(size)
	// A maskable icon keeps its picture in the central 80 % circle.
	shrink := 1.0
	if maskable {
		shrink = 0.78
	}
	const ss = 4
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) * scale
					y := (float64(py) + (float64(sy)+0.5)/ss) * scale
					c, ok := sample(x, y, maskable, shrink)
					if !ok {
						continue
					}
					r += float64(c.R)
					g += float64(c.G)
					b += float64(c.B)
					a++
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				uint8(r / a), uint8(g / a), uint8(b / a), uint8(math.Round(a / (ss * ss) * 255)),
			})
		}
	}
	return img
}

// sample is the colour at (x, y), and false outside the icon.
func sample(x, y float64, maskable bool, shrink float64) (color.NRGBA, bool) {
	if !maskable && !inRoundedRect(x, y, 512, 112) {
		return color.NRGBA{}, false
	}
	// Picture coordinates, shrunk about the centre for maskable icons.
	u := 256 + (x-256)/shrink
	v := 256 + (y-256)/shrink
	switch {
	case within(u, v, 372, 356, 26):
		return green, true
	case within(u, v, 256, 256, 150) && !within(u, v, 322, 208, 132):
		return moon, true
	}
	return bg, true
}

func within(x, y, cx, cy, r float64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }

func inRoundedRect(x, y, size, r float64) bool {
	cx := math.Max(r, math.Min(size-r, x))
	cy := math.Max(r, math.Min(size-r, y))
	return within(x, y, cx, cy, r)
}
