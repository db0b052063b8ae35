// Package buildinfo says which build is running, for `version` commands and the records
// that name the build that wrote them (a backup's manifest).
package buildinfo

import "runtime/debug"

// Version returns the build's version: the main module's version and, when the build
// recorded it, its VCS revision ("(devel)" for a plain go build of a work tree).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v
}
