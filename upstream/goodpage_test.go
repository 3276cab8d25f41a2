package upstream

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGoodPageDecoderReadsWhatEncodingJSONReads holds the one-pass decoder
// to the careful path (encoding/json) on bodies at the edges of what it
// reads: where it decodes a body (fast), the page is the careful path's;
// elsewhere it gives up and the careful path answers.
func TestGoodPageDecoderReadsWhatEncodingJSONReads(t *testing.T) {
	rec := `{"_id":"a","createdAt":"2024-04-02T07:06:03.910Z"}`
	for _, c := range []struct {
		body string
		fast bool
	}{
		{`{"success":true,"message":"","data":[],"code":200}`, true},
		{`{"success":true,"data":[` + rec + `,null,` + rec + `]}` + " \n\t\r", true},
		{` {"success":true,"data":[]}`, false}, // the careful path trims it
		{`{"success":true,"data":[` + rec + `]} x`, false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"x"},{"createdAt":"2024-04-02T07:06:03Z"},{"_id":""}]}`, true},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03+05:30","updatedAt":"2024-04-02T07:06:03.123456789Z",` +
			`"lastLogin":null,"contact":{"email":"k@x.io","phone":[1,{"a":[]}]},"verified":true,"status":"ACTIVE","subscriptionType":null,` +
			`"unknown":{"deep":[1,-2.5e+3,"s\"\\",true,false,null]}}]}`, true},
		{`{"success":true,"data":[{"_id":"\u0061\n\"\\\/\b\f\r\t","createdAt":"2024-04-02T07:06:03Z","name":"tomás \u00e9 😀"}]}`, true},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","name":"\ud83d\ude00"}]}`, false}, // a surrogate pair
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","name":"\ud83d"}]}`, false},
		{"{\"success\":true,\"data\":[{\"_id\":\"a\",\"createdAt\":\"2024-04-02T07:06:03Z\",\"name\":\"\xff\"}]}", false},
		{"{\"success\":true,\"data\":[{\"_id\":\"a\",\"createdAt\":\"2024-04-02T07:06:03Z\",\"x\":\"\xed\xa0\x80\"}]}", false},
		{"{\"success\":true,\"data\":[{\"_id\":\"a\",\"createdAt\":\"2024-04-02T07:06:03Z\",\"name\":\"a\tb\"}]}", false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","name":"\x"}]}`, false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","name":"\u00zz"}]}`, false},
		{`{"success":true,"data":[{"_ID":"a","createdAt":"2024-04-02T07:06:03Z"}]}`, false},           // encoding/json matches it to _id
		{`{"success":true,"data":[{"_id":"a","_id":"b","createdAt":"2024-04-02T07:06:03Z"}]}`, false}, // the last wins there
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","contact":{"EMAIL":"x"}}]}`, false},
		{`{"Success":true,"data":[]}`, false},
		{`{"success":true,"data":[],"data":[]}`, false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","contact":null,"verified":null}]}`, true},
		{`{"success":true,"data":[{"_id":5,"createdAt":"2024-04-02T07:06:03Z"}]}`, false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","verified":"yes"}]}`, false},
		{`{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T07:06:03Z","contact":"x"}]}`, false},
		{`{"success":true,"data":["x"]}`, false},
		{`{"success":true,"data":[[]]}`, false},
		{`{"success":true,"data":null}`, false},
		{`{"success":true,"data":{}}`, false},
		{`{"success":true}`, false},
		{`{"success":false,"data":[]}`, false},
		{`{"success":null,"data":[]}`, false},
		{`{"success":"true","data":[]}`, false},
		{`{"success":true,"data":[],"code":200,"message":null}`, true},
		{`{"success":true,"data":[],"code":-0,"message":"\u00e9"}`, true},
		{`{"success":true,"data":[],"code":200.0}`, false},
		{`{"success":true,"data":[],"code":2e2}`, false},
		{`{"success":true,"data":[],"code":99999999999999999999}`, false},
		{`{"success":true,"data":[],"code":"200"}`, false},
		{`{"success":true,"data":[],"message":5}`, false},
		{`{"success":true,"data":[],"x":01}`, false},
		{`{"success":true,"data":[],"x":1.}`, false},
		{`{"success":true,"data":[],"x":-}`, false},
		{`{"success":true,"data":[],"x":.5}`, false},
		{`{"success":true,"data":[],"x":[1,]}`, false},
		{`{"success":true,"data":[],}`, false},
		{`{"success":true,"data":[],"x":nul}`, false},
		{`{"success":true,"data":[],"x":` + nested(maxScanDepth) + `}`, false},
		{`{"success":true,"data":[],"x":` + nested(maxScanDepth-2) + `}`, true},
		{`{"success":true,"data":[`, false},
		{`{"success":true,"data":[{"_id":"a"`, false},
	} {
		page, ok := decodeGoodPage([]byte(c.body))
		assert.Equal(t, c.fast, ok, c.body)
		if !ok {
			continue
		}
		careful, err := decodeCarefully(200, "", []byte(c.body))
		require.NoError(t, err, c.body)
		assert.Equal(t, careful, page, c.body)
	}
}

