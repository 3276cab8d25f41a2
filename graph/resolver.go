// Package graph is the GraphQL layer of the gateway: the schema, the
// resolvers (thin: check arguments, load through the per-operation loaders,
// map) and the one place that turns errors into extensions.code.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// Customers reads pages of an agency's customer list: the upstream
// client's Customers service, or a stub in tests.
type Customers interface {
	List(ctx context.Context, token upstream.Token, page int, sort upstream.Sort) (upstream.Page, error)
}

// Options are the resolver's settings.
type Options struct {
	Logger *slog.Logger // where unknown statuses are reported
	// MaxPage is the largest page argument accepted (MAX_PAGE).
	MaxPage int
	// Loaders tune the per-operation loaders (CUSTOMER_SCAN_MAX_PAGES).
	Loaders loader.Options
}

// Resolver is the root resolver: it holds the upstream services, and gives
// each operation its own loaders over them (WithLoaders).
type Resolver struct {
	customers Customers
	maxPage   int
	loaders   loader.Options
	statuses  *statusMapper
}

// NewResolver returns the root resolver over customers.
func NewResolver(customers Customers, opts Options) *Resolver {
	return &Resolver{customers: customers, maxPage: opts.MaxPage, loaders: opts.Loaders, statuses: newStatusMapper(opts.Logger)}
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
