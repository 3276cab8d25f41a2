package upstreamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

const tsLayout = "2006-01-02T15:04:05.000Z"

var firstNames = []string{"Kevin", "Asha", "Lucia", "Omar", "Mei", "Jonas", "Priya", "Tomás", "Zoe", "Ravi", "Ines", "Kofi", "Sara", "Yuki", "Liam", "Nadia", "Marco"}

// customer is one generated customer: its raw JSON record plus the typed
// values the sorts use.
type customer struct {
	name             string
	created, updated time.Time
	lastLogin        *time.Time
	record           map[string]any
}

// dataset builds n customers, a pure function of (i, tenant): the same on
// every start. Tenant 0 is the default dataset (ids start with "6610", as in
// the bench fake); tenant k > 0 has other ids, and label in its names and
// email domains, so that two tokens visibly see different customers.
func dataset(n, tenant int, label string) []customer {
	base := time.Date(2024, 1, 2, 7, 6, 3, 910_000_000, time.UTC)
	out := make([]customer, n)
	for i := range n {
		h := uint64(i+1) * 0x9E3779B97F4A7C15
		name := fmt.Sprintf("%s v%d", firstNames[int(h>>7)%len(firstNames)], i%9+1)
		domain := "monday101.com"
		if tenant > 0 {
			name += " (" + label + ")"
			domain = strings.ToLower(label) + ".monday101.com"
		}
		c := customer{name: name}
		// Strictly increasing createdAt, with varied milliseconds.
		c.created = base.Add(time.Duration(i)*97*time.Minute + time.Duration(h%1000)*time.Millisecond)
		c.updated = c.created.Add(time.Duration(h%(30*24*3600)) * time.Second)
		rec := map[string]any{
			"_id":              fmt.Sprintf("66%02x%04x%016x", 0x10+tenant, i, h),
			"name":             name,
			"verified":         i%3 != 0,
			"createdAt":        c.created.Format(tsLayout),
			"updatedAt":        c.updated.Format(tsLayout),
			"agencyId":         "65f0c0ffee0000000000beef", // unknown to the gateway: ignored
			"subscriptionType": "v2",
		}
		if i%50 != 49 {
			first := strings.ToLower(strings.Fields(name)[0])
			rec["contact"] = map[string]any{"email": fmt.Sprintf("%s+%d@%s", first, i, domain)}
		}
		switch {
		case i%61 == 0:
			rec["status"] = "SUSPENDED" // unknown to the schema
		case i%4 == 3:
			rec["status"] = "INACTIVE"
		default:
			rec["status"] = "ACTIVE"
		}
		if i%5 == 4 {
			rec["subscriptionType"] = "v1"
		}
		if i%7 == 6 {
			rec["lastLogin"] = nil // never logged in
		} else {
			ll := c.created.Add(time.Duration((h>>20)%(10*24*3600)) * time.Second)
			c.lastLogin = &ll
			rec["lastLogin"] = ll.Format(tsLayout)
		}
		c.record = rec
		out[i] = c
	}
	return out
}

// sortFields are the upstream's sort keys and their orders (stable: ties
// keep createdAt order). lastLogin sorts customers who never logged in last.
var sortFields = map[string]func(a, b *customer) bool{
	"createdAt": func(a, b *customer) bool { return a.created.Before(b.created) },
	"updatedAt": func(a, b *customer) bool { return a.updated.Before(b.updated) },
	"name":      func(a, b *customer) bool { return a.name < b.name },
	"lastLogin": func(a, b *customer) bool {
		switch {
		case a.lastLogin == nil:
			return false
		case b.lastLogin == nil:
			return true
		}
		return a.lastLogin.Before(*b.lastLogin)
	},
}

// pages holds every answer body of one dataset, precomputed:
// sort field → page index (0-based) → envelope bytes.
type pages map[string][][]byte

// buildPages marshals each record once and concatenates them into pages.
func buildPages(cs []customer, pageSize int) (pages, [][]byte, error) {
	raw := make([][]byte, len(cs))
	for i := range cs {
		b, err := json.Marshal(cs[i].record)
		if err != nil {
			return nil, nil, fmt.Errorf("record %d: %w", i, err)
		}
		raw[i] = b
	}
	idx := make([]int, len(cs))
	p := pages{}
	for field, less := range sortFields {
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return less(&cs[idx[a]], &cs[idx[b]]) })
		for start := 0; start < len(idx); start += pageSize {
			end := min(start+pageSize, len(idx))
			var b bytes.Buffer
			b.WriteString(`{"success":true,"message":"","data":[`)
			for j, k := range idx[start:end] {
				if j > 0 {
					b.WriteByte(',')
				}
				b.Write(raw[k])
			}
			b.WriteString(`],"code":200}`)
			p[field] = append(p[field], b.Bytes())
		}
	}
	return p, raw, nil
}

var emptyPage = []byte(`{"success":true,"message":"","data":[],"code":200}`)

// errBody is a failure envelope.
func errBody(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"success": false, "message": msg, "data": nil, "code": code})
	return b
}
