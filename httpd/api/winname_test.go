package api

import (
	"net/url"
	"strings"
	"testing"
)

// TestAttackWindowsDeviceAndDriveNames: a zip entry or a download name must never become, on
// the recipient's Windows machine, a drive path ("C:"), an alternate data stream ("a:b"), a
// wildcard, a device (CON, COM1.txt, lpt¹) or a name Windows silently shortens ("a.exe. "
// opening as "a.exe") (issue 16 item 9).
func TestAttackWindowsDeviceAndDriveNames(t *testing.T) {
	for _, tc := range []struct{ name, in, zip, download string }{
		{"plain", "rapport.pdf", "rapport.pdf", "rapport.pdf"},
		{"drive", "C:", "C_", "C_"},
		{"drive path", "C:evil.exe", "C_evil.exe", "C_evil.exe"},
		{"stream", "a.txt:secret", "a.txt_secret", "a.txt_secret"},
		{"wildcards", `a*b?c"d<e>f|g`, "a_b_c_d_e_f_g", "a_b_c_d_e_f_g"},
		{"trailing dots", "a.exe...", "a.exe", "a.exe"},
		{"trailing spaces", "a.exe  ", "a.exe", "a.exe"},
		{"trailing dots and spaces", "a.exe. . ", "a.exe", "a.exe"},
		{"only dots and spaces", ". . .", "file", "download"},
		{"device", "CON", "_CON", "_CON"},
		{"device lower case", "nul", "_nul", "_nul"},
		{"device with extension", "aux.txt", "_aux.txt", "_aux.txt"},
		{"device with two extensions", "PRN.tar.gz", "_PRN.tar.gz", "_PRN.tar.gz"},
		{"device with space before extension", "CON .txt", "_CON .txt", "_CON .txt"},
		{"com port", "COM1", "_COM1", "_COM1"},
		{"com port superscript", "com¹.txt", "_com¹.txt", "_com¹.txt"},
		{"lpt port", "LPT9.log", "_LPT9.log", "_LPT9.log"},
		{"console", "CONIN$", "_CONIN$", "_CONIN$"},
		{"not a device", "CONTRACT.pdf", "CONTRACT.pdf", "CONTRACT.pdf"},
		{"not a port", "COM10.txt", "COM10.txt", "COM10.txt"},
		{"device after trimming", "NUL.", "_NUL", "_NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := zipName("", tc.in, map[string]int{}); got != tc.zip {
				t.Errorf("zip entry %q, want %q", got, tc.zip)
			}
			if got := zipName(tc.in, "x.txt", map[string]int{}); got != strings.ReplaceAll(tc.zip, "file", "_")+"/x.txt" {
				t.Errorf("zip folder %q, want %q", got, tc.zip+"/x.txt")
			}
			cd := contentDisposition(tc.in)
			_, star, _ := strings.Cut(cd, "filename*=UTF-8''")
			got, err := url.PathUnescape(star)
			if err != nil {
				t.Fatalf("filename* %q: %v", star, err)
			}
			if got != tc.download {
				t.Errorf("download name %q, want %q", got, tc.download)
			}
			fb, _, _ := strings.Cut(strings.TrimPrefix(cd, `attachment; filename="`), `"`)
			checkWindowsSafe(t, fb)
		})
	}
}

// checkWindowsSafe fails when name is no plain Windows file name.
func checkWindowsSafe(t *testing.T, name string) {
	t.Helper()
	if name == "" {
		t.Fatalf("empty name")
	}
	if strings.ContainsAny(name, `:*?"<>|/\`) {
		t.Fatalf("name %q holds a character Windows refuses", name)
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		t.Fatalf("name %q ends in a dot or space", name)
	}
	if reservedDevice(name) {
		t.Fatalf("name %q is a Windows device", name)
	}
}

// FuzzWindowsSafeNames: whatever a file's folder and name hold, every element of its zip
// entry, the download name and its ASCII fallback are plain Windows file names (issue 16
// item 9).
func FuzzWindowsSafeNames(f *testing.F) {
	for _, s := range [][2]string{{"", "CON"}, {"C:", "a.txt:b"}, {"a/NUL. ", "lpt1 .txt. "}, {"x", `*?"<>|`}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, folder, name string) {
		for _, e := range strings.Split(zipName(folder, name, map[string]int{}), "/") {
			checkWindowsSafe(t, e)
		}
		cd := contentDisposition(name)
		_, star, _ := strings.Cut(cd, "filename*=UTF-8''")
		got, err := url.PathUnescape(star)
		if err != nil {
			t.Fatalf("filename* %q: %v", star, err)
		}
		checkWindowsSafe(t, got)
		fb, _, _ := strings.Cut(strings.TrimPrefix(cd, `attachment; filename="`), `"`)
		checkWindowsSafe(t, fb)
	})
}
