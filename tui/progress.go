package tui

import (
	"fmt"
	"strings"
)

// ProgressBar draws done/total as a bar of width cells with the percentage.
func ProgressBar(env Env, done, total int64, width int) string {
	pct := 0
	if total > 0 {
		pct = int(min(max(done, 0), total) * 100 / total)
	}
	label := fmt.Sprintf(" %3d%%", pct)
	bw := max(width-len(label), 1)
	full := bw * pct / 100
	return env.Styles.OK.Render(strings.Repeat("█", full)) +
		env.Styles.Muted.Render(strings.Repeat("░", bw-full)) + label
}
