// Package auth decides, once per HTTP request, which credential the gateway
// sends upstream on the client's behalf. It is the only reader of the
// client's Authorization header.
//
// Pass-through mode (no server key): the client's bearer token goes upstream
// as is. Server-key mode: the client presents one of the gateway's access
// tokens (or nothing, when unauthenticated access is allowed) and the
// gateway's own key goes upstream.
//
// The middleware never rejects a request: introspection and _service need no
// token. A resolver that needs the upstream asks Token(ctx) and turns its
// error into UNAUTHENTICATED, before any upstream call.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// Errors returned by Token. Their text is safe to show to clients.
var (
	ErrNoToken      = errors.New("auth: no bearer token")
	ErrInvalidToken = errors.New("auth: invalid bearer token")
)

// maxTokenLen bounds what is accepted as a bearer token; longer values are
// refused rather than forwarded.
const maxTokenLen = 4096

// Config selects the auth mode.
type Config struct {
	// ServerKey, when set, selects server-key mode.
	ServerKey string
	// AccessTokens are the client tokens accepted in server-key mode, with
	// ScopeRead.
	AccessTokens []string
	// WriteTokens and LoginTokens are accepted too, and add ScopeWrite and
	// ScopeLogin.
	WriteTokens, LoginTokens []string
	// AllowUnauthenticated lets clients without a token (and, when no
	// tokens are configured, with any token) use the server key, with
	// ScopeRead.
	AllowUnauthenticated bool
	// ReadOnly takes ScopeWrite and ScopeLogin from every client, in both
	// modes (READ_ONLY).
	ReadOnly bool
	// GrantAll gives every client every scope (-demo).
	GrantAll bool
}

// Scope is a permission of a client, as a bit set: a field that needs one
// the client lacks is FORBIDDEN and makes no upstream call.
type Scope uint8

// The scopes of the contract.
const (
	ScopeRead  Scope = 1 << iota // customers:read: the list, lookups
	ScopeWrite                   // customers:write: createCustomer
	ScopeLogin                   // customers:login: login tokens

	allScopes = ScopeRead | ScopeWrite | ScopeLogin
)

// String is the scope's name as @requiresScopes spells it.
func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "customers:read"
	case ScopeWrite:
		return "customers:write"
	case ScopeLogin:
		return "customers:login"
	}
	return "customers:?"
}

// Authenticator resolves client credentials into the upstream credential
// and the client's scopes.
type Authenticator struct {
	serverKey upstream.Token
	tokens    []knownToken
	allowAnon bool
	readOnly  bool
	grantAll  bool
}

// knownToken is a configured client token, by its hash.
type knownToken struct {
	hash   [sha256.Size]byte
	scopes Scope
}

// New returns an Authenticator. The combinations that would let nobody in,
// or everybody in by accident, are refused earlier, by the configuration.
func New(cfg Config) *Authenticator {
	a := &Authenticator{serverKey: upstream.Token(cfg.ServerKey), allowAnon: cfg.AllowUnauthenticated,
		readOnly: cfg.ReadOnly, grantAll: cfg.GrantAll}
	for _, list := range []struct {
		tokens []string
		scopes Scope
	}{
		{cfg.AccessTokens, ScopeRead},
		{cfg.WriteTokens, ScopeRead | ScopeWrite},
		{cfg.LoginTokens, ScopeRead | ScopeLogin},
	} {
		for _, t := range list.tokens {
			a.tokens = append(a.tokens, knownToken{sha256.Sum256([]byte(t)), list.scopes})
		}
	}
	return a
}

// ServerKeyMode reports whether the gateway sends its own key upstream.
func (a *Authenticator) ServerKeyMode() bool { return a.serverKey != "" }

type ctxKey struct{}

type result struct {
	token    upstream.Token
	err      error
	scopes   Scope
	readOnly bool
	// client is the SHA-256 of the access token the gateway verified
	// itself; zero when it verified none.
	client   [sha256.Size]byte
	verified bool
	// anonymous is a server-key request the gateway let in without knowing
	// who sent it.
	anonymous bool
}

// Middleware records the request's credential (or why there is none) in
// the request context, for Token.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := a.resolve(r.Header.Get("Authorization"))
		if a.grantAll && res.err == nil {
			res.scopes = allScopes
		}
		if a.readOnly {
			res.scopes &^= ScopeWrite | ScopeLogin
			res.readOnly = true
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, res)))
	})
}

