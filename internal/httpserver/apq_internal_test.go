package httpserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHoldsInlineSecret(t *testing.T) {
	for doc, want := range map[string]bool{
		`mutation { createCustomer(input: {email: "a@b.co", name: "A", password: "x"}) { customer { id } } }`:                              true,
		`mutation($p: String!) { createCustomer(input: {email: "a@b.co", name: "A", password: $p}) { customer { id } } }`:                  false,
		`mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id } } }`:                                           false,
		`mutation { ...F } fragment F on Mutation { createCustomer(input: {email: "", name: "", password: "x"}) { userErrors { code } } }`: true,
		`{ customers { nodes { id } } }`: false,
		`{ a(x: [{password: "x"}]) }`:    true,
		`mutation($i: CreateCustomerInput! = {email: "a@b.co", name: "A", password: "hunter2hunter2"}) { createCustomer(input: $i) { customer { id } } }`: true,
		`mutation($p: String! = "hunter2hunter2") { createCustomer(input: {email: "a@b.co", name: "A", password: $p}) { customer { id } } }`:              true,
		`mutation($p: String!, $n: String = "Ada") { createCustomer(input: {email: "a@b.co", name: $n, password: $p}) { customer { id } } }`:              false,
		`{ customers(page: 1) { nodes { name } } } ` + strings.Repeat(" password", 1):                                                                     true, // unreadable: not kept
	} {
		got := mayHoldSecret(doc) && holdsInlineSecret(doc, 15000)
		assert.Equal(t, want, got, doc)
	}
	big := `mutation { createCustomer(input: {email: "a@b.co", name: "A", password: $p}) { customer { id } } }` + strings.Repeat(" {a}", 100)
	assert.True(t, holdsInlineSecret(big, 50), "over the token limit: not read, not kept")
}
