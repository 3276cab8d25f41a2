package httpserver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const entitiesQuery = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id name status contact { email } } } }`

func TestEntitiesAreOneScan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	records := e.up.Records("")
	var reps []any
	for _, i := range []int{99, 3, 61, 3, 42} {
		reps = append(reps, map[string]any{"__typename": "Customer", "id": records[i]["_id"]})
	}
	reps = append(reps, map[string]any{"__typename": "Customer", "id": "0000000000000000000000aa"})

	r := e.query(entitiesQuery, map[string]any{"r": reps})
	require.Empty(t, r.Errors, r.Raw+e.logs.String())
	got := decode[struct {
		Entities []*struct{ ID string } `json:"_entities"`
	}](t, r).Entities
	require.Len(t, got, 6)
	for i, idx := range []int{99, 3, 61, 3, 42} {
		require.NotNil(t, got[i])
		assert.Equal(t, records[idx]["_id"], got[i].ID)
	}
	assert.Nil(t, got[5], "an unknown id is a null entity, not an error")
	// 15 pages and the empty one that ends the list, read as page 1 and
	// windows of 4 (2-5, ..., 14-17): the last window reaches page 17.
	assert.EqualValues(t, 17, e.up.Calls(), "one scan: 15 pages, the empty one that ends the list, and the rest of its window")
}

func TestEntitiesFollowAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.post(map[string]any{"query": entitiesQuery, "variables": map[string]any{
		"r": []any{map[string]any{"__typename": "Customer", "id": "abc"}},
	}}, "")
	require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	assert.Zero(t, e.up.Calls())
}

func TestEntitiesWithBadIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	first := e.up.Records("")[0]["_id"]
	r := e.query(entitiesQuery, map[string]any{"r": []any{
		map[string]any{"__typename": "Customer", "id": ""},
		map[string]any{"__typename": "Customer", "id": first},
	}})
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Raw)
	assert.JSONEq(t, `{"_entities": [null, {"id": "`+first.(string)+`", "name": "`+e.up.Records("")[0]["name"].(string)+`", "status": "UNKNOWN", "contact": {"email": "`+e.up.Records("")[0]["contact"].(map[string]any)["email"].(string)+`"}}]}`, string(r.Data))
	assert.EqualValues(t, 1, e.up.Calls())
}
