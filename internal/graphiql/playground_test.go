package graphiql_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/graphiql"
)

// element is one start tag of a page, as encoding/xml reads it in its
// lenient HTML mode (the module has no HTML parser, and needs none).
type element struct {
	name  string
	attrs map[string]string
	text  string // character data up to the next tag
}

func parseHTML(t *testing.T, body string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var els []element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return els
		}
		require.NoError(t, err, "parsing the page")
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			els = append(els, e)
		case xml.CharData:
			if len(els) > 0 {
				els[len(els)-1].text += string(tok)
			}
		}
	}
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestPageHeaders(t *testing.T) {
	srv := httptest.NewServer(graphiql.Handler("/query", graphiql.Options{}))
	defer srv.Close()

	resp, _ := get(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /")
	want := map[string]string{
		"Content-Type":               "text/html; charset=utf-8",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Cache-Control":              "no-cache",
	}
	for k, v := range want {
		assert.Equal(t, v, resp.Header.Get(k), k)
	}
	assert.NotEmpty(t, resp.Header.Get("ETag"), "no ETag on the page")

	csp := directives(resp.Header.Get("Content-Security-Policy"))
	for name, value := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"connect-src":     "'self'",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"object-src":      "'none'",
	} {
		assert.Equal(t, value, csp[name], "CSP %s", name)
	}
	for name, value := range csp {
		assert.NotContains(t, value, "unsafe-eval", "CSP %s allows eval", name)
		if name != "style-src" {
			assert.NotContains(t, value, "unsafe-inline", "CSP %s allows inline code", name)
		}
		assert.NotContains(t, value, "http", "CSP %s allows another host", name)
		assert.NotContains(t, value, "*", "CSP %s allows another host", name)
	}
}

// directives splits a CSP header into directive name → value.
func directives(header string) map[string]string {
	m := map[string]string{}
	for _, d := range strings.Split(header, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			m[name] = value
		}
	}
	return m
}

// TestPageUsesOnlyLocalAssets reads every URL the page names, and fetches
// the assets, both at "/" and mounted under a prefix.
func TestPageUsesOnlyLocalAssets(t *testing.T) {
	for _, mount := range []string{"/", "/playground/"} {
		t.Run(mount, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle(mount, http.StripPrefix(strings.TrimSuffix(mount, "/"), graphiql.Handler("/query", graphiql.Options{})))
			srv := httptest.NewServer(mux)
			defer srv.Close()

			pageURL, _ := url.Parse(srv.URL + mount)
			_, body := get(t, pageURL.String())
			var scripts, styles int
			for _, e := range parseHTML(t, body) {
				for name := range e.attrs {
					assert.False(t, strings.HasPrefix(name, "on"), "<%s %s>: inline event handler", e.name, name)
				}
				assert.False(t, e.name == "style" || (e.name == "script" && strings.TrimSpace(e.text) != ""), "inline <%s> element", e.name)
				for _, attr := range []string{"src", "href"} {
					ref, ok := e.attrs[attr]
					if !ok {
						continue
					}
					u, err := url.Parse(ref)
					if !assert.NoError(t, err, "<%s %s=%q>", e.name, attr, ref) {
						continue
					}
					if u.Scheme == "data" {
						continue // inline, fetches nothing (the empty favicon)
					}
					if !assert.True(t, u.Scheme == "" && u.Host == "", "<%s %s=%q> is not on the gateway", e.name, attr, ref) {
						continue
					}
					var wantType string
					switch {
					case e.name == "script":
						scripts++
						wantType = "text/javascript; charset=utf-8"
					case e.name == "link" && e.attrs["rel"] == "stylesheet":
						styles++
						wantType = "text/css; charset=utf-8"
					default:
						assert.Fail(t, "unexpected reference", "<%s %s=%q>", e.name, attr, ref)
						continue
					}
					assetURL := pageURL.ResolveReference(u).String()
					resp, _ := get(t, assetURL)
					assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", assetURL)
					assert.Equal(t, wantType, resp.Header.Get("Content-Type"), "GET %s: Content-Type", assetURL)
					assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable", "GET %s: Cache-Control", assetURL)
					assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "GET %s: X-Content-Type-Options", assetURL)
				}
			}
			// React, ReactDOM, GraphiQL, init.js; GraphiQL's CSS, page.css.
			assert.Equal(t, 4, scripts, "scripts on the page")
			assert.Equal(t, 2, styles, "stylesheets on the page")
		})
	}
}

