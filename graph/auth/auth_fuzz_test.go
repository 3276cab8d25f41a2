package auth

import (
	"errors"
	"testing"
)

// FuzzBearer: any Authorization header resolves without a panic to either
// an error the graph maps to UNAUTHENTICATED or a token that can travel in
// a header unchanged.
func FuzzBearer(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer  abc ", "Basic x", "Bearer", "Bearer ", "", "Bearer a\tb", "Bearer tök", "Bearer a b"} {
		f.Add(seed)
	}
	passThrough := New(Config{})
	serverKey := New(Config{ServerKey: "key-0123456789", AccessTokens: []string{"client-token"}})
	f.Fuzz(func(t *testing.T, header string) {
		res := passThrough.resolve(header)
		if res.err != nil {
			if !errors.Is(res.err, ErrNoToken) && !errors.Is(res.err, ErrInvalidToken) {
				t.Fatalf("unexpected error %v", res.err)
			}
		} else {
			tok := string(res.token)
			if tok == "" || len(tok) > maxTokenLen || !printable(tok) {
				t.Fatalf("token %q from %q", tok, header)
			}
		}
		res = serverKey.resolve(header)
		if res.err == nil && res.token != "key-0123456789" {
			t.Fatalf("server-key mode sent %q upstream", res.token)
		}
	})
}
