package httpserver

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/botpenguin-gateway/gateway/internal/config"
)

// Codes of trusted-documents mode. PERSISTED_QUERY_NOT_FOUND is gqlgen's
// (and Apollo's) name; PERSISTED_QUERY_NOT_IN_LIST is Apollo Router's.
const (
	codePersistedQueryNotFound  = "PERSISTED_QUERY_NOT_FOUND"
	codePersistedQueryNotInList = "PERSISTED_QUERY_NOT_IN_LIST"
)

// trustedOnly runs only trusted documents: a request names one by id
// (extensions.persistedQuery.sha256Hash, as Apollo Client's persisted
// queries link sends it), or sends a full document that is in the list.
type trustedOnly struct{ docs *config.TrustedDocuments }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = trustedOnly{}

func (trustedOnly) ExtensionName() string                   { return "TrustedDocuments" }
func (trustedOnly) Validate(graphql.ExecutableSchema) error { return nil }

func (t trustedOnly) MutateOperationParameters(_ context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query != "" {
		if t.docs.Contains(params.Query) {
			return nil
		}
		return limitError(codePersistedQueryNotInList, "only trusted documents are served here; this document is not in the list")
	}
	pq, _ := params.Extensions["persistedQuery"].(map[string]any)
	id, _ := pq["sha256Hash"].(string)
	body, ok := t.docs.ByID(id)
	if !ok {
		return limitError(codePersistedQueryNotFound, "PersistedQueryNotFound")
	}
	params.Query = body
	return nil
}
