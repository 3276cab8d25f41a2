package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readPage(t *testing.T, name string) Page {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	env, err := parseEnvelope(body)
	require.NoError(t, err)
	p, err := decodePage(env.Data)
	require.NoError(t, err)
	return p
}

func ptr[T any](v T) *T { return &v }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecodePageAllFields(t *testing.T) {
	p := readPage(t, "page_ok.json")
	require.Empty(t, p.Invalid)
	want := []Customer{
		{
			ID: "6610000a", Name: "Kevin v3", Email: ptr("kevin+4@monday101.com"), Verified: true,
			Status: "ACTIVE", SubscriptionType: ptr("v2"),
			CreatedAt: ts("2024-04-02T07:06:03.910Z"), UpdatedAt: ptr(ts("2024-04-02T13:57:16.513Z")),
			LastLogin: ptr(ts("2024-04-02T09:48:04.402Z")),
		},
		{
			ID: "6610000b", Name: "Asha v1", Verified: false, Status: "SUSPENDED", SubscriptionType: ptr("v1"),
			CreatedAt: ts("2024-04-02T06:00:00.123456Z"), UpdatedAt: ptr(ts("2024-04-02T08:00:00Z")),
		},
		{ID: "6610000c", CreatedAt: ts("2024-04-03T00:00:00Z")},
	}
	require.Len(t, p.Customers, len(want))
	for i, w := range want {
		got := p.Customers[i]
		assert.True(t, sameCustomer(got, w), "customer %d:\n got %s\nwant %s", i, dump(got), dump(w))
	}
	assert.Same(t, time.UTC, p.Customers[1].CreatedAt.Location(), "CreatedAt location")
}

func TestDecodePageInvalidRecords(t *testing.T) {
	p := readPage(t, "page_mixed.json")
	wantValid := []string{"good0", "good2"}
	var got []string
	for _, c := range p.Customers {
		got = append(got, c.ID)
	}
	assert.Equal(t, wantValid, got, "valid ids")
	wantInvalid := []RecordError{
		{Index: 1, Reason: "not a JSON object"},
		{Index: 2, Reason: "not a JSON object"},
		{Index: 3, Reason: "not a JSON object"},
		{Index: 4, Reason: "missing _id"},
		{Index: 5, Reason: "missing _id"},
		{Index: 6, ID: "wrongname", Reason: `"name"`},
		{Index: 7, ID: "nocreated", Reason: "missing createdAt"},
		{Index: 8, ID: "badcreated", Reason: "createdAt"},
		{Index: 9, ID: "badupdated", Reason: "updatedAt"},
		{Index: 10, ID: "badlogin", Reason: "lastLogin"},
		{Index: 11, Reason: `field "_id" is a JSON number, not a string`},
		{Index: 12, ID: "badcontact", Reason: `field "contact" is a JSON string, not an object`},
	}
	require.Len(t, p.Invalid, len(wantInvalid))
	for i, w := range wantInvalid {
		g := p.Invalid[i]
		assert.Equal(t, w.Index, g.Index, "Invalid[%d] index", i)
		assert.Equal(t, w.ID, g.ID, "Invalid[%d] id", i)
		assert.Contains(t, g.Reason, w.Reason, "Invalid[%d] reason", i)
		assert.NotContains(t, g.Reason, "@", "Invalid[%d] reason holds an email", i)
		assert.NotContains(t, g.Error(), "monday101", "Invalid[%d] reason holds an email", i)
	}
	assert.Equal(t, 14, p.Len())
}

func TestDecodePageEmpty(t *testing.T) {
	p, err := decodePage([]byte(`[]`))
	require.NoError(t, err)
	require.Zero(t, p.Len(), "want an empty page")
}

func sameCustomer(a, b Customer) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqT := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.ID == b.ID && a.Name == b.Name && eqS(a.Email, b.Email) && a.Verified == b.Verified &&
		a.Status == b.Status && eqS(a.SubscriptionType, b.SubscriptionType) && a.CreatedAt.Equal(b.CreatedAt) &&
		eqT(a.UpdatedAt, b.UpdatedAt) && eqT(a.LastLogin, b.LastLogin)
}

func dump(c Customer) string {
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "<nil>"
		}
		return p.Format(time.RFC3339Nano)
	}
	return strings.Join([]string{c.ID, c.Name, s(c.Email), map[bool]string{true: "verified", false: "unverified"}[c.Verified],
		c.Status, s(c.SubscriptionType), c.CreatedAt.Format(time.RFC3339Nano), tm(c.UpdatedAt), tm(c.LastLogin)}, " | ")
}
