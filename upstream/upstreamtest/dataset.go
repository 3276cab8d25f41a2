package upstreamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const tsLayout = "2006-01-02T15:04:05.000Z"

var firstNames = []string{"Kevin", "Asha", "Lucia", "Omar", "Mei", "Jonas", "Priya", "Tomás", "Zoe", "Ravi", "Ines", "Kofi", "Sara", "Yuki", "Liam", "Nadia", "Marco"}

// customer is one customer of a dataset: the typed values the sorts use,
// and its raw record, as a map until the dataset is built (WithRecord may
// change it), then only as the JSON served: the maps would be dead weight
// on the heap of every benchmark that runs the fake.
type customer struct {
	name             string
	created, updated time.Time
	lastLogin        *time.Time
	record           map[string]any
	json             []byte

	user // who get-user-token knows: read from the record as served
}

// stamp is the id and creation time of customer i of a tenant: strictly
// increasing createdAt, with varied milliseconds. h varies the rest.
func stamp(i, tenant int) (id string, created time.Time, h uint64) {
	base := time.Date(2024, 1, 2, 7, 6, 3, 910_000_000, time.UTC)
	h = uint64(i+1) * 0x9E3779B97F4A7C15
	id = fmt.Sprintf("66%02x%04x%016x", 0x10+tenant, i, h)
	created = base.Add(time.Duration(i)*97*time.Minute + time.Duration(h%1000)*time.Millisecond)
	return id, created, h
}

// generate builds n customers, a pure function of (i, tenant): the same on
// every start. Tenant 0 is the default dataset (ids start with "6610", as in
// the bench fake); tenant k > 0 has other ids, and label in its names and
// email domains, so that two tokens visibly see different customers.
func generate(n, tenant int, label string) []customer {
	out := make([]customer, n)
	for i := range n {
		id, created, h := stamp(i, tenant)
		name := fmt.Sprintf("%s v%d", firstNames[int(h>>7)%len(firstNames)], i%9+1)
		domain := "monday101.com"
		if tenant > 0 {
			name += " (" + label + ")"
			domain = strings.ToLower(label) + ".monday101.com"
		}
		c := customer{name: name, created: created}
		c.updated = c.created.Add(time.Duration(h%(30*24*3600)) * time.Second)
		rec := map[string]any{
			"_id":              id,
			"name":             name,
			"verified":         i%3 != 0,
			"createdAt":        c.created.Format(tsLayout),
			"updatedAt":        c.updated.Format(tsLayout),
			"agencyId":         agencyID, // unknown to the gateway: ignored
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

const agencyID = "65f0c0ffee0000000000beef"

// dataset is the customers that one token sees. Add changes it; readers
// get an immutable snapshot with every answer precomputed, replaced as a
// whole by Add, so that serving a page costs no more than reading it.
type dataset struct {
	label    string
	tenant   int
	pageSize int
	staff    []user // the users who are not customers (see staffOf)

	mu   sync.Mutex // serializes add
	snap atomic.Pointer[snapshot]
}

// snapshot is a dataset at one moment.
type snapshot struct {
	customers []customer // in createdAt order
	pages     pages
}

// newDataset marshals each record once and precomputes every page.
func newDataset(cs []customer, tenant int, label string, pageSize int) (*dataset, error) {
	for i := range cs {
		b, err := json.Marshal(cs[i].record)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		cs[i].user = customerUser(cs[i].record)
		cs[i].json, cs[i].record = b, nil
	}
	d := &dataset{label: label, tenant: tenant, pageSize: pageSize, staff: staffOf(tenant, label)}
	d.snap.Store(&snapshot{customers: cs, pages: buildPages(cs, pageSize)})
	return d, nil
}

func (d *dataset) current() *snapshot { return d.snap.Load() }

// add appends a new customer, created after every other one, and returns
// its record.
func (d *dataset) add(nc Customer) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return copyRecord(d.insert(nc))
}

// create is add as the upstream's create does it: unless a user (customer
// or staff) already has nc's email, compared case-insensitively; then
// taken is true and nothing changes. It returns the new record's JSON.
func (d *dataset) create(nc Customer) (rec []byte, taken bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, found := d.userByEmail(nc.Email, ""); found {
		return nil, true
	}
	return d.insert(nc), false
}

// insert is add with d.mu held; it returns the record's JSON.
func (d *dataset) insert(nc Customer) []byte {
	old := d.current()
	id, created, _ := stamp(len(old.customers), d.tenant)
	rec := map[string]any{
		"_id":              id,
		"name":             nc.Name,
		"verified":         false,
		"status":           "ACTIVE",
		"subscriptionType": "v2",
		"createdAt":        created.Format(tsLayout),
		"updatedAt":        created.Format(tsLayout),
		"lastLogin":        nil,
		"agencyId":         agencyID,
	}
	if nc.Email != "" {
		rec["contact"] = map[string]any{"email": nc.Email}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err) // strings only
	}
	c := customer{name: nc.Name, created: created, updated: created, json: b,
		user: user{id: id, email: nc.Email, typ: userCustomer, active: true}}
	cs := append(slices.Clip(old.customers), c) // a new array: old is still served
	d.snap.Store(&snapshot{customers: cs, pages: buildPages(cs, d.pageSize)})
	return b
}

// copyRecord decodes a record's JSON into a map the caller may change.
func copyRecord(b []byte) map[string]any {
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		panic(err)
	}
	return rec
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

// pages holds every answer body of one snapshot, precomputed:
// sort field → page index (0-based) → envelope bytes.
type pages map[string][][]byte

// buildPages concatenates the customers' records into pages, in each sort.
func buildPages(cs []customer, pageSize int) pages {
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
				b.Write(cs[k].json)
			}
			b.WriteString(`],"code":200}`)
			p[field] = append(p[field], b.Bytes())
		}
	}
	return p
}

var emptyPage = []byte(`{"success":true,"message":"","data":[],"code":200}`)

// errBody is a failure envelope.
func errBody(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"success": false, "message": msg, "data": nil, "code": code})
	return b
}
