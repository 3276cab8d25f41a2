package httpserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// FuzzPlainParams: whatever body plainParams decodes, gqlgen's way of
// decoding it (encoding/json's Decoder, with UseNumber) decodes to the
// same parameters.
func FuzzPlainParams(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ customers { page } }"}`,
		` {"query": "query Q { customers(page: 2) { nodes { id } } }", "operationName": "Q", "variables": null} `,
		`{"query":"{ a(s: \"x\\n\\t\\/\") }\n","operationName":null}`,
		`{"query":"{ a(s: \"\u00e9\") }"}`, `{"query":"é ☃"}`, "{\"query\":\"\xff\"}", `{"query":"\ud83d\ude00"}`,
		`{}`, `{"query":"a","query":"b"}`, `{"query":"a","QUERY":"b"}`, `{"Query":"a"}`, `{"query":null}`,
		`{"query":"a","variables":{"n":1}}`, `{"query":"a","extensions":{}}`, `{"query":"a"} {"query":"b"}`,
		`{"query":"a",}`, `{"query":"a"`, `{"query":"a\`, `{"query":"a\q"}`, `[]`, `"a"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := plainParams(body)
		if !ok {
			return
		}
		var want graphql.RawParams
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("%q: plainParams %+v, encoding/json: %v", body, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: plainParams %+v, encoding/json %+v", body, got, want)
		}
	})
}

// TestPlainParamsTakesWhatClientsSend: the bodies that browsers' GraphQL
// clients send take the quick way (not encoding/json), which the fuzz
// target above cannot tell.
func TestPlainParamsTakesWhatClientsSend(t *testing.T) {
	for _, body := range []string{
		`{"query":"{ customers { page } }"}`,
		`{"operationName":"Page","variables":null,"query":"query Page {\n  customers(sort: NAME) {\n    page\n    __typename\n  }\n}"}`,
		`{"query":"{ a(s: \"quoted \\\\ and /\") }","operationName":null}`,
	} {
		if _, ok := plainParams([]byte(body)); !ok {
			t.Errorf("%s: not decoded by plainParams", body)
		}
	}
}
