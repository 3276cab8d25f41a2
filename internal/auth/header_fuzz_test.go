package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// FuzzBearerHeader: for any Authorization header, in every auth mode,
// resolve never panics and either fails with exactly ErrNoToken or
// ErrInvalidToken, or returns a token.
//
// Pass-through: the token is the client's own, as sent: non-empty, at most
// 4096 bytes, no whitespace or control characters, valid UTF-8, exactly
// what follows "Bearer " (any case) less surrounding spaces, and the header
// "Bearer <token>" resolves to it again.
//
// Server-key: the token is always the server key, and only for a header
// whose pass-through token is a configured access token (or, with
// unauthenticated access allowed, for no token at all).
//
// The Middleware and Token, the package's exported path, give the same.
func FuzzBearerHeader(f *testing.F) {
	for _, seed := range []string{
		"Bearer abc", "bearer abc", "BEARER  abc  ", "Bearer client-token", "Bearer  client-token\t",
		"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer \t ", "", " ", "Bearer a b", "Bearer a\tb",
		"Bearer tök", "Bearer a\x00", "Bearer a\x7f", "Bearer \u00a0abc\u0085", "Bearerabc", "Bearer\tabc",
		"Bearer " + strings.Repeat("x", 4096), "Bearer " + strings.Repeat("x", 4097),
	} {
		f.Add(seed)
	}
	const serverKey = "server-key-0123456789"
	accessTokens := []string{"client-token", "second.token~/+="}
	passThrough := New(Config{})
	withTokens := New(Config{ServerKey: serverKey, AccessTokens: accessTokens})
	withTokensAnon := New(Config{ServerKey: serverKey, AccessTokens: accessTokens, AllowUnauthenticated: true})
	anyone := New(Config{ServerKey: serverKey, AllowUnauthenticated: true})

	f.Fuzz(func(t *testing.T, header string) {
		pt := passThrough.resolve(header)
		checkResult(t, header, pt)
		if pt.err == nil {
			tok := string(pt.token)
			if tok == "" || len(tok) > maxTokenLen || !utf8.ValidString(tok) {
				t.Fatalf("%q: token %q", header, tok)
			}
			for _, r := range tok {
				if unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
					t.Fatalf("%q: token %q holds %U", header, tok, r)
				}
			}
			scheme, rest, _ := strings.Cut(header, " ")
			if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(rest) != tok {
				t.Fatalf("%q: token %q is not what the client sent", header, tok)
			}
			if again := passThrough.resolve("Bearer " + tok); again.err != nil || again.token != pt.token {
				t.Fatalf("%q: token %q does not resolve to itself: %+v", header, tok, again)
			}
		}

		known := pt.err == nil && (string(pt.token) == accessTokens[0] || string(pt.token) == accessTokens[1])
		noToken := errors.Is(pt.err, ErrNoToken)
		for _, m := range []struct {
			a    *Authenticator
			want bool // resolves to the server key
		}{
			{withTokens, known},
			{withTokensAnon, known || noToken},
			{anyone, pt.err == nil || noToken},
		} {
			res := m.a.resolve(header)
			checkResult(t, header, res)
			if (res.err == nil) != m.want || (res.err == nil && res.token != serverKey) {
				t.Fatalf("%q in server-key mode: %+v, want the server key: %v", header, res, m.want)
			}
		}

		// Through the middleware, as a request sees it.
		req := httptest.NewRequest(http.MethodPost, "/query", nil)
		req.Header["Authorization"] = []string{header}
		var got upstream.Token
		var gotErr error
		passThrough.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got, gotErr = Token(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), req)
		if got != pt.token || gotErr != pt.err {
			t.Fatalf("%q: Token gives %q, %v; resolve %q, %v", header, got, gotErr, pt.token, pt.err)
		}
	})
}

func checkResult(t *testing.T, header string, res result) {
	t.Helper()
	switch {
	case res.err == nil && res.token == "":
		t.Fatalf("%q: no token and no error", header)
	case res.err != nil && res.token != "":
		t.Fatalf("%q: a token and an error %v", header, res.err)
	case res.err != nil && res.err != ErrNoToken && res.err != ErrInvalidToken:
		t.Fatalf("%q: error %v", header, res.err)
	case res.err == ErrNoToken && header != "":
		// "No token" is for an empty header, or a bearer scheme without one.
		if scheme, _, _ := strings.Cut(header, " "); !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("%q: no token, but the header is not empty", header)
		}
	}
}
