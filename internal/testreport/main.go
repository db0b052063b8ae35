// Command testreport reads a `go test -json` log and prints what a person needs from it: the
// output of every failed test or package, the slowest tests, and one closing count line.
//
// Usage:
//
//	testreport LOG                       summarise a finished run
//	go test -json ... | testreport -progress LOG
//	                                     copy the run to LOG while printing one line per
//	                                     finished package, so a long suite shows it is alive
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type result struct {
	name    string
	elapsed float64
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-progress" {
		f, err := os.Create(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(2)
		}
		err = progress(os.Stdin, f, os.Stdout, time.Now)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testreport LOG | testreport -progress LOG")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
		os.Exit(2)
	}
	defer f.Close()
	if err := report(f, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
		os.Exit(2)
	}
}

func report(r io.Reader, w io.Writer) error {
	outputs := map[string]*strings.Builder{} // key: package + " " + test
	var passed, failed, skipped int
	var slow []result
	var failures []string
	var stray []string // lines that are not JSON: build errors
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			stray = append(stray, string(line))
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			b := outputs[key]
			if b == nil {
				b = &strings.Builder{}
				outputs[key] = b
			}
			if b.Len() < 64<<10 {
				b.WriteString(ev.Output)
			}
		case "pass":
			if ev.Test != "" {
				passed++
				slow = append(slow, result{ev.Package + "." + ev.Test, ev.Elapsed})
			}
			delete(outputs, key)
		case "skip":
			if ev.Test != "" {
				skipped++
			}
			delete(outputs, key)
		case "fail":
			if ev.Test != "" {
				failed++
			}
			failures = append(failures, key)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, s := range stray {
		fmt.Fprintln(w, s)
	}
	for _, key := range failures {
		fmt.Fprintf(w, "--- FAIL: %s\n", key)
		if b := outputs[key]; b != nil {
			fmt.Fprint(w, b.String())
		}
	}
	sort.Slice(slow, func(i, j int) bool { return slow[i].elapsed > slow[j].elapsed })
	if len(slow) > 15 {
		slow = slow[:15]
	}
	fmt.Fprintln(w, "slowest tests:")
	for _, s := range slow {
		fmt.Fprintf(w, "  %7.2fs  %s\n", s.elapsed, s.name)
	}
	line := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if skipped > 0 {
		line += fmt.Sprintf(", %d skipped", skipped)
	}
	fmt.Fprintln(w, line)
	return nil
}

// progress copies a `go test -json` stream from r to log and prints to w one line per
// package as it finishes (its result, its own time and the run's time so far), and every
// line that is not JSON (build errors) as it comes.
func progress(r io.Reader, log io.Writer, w io.Writer, now func() time.Time) error {
	start := now()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if _, err := log.Write(append(line, '\n')); err != nil {
			return err
		}
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintln(w, string(line))
			continue
		}
		if ev.Test != "" {
			continue
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			word := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[ev.Action]
			fmt.Fprintf(w, "%s %-40s %7.1fs   (%s)\n", word, ev.Package, ev.Elapsed,
				now().Sub(start).Round(time.Second))
		}
	}
	return sc.Err()
}
