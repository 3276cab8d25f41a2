package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's examples are answers a test checks, so that they cannot
// drift from what the gateway does: every query of "Example queries" runs
// against the program in -demo mode and must answer what the README shows,
// and every snippet of "From a frontend" marked with the file it comes from
// is that file's code, which the e2e tests run.

// fence is one fenced code block of the README, with the HTML comment
// (if any) on the lines just before it.
type fence struct {
	lang, body, comment string
	line                int
}

// readmeSection is the text of the README's section whose heading starts
// with heading, up to the next heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "\n"+heading)
	require.GreaterOrEqual(t, start, 0, "README has a section %q", heading)
	rest := text[start+1:]
	if end := strings.Index(rest[len(heading):], "\n## "); end >= 0 {
		rest = rest[:len(heading)+end+1]
	}
	return rest
}

var commentLine = regexp.MustCompile(`^<!--\s*(.*?)\s*-->$`)

// fences lists the fenced code blocks of text in order.
func fences(text string) []fence {
	var out []fence
	var cur *fence
	var body []string
	comment := ""
	for i, line := range strings.Split(text, "\n") {
		switch {
		case cur != nil && line == "```":
			cur.body = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur, body, comment = nil, nil, ""
		case cur != nil:
			body = append(body, line)
		case strings.HasPrefix(line, "```"):
			cur = &fence{lang: strings.TrimPrefix(line, "```"), comment: comment, line: i + 1}
		case commentLine.MatchString(line):
			comment = commentLine.FindStringSubmatch(line)[1]
		case strings.TrimSpace(line) != "":
			comment = "" // a comment marks only the block right after it
		}
	}
	return out
}

// example is a query of the README, its variables (a ```json variables
// block right after it) and the answer it shows.
type example struct {
	name, query, variables, answer string
}

// readmeExamples pairs each graphql block with the json block right after
// it: an answer without its query, or a query without its answer, fails.
func readmeExamples(t *testing.T, section string) []example {
	t.Helper()
	var out []example
	blocks := fences(section)
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		switch b.lang {
		case "graphql":
			ex := example{name: fmt.Sprintf("line %d: %s", b.line, oneLine(b.body, 60)), query: b.body}
			if i+1 < len(blocks) && blocks[i+1].lang == "json variables" {
				ex.variables = blocks[i+1].body
				i++
			}
			require.True(t, i+1 < len(blocks) && blocks[i+1].lang == "json",
				"the query at line %d of the section has its answer (```json) right after it", b.line)
			ex.answer = blocks[i+1].body
			out = append(out, ex)
			i++
		case "json":
			t.Errorf("the answer at line %d of the section has no query (```graphql) before it", b.line)
		}
	}
	return out
}

// oneLine is the start of a query on one line, to name its test.
func oneLine(query string, max int) string {
	s := strings.Join(strings.Fields(query), " ")
	if len(s) > max {
		s = s[:max]
	}
	return s
}

// elided marks where the README cuts a list short (", ...]") with this
// string, as the list's last element.
const elided = "…the rest"

var ellipsis = regexp.MustCompile(`,\s*\.\.\.\s*\]`)

// sameJSON reports where got differs from want: objects have the same
// keys, lists the same length (or, when want ends with elided, at least
// its other elements first), and values are equal.
func sameJSON(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var diffs []string
		for k := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: in the answer, not in the README", path, k))
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: in the README, not in the answer", path, k))
				continue
			}
			diffs = append(diffs, sameJSON(wv, gv, path+"."+k)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a list, got %v", path, got)}
		}
		cut := len(w) > 0 && w[len(w)-1] == elided
		if cut {
			w = w[:len(w)-1]
		}
		if len(g) < len(w) || (!cut && len(g) != len(w)) {
			return []string{fmt.Sprintf("%s: want %d elements (more when cut short: %t), got %d", path, len(w), cut, len(g))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, sameJSON(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

// startDemo runs the program as `go run . -demo` does, on a loopback
// listener, until the test ends; it returns the base URL.
func startDemo(t *testing.T) string {
	t.Helper()
	ln := loopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"-demo"}, env(nil), io.Discard, io.Discard, listeners{main: ln}) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	base := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		status, _ := get(base + "/healthz")
		return status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	return base
}

func TestREADMEExampleQueriesAnswerAsShown(t *testing.T) {
	t.Parallel()
	examples := readmeExamples(t, readmeSection(t, "## Example queries"))
	require.GreaterOrEqual(t, len(examples), 6, "the section's examples")
	runExamples(t, startDemo(t), examples)
}

// The lifecycle, in order on one -demo gateway: create, list, sign in,
// refusals.
func TestREADMELifecycleAnswersAsShown(t *testing.T) {
	t.Parallel()
	examples := readmeExamples(t, readmeSection(t, "## Creating customers and signing them in"))
	require.GreaterOrEqual(t, len(examples), 4, "the section's examples")
	runExamples(t, startDemo(t), examples)
}

// runExamples runs each example in turn and compares its answer.
func runExamples(t *testing.T, base string, examples []example) {
	t.Helper()
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			params := map[string]any{"query": ex.query}
			if ex.variables != "" {
				var vars any
				require.NoError(t, json.Unmarshal([]byte(ex.variables), &vars), "the variables are JSON")
				params["variables"] = vars
			}
			req, err := json.Marshal(params)
			require.NoError(t, err)
			resp, err := http.Post(base+"/query", "application/json", strings.NewReader(string(req)))
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "every example is an HTTP 200 answer")

			var want, got any
			require.NoError(t, json.Unmarshal([]byte(ellipsis.ReplaceAllString(ex.answer, `, "`+elided+`"]`)), &want),
				"the README's answer is JSON (with , ...] where a list is cut short)")
			require.NoError(t, json.Unmarshal(body, &got))
			for _, d := range sameJSON(want, got, "answer") {
				t.Error(d)
			}
			if t.Failed() {
				t.Logf("the gateway answers:\n%s", body)
			}
		})
	}
}

// TestREADMEFrontendSnippetsAreTheTestedCode: each snippet of "From a
// frontend" marked <!-- from e2e/... --> is, verbatim, in that file.
func TestREADMEFrontendSnippetsAreTheTestedCode(t *testing.T) {
	t.Parallel()
	from := map[string]bool{}
	for _, b := range fences(readmeSection(t, "## From a frontend")) {
		file, ok := strings.CutPrefix(b.comment, "from ")
		if !ok {
			continue
		}
		from[file] = true
		code, err := os.ReadFile(file)
		require.NoError(t, err, "the snippet at line %d of the section", b.line)
		assert.True(t, strings.Contains(string(code), b.body),
			"the snippet at line %d of the section is not in %s as it is: copy it from there again", b.line, file)
	}
	for _, file := range []string{
		"e2e/frontend/apollo.mjs", "e2e/frontend/urql.mjs", "e2e/frontend/relay/customers.js",
		"e2e/frontend/relay/environment.mjs", "e2e/frontend/relay/relay.config.json",
		"e2e/frontend/typed/codegen.ts", "e2e/frontend/typed/customers.ts",
	} {
		assert.True(t, from[file], "the README shows code from %s", file)
	}
}
