package httpserver_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/botpenguin-gateway/gateway/internal/config"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hashOf(q string) string {
	sum := sha256.Sum256([]byte(q))
	return hex.EncodeToString(sum[:])
}

func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	q := `query Names { customers { nodes { name } } }`
	auth := "Bearer " + testToken

	r := e.post(map[string]any{"extensions": persisted(hashOf(q))}, auth)
	require.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.codes(), r.Raw)
	assert.Equal(t, "PersistedQueryNotFound", r.Errors[0].Message, "the message Apollo Client looks for")

	r = e.post(map[string]any{"query": q, "extensions": persisted(hashOf(q))}, auth)
	require.Empty(t, r.Errors, r.Raw)
	r = e.post(map[string]any{"extensions": persisted(hashOf(q))}, auth)
	require.Empty(t, r.Errors, r.Raw)
	assert.Contains(t, string(r.Data), "Jonas v1")

	r = e.post(map[string]any{"query": q, "extensions": persisted(hashOf("something else"))}, auth)
	require.Len(t, r.Errors, 1, r.Raw)
	assert.Equal(t, "BAD_REQUEST", r.Errors[0].Extensions["code"])
}

func writeManifest(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "manifest.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func TestTrustedDocuments(t *testing.T) {
	t.Parallel()
	allowed := `query Names { customers { nodes { name } } }`
	manifests := map[string]any{
		"apollo": map[string]any{
			"format": "apollo-persisted-query-manifest", "version": 1,
			"operations": []any{map[string]any{"id": hashOf(allowed), "name": "Names", "type": "query", "body": allowed}},
		},
		"map": map[string]string{hashOf(allowed): allowed},
	}
	for name, manifest := range manifests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"TRUSTED_DOCUMENTS": writeManifest(t, manifest)})
			auth := "Bearer " + testToken

			r := e.post(map[string]any{"extensions": persisted(hashOf(allowed))}, auth)
			require.Empty(t, r.Errors, r.Raw)
			assert.Contains(t, string(r.Data), "Jonas v1")
			r = e.post(map[string]any{"query": allowed}, auth)
			require.Empty(t, r.Errors, "a full document in the list is served: %s", r.Raw)
			calls := e.up.Calls()

			other := `{ customers { nodes { id contact { email } } } }`
			r = e.post(map[string]any{"query": other}, auth)
			assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, r.codes(), r.Raw)
			r = e.post(map[string]any{"query": other, "extensions": persisted(hashOf(other))}, auth)
			assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, r.codes(), "APQ cannot register new documents: %s", r.Raw)
			r = e.post(map[string]any{"extensions": persisted(hashOf(other))}, auth)
			assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.codes(), r.Raw)
			assert.Equal(t, calls, e.up.Calls())
		})
	}
}

func TestTrustedDocumentsManifestErrorsStopTheStart(t *testing.T) {
	t.Parallel()
	for name, path := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nope.json"),
		"empty":   writeManifest(t, map[string]string{}),
		"wrong":   writeManifest(t, []int{1, 2}),
		"format":  writeManifest(t, map[string]any{"format": "other", "operations": []any{}}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(func(n string) string {
				return map[string]string{"TRUSTED_DOCUMENTS": path}[n]
			})
			require.Error(t, err)
			assert.Regexp(t, `^TRUSTED_DOCUMENTS: `, err.Error())
		})
	}
}

func TestAPersistedMutationWithAnInlinePasswordIsNotKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	auth := "Bearer " + testToken
	inline := `mutation { createCustomer(input: {email: "inline@example.com", name: "In Line", password: "pw-CANARY-inline-77"}) { customer { id } } }`
	r := e.post(map[string]any{"query": inline, "extensions": persisted(hashOf(inline))}, auth)
	require.Empty(t, r.Errors, "it runs: %s", r.Raw)
	r = e.post(map[string]any{"extensions": persisted(hashOf(inline))}, auth)
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.codes(), "but is not kept: %s", r.Raw)

	// The same with the password in a variable is kept.
	vars := map[string]any{"input": map[string]any{"email": "var@example.com", "name": "Var", "password": "pw-CANARY-var-77"}}
	withVar := `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }`
	r = e.post(map[string]any{"query": withVar, "variables": vars, "extensions": persisted(hashOf(withVar))}, auth)
	require.Empty(t, r.Errors, r.Raw)
	vars["input"].(map[string]any)["email"] = "var2@example.com"
	r = e.post(map[string]any{"variables": vars, "extensions": persisted(hashOf(withVar))}, auth)
	assert.Empty(t, r.Errors, r.Raw)
}