func TestEndpointIsEscaped(t *testing.T) {
	endpoint := `/q?a=1&b="><script>alert(1)</script>`
	srv := httptest.NewServer(graphiql.Handler(endpoint, graphiql.Options{}))
	defer srv.Close()

	_, body := get(t, srv.URL+"/")
	require.False(t, strings.Contains(body, "<script>alert"), "the endpoint reached the page unescaped")
	var found bool
	for _, e := range parseHTML(t, body) {
		if e.name == "meta" && e.attrs["name"] == "graphql-endpoint" {
			found = true
			assert.Equal(t, endpoint, e.attrs["content"], "endpoint meta")
		}
	}
	assert.True(t, found, `no <meta name="graphql-endpoint">`)
}

// TestDemoMarker: only a demo gateway's page says so; init.js then fills in
// the createCustomer example (the browser test runs it).
func TestDemoMarker(t *testing.T) {
	for _, demo := range []bool{false, true} {
		srv := httptest.NewServer(graphiql.Handler("/query", graphiql.Options{Demo: demo}))
		_, body := get(t, srv.URL+"/")
		srv.Close()
		var marked bool
		for _, e := range parseHTML(t, body) {
			if e.name == "meta" && e.attrs["name"] == "gateway-demo" {
				marked = e.attrs["content"] == "true"
			}
		}
		assert.Equal(t, demo, marked, "Demo %v: <meta name=\"gateway-demo\" content=\"true\">", demo)
	}
}

func TestUnknownPaths(t *testing.T) {
	srv := httptest.NewServer(graphiql.Handler("/query", graphiql.Options{}))
	defer srv.Close()

	_, body := get(t, srv.URL+"/")
	initJS := regexp.MustCompile(`graphiql/[0-9a-f]+/init\.js`).FindString(body)
	require.NotEmpty(t, initJS, "page names no init.js")
	for _, p := range []string{
		"/index.html",
		"/nope",
		"/graphiql/",
		"/graphiql/000000000000/init.js", // another build's version
		"/" + strings.TrimSuffix(initJS, "init.js"),
		"/" + strings.TrimSuffix(initJS, "init.js") + "nope.js",
	} {
		resp, _ := get(t, srv.URL+p)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s", p)
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "POST /")
}

func TestRevalidation(t *testing.T) {
	srv := httptest.NewServer(graphiql.Handler("/query", graphiql.Options{}))
	defer srv.Close()

	first, _ := get(t, srv.URL+"/")
	again, _ := get(t, srv.URL+"/", "If-None-Match", first.Header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, again.StatusCode, "GET / with its ETag")
}

// urlLiteral finds absolute http(s) URLs written into a file.
var urlLiteral = regexp.MustCompile(`https?://[^\s"'\x60()<>\\]+`)

// notFetched lists the URL literals that the vendored JavaScript contains but
// never requests. A bundle cannot be proven not to fetch a string, so each
// entry was checked by reading the code around it: XML namespace names,
// links in error messages and licence comments, and the href of a help link
// that the user may click (navigation, not a fetch). An upgrade that brings a
// new URL fails here until someone reads it; the browser test, which records
// every request's host, is the proof that nothing is fetched.
var notFetched = regexp.MustCompile(`^https?://(` +
	`www\.w3\.org/` + // namespace names: svg, xhtml, xlink, MathML
	`|reactjs\.org/docs/error-decoder\.html` + // React's minified error text
	`|github\.com/` + // credits, licences, an error message about CDNs
	`|codemirror\.net/5/doc/manual\.html` + // help link in GraphiQL's settings
	`|commonmark\.org/` + // markdown-it comment
	`|en\.wikipedia\.org/wiki/IEEE_floating_point` + // graphql-js comment
	`)`)

// TestNoOutsideReferences checks what the browser would load by itself: the
// page and the CSS must name no other host at all (the CSS's fonts and icons
// are data: URLs), and the JavaScript only the literals in notFetched.
func TestNoOutsideReferences(t *testing.T) {
	srv := httptest.NewServer(graphiql.Handler("/query", graphiql.Options{}))
	defer srv.Close()

	_, page := get(t, srv.URL+"/")
	assert.Empty(t, urlLiteral.FindString(page), "the page names another host")
	for _, e := range parseHTML(t, page) {
		ref := e.attrs["src"] + e.attrs["href"]
		if ref == "" || strings.HasPrefix(ref, "data:") {
			continue
		}
		_, body := get(t, srv.URL+"/"+ref)
		if strings.HasSuffix(ref, ".css") {
			assert.Empty(t, urlLiteral.FindString(body), "%s names another host", ref)
			assert.False(t, strings.Contains(body, "@import"), "%s has an @import", ref)
			continue
		}
		for _, u := range urlLiteral.FindAllString(body, -1) {
			assert.Regexp(t, notFetched, u, "%s names %s: check whether it is fetched, then list it in notFetched", ref, u)
		}
	}
}
