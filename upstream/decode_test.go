package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readPage(t *testing.T, name string) Page {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	env, err := parseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePage(env.Data)
	if err != nil {
		t.Fatal(err)
	}
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
	if len(p.Invalid) != 0 {
		t.Fatalf("Invalid = %+v, want none", p.Invalid)
	}
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
	if len(p.Customers) != len(want) {
		t.Fatalf("got %d customers, want %d", len(p.Customers), len(want))
	}
	for i, w := range want {
		if got := p.Customers[i]; !sameCustomer(got, w) {
			t.Errorf("customer %d:\n got %s\nwant %s", i, dump(got), dump(w))
		}
	}
	if loc := p.Customers[1].CreatedAt.Location(); loc != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", loc)
	}
}

func TestDecodePageInvalidRecords(t *testing.T) {
	p := readPage(t, "page_mixed.json")
	wantValid := []string{"good0", "good2"}
	var got []string
	for _, c := range p.Customers {
		got = append(got, c.ID)
	}
	if strings.Join(got, ",") != strings.Join(wantValid, ",") {
		t.Errorf("valid ids = %v, want %v", got, wantValid)
	}
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
	if len(p.Invalid) != len(wantInvalid) {
		t.Fatalf("Invalid = %+v, want %d entries", p.Invalid, len(wantInvalid))
	}
	for i, w := range wantInvalid {
		g := p.Invalid[i]
		if g.Index != w.Index || g.ID != w.ID || !strings.Contains(g.Reason, w.Reason) {
			t.Errorf("Invalid[%d] = %+v, want index %d, id %q, reason containing %q", i, g, w.Index, w.ID, w.Reason)
		}
		if strings.Contains(g.Reason, "@") || strings.Contains(g.Error(), "monday101") {
			t.Errorf("Invalid[%d] reason %q holds an email", i, g.Reason)
		}
	}
	if p.Len() != 14 {
		t.Errorf("Len = %d, want 14", p.Len())
	}
}

func TestDecodePageEmpty(t *testing.T) {
	p, err := decodePage([]byte(`[]`))
	if err != nil || p.Len() != 0 {
		t.Fatalf("decodePage([]) = %+v, %v; want an empty page", p, err)
	}
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
