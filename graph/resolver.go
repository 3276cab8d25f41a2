// Package graph is the GraphQL layer of the gateway: the schema, the
// resolvers (thin: check arguments, load through the per-operation loaders,
// map) and the one place that turns errors into extensions.code.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/graph/model"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// Customers reads pages of an agency's customer list: the upstream
// client's Customers service, or a stub in tests.
type Customers interface {
	List(ctx context.Context, token upstream.Token, page int, sort upstream.Sort) (upstream.Page, error)
}

// Users reads login tokens: the upstream client's Users service, or a stub
// in tests.
type Users interface {
	LoginToken(ctx context.Context, token upstream.Token, q upstream.UserTokenQuery) (upstream.LoginToken, error)
}

// Creator creates customers: the upstream client's Customers service, or
// a stub in tests.
type Creator interface {
	Create(ctx context.Context, token upstream.Token, in upstream.CreateCustomerRequest) (upstream.Customer, error)
}

// Options are the resolver's settings.
type Options struct {
	Logger *slog.Logger // where unknown statuses are reported
	// MaxPage is the largest page argument accepted (MAX_PAGE).
	MaxPage int
	// Loaders tune the per-operation loaders (CUSTOMER_SCAN_MAX_PAGES).
	Loaders loader.Options
	// Users serves login tokens; nil serves none (every token field fails).
	Users Users
	// TokenReads counts login token reads by outcome; nil counts nothing.
	TokenReads *prometheus.CounterVec
	// Creator creates customers; nil creates none (createCustomer fails).
	Creator Creator
	// Idempotency runs creates once per idempotency key; nil keeps keys in
	// this process's memory.
	Idempotency *idempotency.Keeper
	// Creates counts createCustomer by outcome; nil counts nothing.
	Creates *prometheus.CounterVec
}

// Resolver is the root resolver: it holds the upstream services, and gives
// each operation its own loaders over them (WithLoaders).
type Resolver struct {
	customers   Customers
	users       Users
	tokenReads  *prometheus.CounterVec
	creator     Creator
	idempotency *idempotency.Keeper
	creates     *prometheus.CounterVec
	maxPage     int
	loaders     loader.Options
	statuses    *statusMapper
}

// NewResolver returns the root resolver over customers.
func NewResolver(customers Customers, opts Options) *Resolver {
	keeper := opts.Idempotency
	if keeper == nil {
		keeper = idempotency.NewKeeper(idempotency.NewMemoryStore(idempotency.DefaultMemoryRecords), idempotency.Options{})
	}
	return &Resolver{customers: customers, users: opts.Users, tokenReads: opts.TokenReads,
		creator: opts.Creator, idempotency: keeper, creates: opts.Creates,
		maxPage: opts.MaxPage, loaders: opts.Loaders, statuses: newStatusMapper(opts.Logger)}
}

// WithLoaders is the gqlgen operation middleware that gives every operation
// fresh loaders: what one operation fetched is shared by its fields, never
// by another operation.
func (r *Resolver) WithLoaders(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(loader.With(ctx, loader.New(r.customers.List, r.loaders)))
}

// session is what a resolver needs to reach the upstream: the request's
// credential and the operation's loaders. Asking for it before any load
// is what makes a query without a valid token cost no upstream call.
func session(ctx context.Context) (upstream.Token, *loader.Loaders, error) {
	if err := auth.Require(ctx, auth.ScopeRead); err != nil {
		return "", nil, err
	}
	token, err := auth.Token(ctx)
	if err != nil {
		return "", nil, err
	}
	l, err := loader.For(ctx)
	if err != nil {
		return "", nil, err
	}
	return token, l, nil
}

// errNoUsers is a wiring bug: login tokens asked of a resolver without them.
var errNoUsers = errors.New("graph: no Users service")

// loginToken reads a login token with the customers:login scope, before
// any upstream call; an unknown user is null without an error. Every read
// is counted by outcome (never by user).
func (r *Resolver) loginToken(ctx context.Context, q upstream.UserTokenQuery) (*model.LoginToken, error) {
	lt, err := r.readLoginToken(ctx, q)
	outcome := "ok"
	switch {
	case errors.Is(err, upstream.ErrNotFound):
		outcome, err = "not_found", nil
	case errors.Is(err, auth.ErrForbidden):
		outcome = "forbidden"
	case err != nil:
		outcome = "error"
	}
	if r.tokenReads != nil {
		r.tokenReads.WithLabelValues(outcome).Inc()
	}
	if err != nil || outcome != "ok" {
		return nil, err
	}
	return &model.LoginToken{Key: string(lt.Key), Active: lt.Active}, nil
}

func (r *Resolver) readLoginToken(ctx context.Context, q upstream.UserTokenQuery) (upstream.LoginToken, error) {
	if err := auth.Require(ctx, auth.ScopeLogin); err != nil {
		return upstream.LoginToken{}, err
	}
	if r.users == nil {
		return upstream.LoginToken{}, errNoUsers
	}
	token, err := auth.Token(ctx)
	if err != nil {
		return upstream.LoginToken{}, err
	}
	return r.users.LoginToken(ctx, token, q)
}
