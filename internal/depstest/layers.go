package depstest

// The maps below are the parts of the direction in docs/style.md §1 that many rules share.
// Each call returns a fresh map, so a rule may add to it.

// TestOnly denies the packages that exist for tests alone, to production packages.
func TestOnly() map[string]string {
	const why = "a test-support package: production code never imports it"
	return map[string]string{
		"valise/internal/checkgate": why,
		"valise/internal/depstest":  why,
		"valise/internal/poll":      why,
		"valise/internal/testlog":   why,
	}
}

// AboveHTTPD denies the layers above httpd (only cmd imports node, and nothing imports cmd)
// and, with TestOnly, the test-support packages.
func AboveHTTPD() map[string]string {
	return Merge(TestOnly(), map[string]string{
		"valise/cmd/...":  "imports point from cmd down, never back",
		"valise/node/...": "nothing but cmd imports the composition root",
		"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
	})
}

// AboveDomain denies the layers above the domain packages: the front ends call the domain, not
// the reverse, and the domain speaks no HTTP.
func AboveDomain() map[string]string {
	return Merge(AboveHTTPD(), map[string]string{
		"valise/httpd/...":                "front ends call domain packages, not the reverse",
		"valise/tui/...":                  "front ends call domain packages, not the reverse",
		"github.com/valyala/fasthttp/...": "no HTTP in the domain",
	})
}

// Stores denies the stores and the engines under them, for httpd, which reaches metadata and
// bytes only through the domain packages (issue 17, "httpd imports no store").
func Stores() map[string]string {
	return map[string]string{
		"valise/raftfsm/...":                 "httpd reaches the metadata through the domain, never raftfsm",
		"valise/blobstore/...":               "httpd reaches file bytes through the domain, never blobstore",
		"github.com/dgraph-io/badger/v4/...": "httpd never touches Badger",
		"github.com/hashicorp/raft":          "httpd never touches Raft",
	}
}

// Merge returns one map holding every entry of ms; a later map wins on a shared key.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
