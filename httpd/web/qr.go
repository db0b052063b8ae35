package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// qrSize is a QR code's side in pixels.
const qrSize = 192

// qrDataURL renders s as a QR code, a PNG in a data: URL (the CSP allows data: images), so a
// phone can open a link shown on the screen. Rendered server-side: no script involved.
func qrDataURL(s string) (template.URL, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("encode QR code: %w", err)
	}
	code, err = barcode.Scale(code, qrSize, qrSize)
	if err != nil {
		return "", fmt.Errorf("scale QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return "", fmt.Errorf("encode QR PNG: %w", err)
	}
	// The value is built here from our own PNG bytes: safe as a URL.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}
