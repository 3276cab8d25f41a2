// Package graph is the GraphQL layer of the gateway: the schema, the
// resolvers (thin: check arguments, load through the per-operation loaders,
// map) and the one place that turns errors into extensions.code.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"log/slog"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// Resolver is the root resolver; the gateway sets its dependencies.
type Resolver struct {
	maxPage  int
	statuses *statusMapper
}

// NewResolver returns the root resolver. maxPage is the largest page
// argument accepted (MAX_PAGE).
func NewResolver(log *slog.Logger, maxPage int) *Resolver {
	return &Resolver{maxPage: maxPage, statuses: newStatusMapper(log)}
}

// session is what a resolver needs to reach the upstream: the request's
// credential and the operation's loaders. Asking for it before any load
// is what makes a query without a valid token cost no upstream call.
func session(ctx context.Context) (upstream.Token, *loader.Loaders, error) {
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
