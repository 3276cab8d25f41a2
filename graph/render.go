package graph

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/botpenguin-gateway/gateway/graph/model"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// RenderCustomerLists is a gqlgen field middleware (Server.AroundFields)
// that renders CustomerPage.nodes, and CustomerConnection.edges with
// their nodes, in one pass. gqlgen marshals a list of objects with a
// goroutine per element and every field of every element through its
// resolver pipeline (a field context, closures, a marshaler): about a
// hundred allocations per customer, although a customer's fields are
// plain values. The bytes are gqlgen's: the fields that
// graphql.CollectFields selects, in its order, under their aliases, each
// value written as its generated marshaler writes it.
//
// The nodes of a page are rendered from the upstream's customers, which
// the resolver hands over (see pageNodes) instead of copying them into
// models that would only be read here.
//
// A selection it does not know (a field the schema gains, @defer), and
// edges with a nil customer or a nil contact (which gqlgen answers with a
// null and an error), are left to gqlgen: the resolver's result goes on
// unchanged. It relies on
// gqlgen taking a graphql.Marshaler that a field middleware returns as the
// field's marshalled value.
func RenderCustomerLists(ctx context.Context, next graphql.Resolver) (any, error) {
	if fields, ok := nodesSelection(ctx); ok {
		nodes := &pageNodes{}
		res, err := next(context.WithValue(ctx, pageNodesKey{}, nodes))
		if err != nil || !nodes.handed {
			return res, err
		}
		return customerList{nodes: nodes, fields: fields, data: dataBufferOf(ctx)}, nil
	}
	res, err := next(ctx)
	if err != nil {
		return res, err
	}
	if list, ok := res.([]*model.CustomerEdge); ok {
		if r, ok := renderEdges(ctx, list); ok {
			return r, nil
		}
	}
	return res, err
}

// DataBuffer lends one operation's rendering a buffer from a pool, for
// the data that gqlgen otherwise renders into a buffer it grows afresh for
// every answer: the largest allocation of a request that shares nothing
// (15 % of its bytes). The lists rendered here move gqlgen's buffer into
// the lent one when they would grow it. The transport that lends it
// writes the answer, then gives the buffer back with Release; nothing may
// read the answer's data afterwards. It relies on gqlgen's generated Exec
// rendering each response into a bytes.Buffer of its own, which it hands
// over in the response and never reuses (graph/generated.go).
type DataBuffer struct {
	pool BufferPool
	lent *bytes.Buffer
}

// BufferPool is where a DataBuffer takes its buffer and gives it back
// (a bufpool.Pool).
type BufferPool interface {
	Get() *bytes.Buffer
	Put(*bytes.Buffer)
}

type dataBufferKey struct{}

// WithDataBuffer returns ctx with a DataBuffer that lends from pool, for
// the operation that runs under it.
func WithDataBuffer(ctx context.Context, pool BufferPool) (context.Context, *DataBuffer) {
	d := &DataBuffer{pool: pool}
	return context.WithValue(ctx, dataBufferKey{}, d), d
}

func dataBufferOf(ctx context.Context) *DataBuffer {
	d, _ := ctx.Value(dataBufferKey{}).(*DataBuffer)
	return d
}

// grow makes room for n more bytes in buf, gqlgen's buffer of the data:
// the first time it would allocate, in the lent buffer, which then holds
// what buf held; after that, or with none lent, as buf.Grow.
func (d *DataBuffer) grow(buf *bytes.Buffer, n int) {
	if d == nil || d.lent != nil || buf.Available() >= n {
		buf.Grow(n)
		return
	}
	d.lent = d.pool.Get()
	d.lent.Grow(buf.Len() + n)
	*buf = *bytes.NewBuffer(append(d.lent.AvailableBuffer(), buf.Bytes()...))
}

// Release gives the lent buffer back, once the answer is written; the
// answer's data must not be read afterwards. A nil d, or one that lent
// nothing, does nothing.
func (d *DataBuffer) Release() {
	if d == nil || d.lent == nil {
		return
	}
	d.pool.Put(d.lent)
	d.lent = nil
}

// pageNodesKey is the context key under which RenderCustomerLists asks
// the nodes resolver for the page's customers themselves.
type pageNodesKey struct{}

// pageNodes are a page's customers as the upstream client decoded them
// (read-only: the page may be shared), with their statuses mapped.
type pageNodes struct {
	customers []upstream.Customer
	statuses  []model.CustomerStatus
	handed    bool
}

