package api

import "strings"

// windowsSafe makes one file or folder name something Windows saves as the name it reads,
// never a drive, stream or device path (issue 16 item 9): the characters Windows refuses
// (: * ? " < > | and the separators / \) become "_", trailing dots and spaces go (Windows
// drops them, so "a.exe." would open as "a.exe"), and a reserved device name (CON, PRN, AUX,
// NUL, COM0-9, LPT0-9, with or without an extension) gets a leading "_". The result may be
// empty: the caller picks its placeholder.
func windowsSafe(elem string) string {
	elem = strings.Map(func(r rune) rune {
		switch r {
		case ':', '*', '?', '"', '<', '>', '|', '/', '\\':
			return '_'
		}
		return r
	}, elem)
	elem = strings.TrimRight(elem, ". ")
	if reservedDevice(elem) {
		elem = "_" + elem
	}
	return elem
}

// reservedDevice reports whether Windows opens name as a device: its part before the first
// dot, trailing spaces dropped, is a device name in any case.
func reservedDevice(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if !strings.HasPrefix(base, "COM") && !strings.HasPrefix(base, "LPT") {
		return false
	}
	switch base[3:] {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}
