package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54}, // the lightest grey that passes AA on white
		{"#777777", "#ffffff", 4.48},
		{"#0b5cad", "#ffffff", 6.67}, // Valise's own brand colour
	} {
		if got := contrast(tc.a, tc.b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCheckBrandColor(t *testing.T) {
	for _, tc := range []struct {
		c    string
		dark bool
		ok   bool
	}{
		{"#0b5cad", false, true},
		{"#767676", false, true},
		{"#777777", false, false},
		{"#ffcc00", false, false},
		{"#7db8f5", true, true},
		{"#0b5cad", true, false},
		{"0b5cad", false, false},
		{"", false, false},
	} {
		err := CheckBrandColor(tc.c, tc.dark)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBrandColor(%q, dark %v) = %v, want ok %v", tc.c, tc.dark, err, tc.ok)
		}
	}
	err := CheckBrandColor("#ffcc00", false)
	if err == nil || !strings.Contains(err.Error(), "choose a darker colour") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
}

// TestBrandColoursReadable checks, for many random brand colours an administrator may set,
// that the pages stay readable (WCAG 2.1 AA) in both schemes: the button text on the light
// colour, the derived dark colour on the dark background, and the button text on it.
func TestBrandColoursReadable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tried := 0
	for tried < 2000 {
		c := fmt.Sprintf("#%06x", rng.IntN(1<<24))
		if CheckBrandColor(c, false) != nil {
			continue
		}
		tried++
		if r := contrast(c, textOn(c)); r < minContrast {
			t.Fatalf("%s: button text %s at %.2f:1", c, textOn(c), r)
		}
		d := darkFromLight(c)
		if err := CheckBrandColor(d, true); err != nil {
			t.Fatalf("%s: derived dark colour %s: %v", c, d, err)
		}
		if r := contrast(d, textOn(d)); r < minContrast {
			t.Fatalf("%s: dark button text %s on %s at %.2f:1", c, textOn(d), d, r)
		}
	}
	css := string(brandCSS(Colors{Brand: "#0b5cad"}))
	if !strings.Contains(css, ":root { --brand: #0b5cad; --brand-fg: #ffffff; }") || !strings.Contains(css, "prefers-color-scheme: dark") {
		t.Fatalf("brand.css for a light colour only:\n%s", css)
	}
	if css := string(brandCSS(Colors{})); strings.Contains(css, "--brand") {
		t.Fatalf("brand.css without branding overrides the palette:\n%s", css)
	}
}

func tinyPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	img.Set(1, 1, color.RGBA{R: 0x6a, G: 0x1b, B: 0x9a, A: 0xff})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseLogo(t *testing.T) {
	pngData := tinyPNG(t)
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`)
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, in, wantType, wantErr string
	}{
		{"none", "", "", ""},
		{"png", "data:image/png;base64," + b64(pngData), "image/png", ""},
		{"svg", "data:image/svg+xml;base64," + b64(svg), "image/svg+xml", ""},
		{"png without a type", "data:;base64," + b64(pngData), "image/png", ""},
		{"svg without a type", "data:;base64," + b64(svg), "image/svg+xml", ""},
		{"text without a type", "data:;base64," + b64([]byte("not an image")), "", "the logo is not an image"},
		{"upper-case type", "data:IMAGE/PNG;base64," + b64(pngData), "image/png", ""},
		{"a URL", "https://example.org/logo.png", "", "must be a data: URL"},
		{"not base64", "data:image/png," + string(pngData), "", "must be base64"},
		{"damaged base64", "data:image/png;base64,!!!!", "", "base64 is damaged"},
		{"text", "data:text/html;base64," + b64([]byte("<script>")), "", `logo type "text/html"`},
		{"png that is not", "data:image/png;base64," + b64([]byte("GIF89a......")), "", "its bytes are not (they are image/gif)"},
		{"svg that is html", "data:image/svg+xml;base64," + b64([]byte("<html><script>alert(1)</script>")), "", "its bytes are not (not an image"},
		{"empty", "data:image/png;base64,", "", "empty"},
		{"too large", "data:image/png;base64," + b64(append(bytes.Clone(pngData), make([]byte, MaxLogoBytes)...)), "", "larger than 96 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLogo(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseLogo = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || l.ContentType != tc.wantType {
				t.Fatalf("ParseLogo = %q, %v; want %q", l.ContentType, err, tc.wantType)
			}
		})
	}
}

func FuzzParseLogo(f *testing.F) {
	f.Add("data:;base64," + base64.StdEncoding.EncodeToString(tinyPNG(f)))
	f.Add("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte("<svg/>")))
	f.Add("data:image/png;base64,AAAA")
	f.Add("data:;base64,")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseLogo(in)
		if err != nil || in == "" {
			return
		}
		// Whatever is accepted is a known image type within the size, and reads back the same.
		if !knownLogoType(l.ContentType) || len(l.Data) == 0 || len(l.Data) > MaxLogoBytes {
			t.Fatalf("accepted %q with %d bytes", l.ContentType, len(l.Data))
		}
		again, err := ParseLogo("data:;base64," + base64.StdEncoding.EncodeToString(l.Data))
		if err != nil || !bytes.Equal(again.Data, l.Data) {
			t.Fatalf("accepted logo does not round-trip: %v", err)
		}
	})
}