// askedPageNodes is where RenderCustomerLists asks the nodes resolver to
// hand over its page; nil when it does not ask.
func askedPageNodes(ctx context.Context) *pageNodes {
	nodes, _ := ctx.Value(pageNodesKey{}).(*pageNodes)
	return nodes
}

// handOver takes the nodes resolver's page; the resolver then returns no
// models.
func (n *pageNodes) handOver(customers []upstream.Customer, statuses []model.CustomerStatus) {
	n.customers, n.statuses, n.handed = customers, statuses, true
}

// nodesSelection is what CustomerPage.nodes selects of each customer,
// when the field being resolved is that one and customerList can write it.
func nodesSelection(ctx context.Context) ([]selected, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "CustomerPage" || fc.Field.Name != "nodes" {
		return nil, false
	}
	return customerSelection(graphql.GetOperationContext(ctx), fc.Field.Selections)
}

func renderEdges(ctx context.Context, edges []*model.CustomerEdge) (graphql.Marshaler, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "CustomerConnection" || fc.Field.Name != "edges" {
		return nil, false
	}
	fields, ok := edgeSelection(graphql.GetOperationContext(ctx), fc.Field.Selections)
	if !ok {
		return nil, false
	}
	for _, e := range edges {
		if e == nil || !renderable(e.Node) {
			return nil, false
		}
	}
	return edgeList{edges: edges, fields: fields, data: dataBufferOf(ctx)}, true
}

func renderable(c *model.Customer) bool { return c != nil && c.Contact != nil }

// selected is one field of a selection: its response key, its name, and
// for an object, its own fields (a contact's, or an edge's node's).
type selected struct {
	alias, name string
	sub         []selected
}