func nested(depth int) string {
	s := "1"
	for range depth {
		s = "[" + s + "]"
	}
	return s
}

// A page of every field takes the fast path.
func TestGoodPageDecoderReadsAGoodPage(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "page_ok.json"))
	require.NoError(t, err)
	page, ok := decodeGoodPage(body)
	require.True(t, ok)
	careful, err := decodeCarefully(200, "", body)
	require.NoError(t, err)
	assert.Equal(t, careful, page)
	assert.Len(t, page.Customers, 3)
}

// BenchmarkDecodeGoodPage decodes a page of 20 customers of every field,
// as the upstream sends them.
func BenchmarkDecodeGoodPage(b *testing.B) {
	var recs []string
	for i := range 20 {
		recs = append(recs, fmt.Sprintf(`{"_id":"6610%04x","name":"Kevin v%d","contact":{"email":"kevin+%d@monday101.com"},`+
			`"verified":true,"status":"ACTIVE","subscriptionType":"v2","createdAt":"2024-04-02T07:06:03.910Z",`+
			`"updatedAt":"2024-04-02T13:57:16.513Z","lastLogin":"2024-04-02T09:48:04.402Z"}`, i, i, i))
	}
	body := []byte(`{"success":true,"message":"","data":[` + strings.Join(recs, ",") + `],"code":200}`)
	b.ReportAllocs()
	for b.Loop() {
		if p, ok := decodeGoodPage(body); !ok || len(p.Customers) != 20 {
			b.Fatal("not decoded")
		}
	}
}

// A decoded page keeps nothing of its body, whose buffer the client
// reuses: not even the strings of a record it refused, which share
// allocations with the customers it kept.
func TestAPageDoesNotKeepItsBodyAlive(t *testing.T) {
	body := []byte(`{"success":true,"data":[` +
		`{"_id":"a","createdAt":"2024-04-02T07:06:03.910Z","contact":{"email":"a@example.com"},"subscriptionType":"v2"},` +
		`{"_id":"refused","contact":{"email":"refused@example.com"},"subscriptionType":"v3"},` +
		`{"_id":"b","createdAt":"2024-04-02T07:06:03.910Z","contact":{"email":"b@example.com"},"subscriptionType":"v2"}]}`)
	page, ok := decodeGoodPage(body)
	require.True(t, ok)
	require.Len(t, page.Customers, 2)
	require.Len(t, page.Invalid, 1)

	gone := weak.Make(unsafe.SliceData(body))
	body = nil
	runtime.GC()
	runtime.GC()
	assert.Nil(t, gone.Value(), "the page keeps its body alive")
	assert.Equal(t, "b@example.com", *page.Customers[1].Email)
	assert.Equal(t, "v2", *page.Customers[1].SubscriptionType)
	runtime.KeepAlive(page)
}