func (a *Authenticator) resolve(header string) result {
	presented, err := bearer(header)
	if a.serverKey == "" {
		if err != nil {
			return result{err: err}
		}
		// The agency key's own rights upstream decide.
		return result{token: upstream.Token(presented), scopes: allScopes}
	}
	switch {
	case errors.Is(err, ErrNoToken) && a.allowAnon:
		return result{token: a.serverKey, scopes: ScopeRead, anonymous: true}
	case err != nil:
		return result{err: err}
	case a.allowAnon && len(a.tokens) == 0:
		// Any token gets in, so a token says nothing about who the client is.
		return result{token: a.serverKey, scopes: ScopeRead, anonymous: true}
	}
	if h, scopes, ok := a.known(presented); ok {
		return result{token: a.serverKey, client: h, verified: true, scopes: scopes}
	}
	return result{err: ErrInvalidToken}
}

// known compares in constant time against every configured token, so the
// time taken says nothing about how close a guess was. It returns the
// presented token's hash and the scopes of every list that holds it.
func (a *Authenticator) known(presented string) ([sha256.Size]byte, Scope, bool) {
	h := sha256.Sum256([]byte(presented))
	var scopes Scope
	for _, t := range a.tokens {
		match := subtle.ConstantTimeCompare(h[:], t.hash[:])
		scopes |= t.scopes & Scope(-match) // all bits when match is 1, none when 0
	}
	return h, scopes, scopes != 0
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(header string) (string, error) {
	if header == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrInvalidToken
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrNoToken
	}
	if !Sendable(token) {
		return "", ErrInvalidToken
	}
	return token, nil
}

// Sendable reports whether s is a token this gateway accepts as a bearer
// token: 1 to maxTokenLen bytes of printable ASCII without spaces, so that
// it travels in an HTTP header unchanged. The configuration uses it too, so
// that no configured token is one a client could never send.
func Sendable(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ErrForbidden is the error of a field whose scope the client lacks.
var ErrForbidden = errors.New("auth: forbidden")

// scopeError says which scope was missing; its text is safe to show.
type scopeError struct {
	missing  Scope
	readOnly bool
}

func (e scopeError) Error() string {
	if e.readOnly && e.missing != ScopeRead {
		return "this gateway is read-only: " + e.missing.String() + " is not granted to anyone"
	}
	return "this field needs the " + e.missing.String() + " scope"
}

func (e scopeError) Is(target error) bool { return target == ErrForbidden }

// Require returns nil when the request's client holds scope; otherwise the
// request's auth error (no or an invalid token), or an error that is
// ErrForbidden. Resolvers ask before any upstream call.
func Require(ctx context.Context, scope Scope) error {
	res, ok := ctx.Value(ctxKey{}).(result)
	switch {
	case !ok:
		return ErrNoToken
	case res.err != nil:
		return res.err
	case res.scopes&scope != scope:
		return scopeError{missing: scope, readOnly: res.readOnly}
	}
	return nil
}

// Token returns the credential to send upstream for this request, or
// ErrNoToken / ErrInvalidToken.
func Token(ctx context.Context) (upstream.Token, error) {
	res, ok := ctx.Value(ctxKey{}).(result)
	if !ok {
		return "", ErrNoToken
	}
	return res.token, res.err
}

// VerifiedClient says who the request is when the gateway verified its
// credential itself: in server-key mode, the SHA-256 of the configured access
// token it presented, for per-client limits. ok is false for everyone else:
// pass-through requests (the upstream decides), requests without a token,
// and tokens let in only because unauthenticated access is allowed.
func VerifiedClient(ctx context.Context) (id [sha256.Size]byte, ok bool) {
	res, _ := ctx.Value(ctxKey{}).(result)
	return res.client, res.verified
}

// Client returns who the request is, for what is kept per client
// (idempotency keys): the agency key in pass-through mode, the access
// token's hash in server-key mode, and one name for every client that the
// gateway let in without a token of its own. It holds a credential: hash
// it before keeping it anywhere.
func Client(ctx context.Context) ([]byte, error) {
	res, ok := ctx.Value(ctxKey{}).(result)
	switch {
	case !ok:
		return nil, ErrNoToken
	case res.err != nil:
		return nil, res.err
	case res.verified:
		return append([]byte("client:"), res.client[:]...), nil
	case res.anonymous:
		return []byte("gateway"), nil
	}
	return append([]byte("agency:"), res.token...), nil
}

// WithToken returns a context carrying token as the request's credential,
// for callers outside HTTP (benchmarks, tests of the graph layer).
func WithToken(ctx context.Context, token upstream.Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, result{token: token, scopes: allScopes})
}
