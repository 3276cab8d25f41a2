package httpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/internal/jsonstr"
)

// postTransport is gqlgen's POST transport (transport.POST, default
// settings), answering byte for byte as it does (except that a body it
// cannot decode is not repeated in the error), but writing the answer
// without encoding its data again. gqlgen's writeJson runs json.Marshal
// over the whole response, which validates and copies the data gqlgen has
// just rendered as JSON: a tenth of the CPU of a request nobody shares.
// Here the data is copied once, escaped for HTML as json.Marshal does.
//
// The data of an operation is rendered into a buffer from buffers (see
// graph.DataBuffer), given back once the answer is written; nil: none.
type postTransport struct {
	transport.POST
	buffers graph.BufferPool
}

var _ graphql.Transport = postTransport{}

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r.Header.Get("Accept"))
	w.Header().Add("Content-Type", contentType)
	start := graphql.Now()

	body := bodyOf(r)
	if body == nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
			return
		}
	}
	params, err := decodeParams(body)
	if err != nil {
		// Unlike gqlgen's, the message does not repeat the body: it may
		// hold a password.
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf(
			"json request body could not be decoded: %+v", err)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, opErr := exec.CreateOperationContext(ctx, &params)
	if opErr != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
			if contentType == mediaGraphQLResponse {
				status = http.StatusBadRequest
			}
		}
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	var data *graph.DataBuffer
	if t.buffers != nil {
		ctx, data = graph.WithDataBuffer(ctx, t.buffers)
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
	data.Release() // writeResponse has copied the data
}

const mediaGraphQLResponse = "application/graphql-response+json"

// responseContentType is gqlgen's choice of media type by Accept.
func responseContentType(accept string) string {
	if accept == "" {
		return "application/json"
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", "application/json":
			return "application/json"
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeResponse writes resp as json.Marshal would: errors, data, then
// extensions; the data as it is, HTML-escaped. Parts of incremental
// delivery, which this schema never sends, go through json.Marshal.
func writeResponse(w http.ResponseWriter, resp *graphql.Response) {
	if resp == nil { // a cancelled operation: gqlgen writes null
		writeWhole(w, []byte("null"))
		return
	}
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil || !compactJSON(resp.Data) {
		b, err := json.Marshal(resp)
		if err != nil {
			panic(err) // as gqlgen: its own rendering was not JSON
		}
		writeWhole(w, b)
		return
	}
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer answerBuffers.Put(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
	buf.WriteByte('{')
	if len(resp.Errors) > 0 {
		buf.WriteString(`"errors":`)
		_ = enc.Encode(resp.Errors) // their own types: they cannot fail
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(',')
	}
	buf.WriteString(`"data":`)
	switch {
	case len(resp.Data) == 0:
		buf.WriteString("null")
	case needsHTMLEscape(resp.Data):
		json.HTMLEscape(buf, resp.Data)
	default:
		buf.Write(resp.Data)
	}
	if len(resp.Extensions) > 0 {
		buf.WriteString(`,"extensions":`)
		_ = enc.Encode(resp.Extensions)
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	writeWhole(w, buf.Bytes())
}

// writeWhole writes an answer whole, with its length (which the compressor
// drops when it compresses): net/http then sends it without the chunked
// encoding, in one write with its header (see onewrite).
func writeWhole(w http.ResponseWriter, answer []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	_, _ = w.Write(answer)
}

// compactJSON reports whether data can be copied as json.Marshal's
// compaction would leave it: gqlgen renders data without whitespace, so
// only its first byte is looked at; anything unusual takes json.Marshal.
func compactJSON(data json.RawMessage) bool {
	return len(data) == 0 || data[0] == '{' || data[0] == 'n'
}

// needsHTMLEscape reports whether data holds a byte that json.Marshal
// escapes in strings: <, > and &, and the first byte of U+2028 and U+2029.
// Four vectorised scans cost less than one loop over the bytes.
func needsHTMLEscape(data []byte) bool {
	return bytes.IndexByte(data, '<') >= 0 || bytes.IndexByte(data, '>') >= 0 ||
		bytes.IndexByte(data, '&') >= 0 || bytes.IndexByte(data, 0xE2) >= 0
}

// decodeParams decodes a POST body as gqlgen's POST transport does.
func decodeParams(body []byte) (graphql.RawParams, error) {
	if params, ok := plainParams(body); ok {
		return params, nil
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(&params)
	return params, err
}

// plainParams decodes, without encoding/json, the body that nearly every
// POST carries: an object of a "query" string, and perhaps an
// "operationName" string and null "variables" (encoding/json's Decoder
// was 2.5 % of a request's CPU for it). ok is false for anything else,
// which decodeParams leaves to encoding/json; FuzzPlainParams holds the
// two to the same result.
func plainParams(body []byte) (p graphql.RawParams, ok bool) {
	// One copy of the body: the values are substrings of it.
	s := jsonScanner{jsonstr.Scanner{S: string(body)}}
	if !s.next('{') {
		return p, false
	}
	if s.next('}') {
		return p, s.end()
	}
	var seen [3]bool // query, operationName, variables
	for {
		name, ok := s.string()
		if !ok || !s.next(':') {
			return p, false
		}
		var k int
		switch name {
		case "query":
			k = 0
			p.Query, ok = s.string()
		case "operationName":
			k = 1
			if !s.literal("null") {
				p.OperationName, ok = s.string()
			}
		case "variables":
			k = 2
			ok = s.literal("null")
		default:
			return p, false
		}
		// A member twice goes to encoding/json too (it takes the last).
		if !ok || seen[k] {
			return p, false
		}
		seen[k] = true
		if s.next('}') {
			return p, s.end()
		}
		if !s.next(',') {
			return p, false
		}
	}
}

// jsonScanner reads the few JSON forms plainParams takes, each after the
// whitespace before it.
type jsonScanner struct{ jsonstr.Scanner }

func (s *jsonScanner) next(c byte) bool {
	s.SkipSpace()
	return s.Next(c)
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.SkipSpace()
	return s.I == len(s.S)
}

func (s *jsonScanner) literal(word string) bool {
	s.SkipSpace()
	return s.Literal(word)
}

func (s *jsonScanner) string() (string, bool) {
	s.SkipSpace()
	return s.Quoted()
}