// edgeSelection is what sel selects of each CustomerEdge, as gqlgen's
// _CustomerEdge collects it; false when it selects anything that edgeList
// cannot write.
func edgeSelection(oc *graphql.OperationContext, sel ast.SelectionSet) ([]selected, bool) {
	fields := graphql.CollectFields(oc, sel, customerEdgeImplementors)
	out := make([]selected, 0, len(fields))
	for _, f := range fields {
		if len(f.Deferrables) > 0 || seen(out, f.Alias) {
			return nil, false
		}
		s := selected{alias: f.Alias, name: f.Name}
		switch f.Name {
		case "__typename", "cursor":
		case "node":
			node, ok := customerSelection(oc, f.Selections)
			if !ok {
				return nil, false
			}
			s.sub = node
		default:
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// customerSelection is what sel selects of each Customer, as gqlgen's
// _Customer collects it; false when it selects anything that
// customerList cannot write.
func customerSelection(oc *graphql.OperationContext, sel ast.SelectionSet) ([]selected, bool) {
	fields := graphql.CollectFields(oc, sel, customerImplementors)
	out := make([]selected, 0, len(fields))
	for _, f := range fields {
		if len(f.Deferrables) > 0 || seen(out, f.Alias) {
			return nil, false
		}
		s := selected{alias: f.Alias, name: f.Name}
		switch f.Name {
		case "__typename", "id", "name", "verified", "status", "subscriptionType", "createdAt", "updatedAt", "lastLogin":
		case "contact":
			for _, cf := range graphql.CollectFields(oc, f.Selections, customerContactImplementors) {
				if len(cf.Deferrables) > 0 || seen(s.sub, cf.Alias) || cf.Name != "email" && cf.Name != "__typename" {
					return nil, false
				}
				s.sub = append(s.sub, selected{alias: cf.Alias, name: cf.Name})
			}
		default:
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// seen reports a response key already in fields. gqlgen writes only the
// first field of a key; validation makes a second one impossible, and
// customerSelection leaves that case to gqlgen rather than copy it.
func seen(fields []selected, alias string) bool {
	for _, f := range fields {
		if f.alias == alias {
			return true
		}
	}
	return false
}

// customerList is the marshalled value of CustomerPage.nodes.
type customerList struct {
	nodes  *pageNodes
	fields []selected
	data   *DataBuffer // nil: none lent
}

// MarshalGQL appends straight into gqlgen's response buffer when it is
// one (it is: the executor renders into a bytes.Buffer), moved into the
// lent DataBuffer's when it would grow.
func (l customerList) MarshalGQL(w io.Writer) {
	var b []byte
	if buf, ok := w.(*bytes.Buffer); ok {
		l.data.grow(buf, len(l.nodes.customers)*(len(l.fields)+1)*32) // about a customer's JSON: one allocation, not a dozen
		b = buf.AvailableBuffer()
	}
	_, _ = w.Write(l.append(b))
}

func (l customerList) append(b []byte) []byte {
	b = append(b, '[')
	for i := range l.nodes.customers {
		if i > 0 {
			b = append(b, ',')
		}
		c := &l.nodes.customers[i]
		b = appendCustomer(b, l.fields, &customerView{
			id: c.ID, name: c.Name, email: c.Email, verified: c.Verified, status: l.nodes.statuses[i],
			subscriptionType: c.SubscriptionType, createdAt: c.CreatedAt, updatedAt: c.UpdatedAt, lastLogin: c.LastLogin,
		})
	}
	return append(b, ']')
}

// customerView is what a customer's JSON is written from, whether it is
// the upstream's or a model.
type customerView struct {
	id, name             string
	email                *string
	verified             bool
	status               model.CustomerStatus
	subscriptionType     *string
	createdAt            time.Time
	updatedAt, lastLogin *time.Time
}

// viewOf is the view of a model; c and its contact are not nil.
func viewOf(c *model.Customer) *customerView {
	return &customerView{
		id: c.ID, name: c.Name, email: c.Contact.Email, verified: c.Verified, status: c.Status,
		subscriptionType: c.SubscriptionType, createdAt: c.CreatedAt.Time,
		updatedAt: timeOf(c.UpdatedAt), lastLogin: timeOf(c.LastLogin),
	}
}

func timeOf(t *model.DateTime) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

func appendCustomer(b []byte, fields []selected, c *customerView) []byte {
	b = append(b, '{')
	for j, f := range fields {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.alias)
		b = append(b, ':')
		b = appendCustomerField(b, f, c)
	}
	return append(b, '}')
}

// edgeList is the marshalled value of CustomerConnection.edges.
type edgeList struct {
	edges  []*model.CustomerEdge
	fields []selected
	data   *DataBuffer // nil: none lent
}

func (l edgeList) MarshalGQL(w io.Writer) {
	var b []byte
	if buf, ok := w.(*bytes.Buffer); ok {
		l.data.grow(buf, len(l.edges)*512) // an edge's JSON, cursor and node, is about 300 bytes
		b = buf.AvailableBuffer()
	}
	_, _ = w.Write(l.append(b))
}

func (l edgeList) append(b []byte) []byte {
	b = append(b, '[')
	for i, e := range l.edges {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, f := range l.fields {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.alias)
			b = append(b, ':')
			switch f.name {
			case "__typename":
				b = appendString(b, "CustomerEdge")
			case "cursor":
				b = appendString(b, e.Cursor)
			case "node":
				b = appendCustomer(b, f.sub, viewOf(e.Node))
			}
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendCustomerField(b []byte, f selected, c *customerView) []byte {
	switch f.name {
	case "__typename":
		return appendString(b, "Customer")
	case "id":
		return appendString(b, c.id)
	case "name":
		return appendString(b, c.name)
	case "contact":
		b = append(b, '{')
		for j, cf := range f.sub {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, cf.alias)
			b = append(b, ':')
			if cf.name == "__typename" {
				b = appendString(b, "CustomerContact")
			} else {
				b = appendOptionalString(b, c.email)
			}
		}
		return append(b, '}')
	case "verified":
		return strconv.AppendBool(b, c.verified)
	case "status":
		// As the generated CustomerStatus.MarshalGQL: strconv.Quote.
		return strconv.AppendQuote(b, string(c.status))
	case "subscriptionType":
		return appendOptionalString(b, c.subscriptionType)
	case "createdAt":
		return model.DateTime{Time: c.createdAt}.AppendJSON(b)
	case "updatedAt":
		return appendOptionalTime(b, c.updatedAt)
	case "lastLogin":
		return appendOptionalTime(b, c.lastLogin)
	}
	panic("render: unknown Customer field " + f.name) // customerSelection let it through
}

func appendOptionalString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

func appendOptionalTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return model.DateTime{Time: *t}.AppendJSON(b)
}

// appendString quotes s as gqlgen's graphql.MarshalString does: only
// control characters, the backslash and the quote are escaped; every
// other byte, UTF-8 or not, is written as it is. (A byte below 0x80 is
// always a character of its own, so a byte loop finds the same ones as
// gqlgen's loop over runes.)
func appendString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF" // gqlgen writes upper case
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '\t':
			b = append(b, `\t`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
