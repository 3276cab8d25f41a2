package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// TrustedDocuments are the operations a frontend ships, by id. When the
// gateway has them, it runs nothing else: the standard way to lock a public
// GraphQL endpoint to the operations of its own apps.
type TrustedDocuments struct {
	byID  map[string]string // id (usually the SHA-256 of the body) → body
	bySum map[string]bool   // SHA-256 of every body, to accept a full document that is in the list
}

// Len is the number of documents.
func (t *TrustedDocuments) Len() int { return len(t.byID) }

// LoadTrustedDocuments reads a manifest: either Apollo's persisted query
// manifest ({"format": "apollo-persisted-query-manifest", "operations":
// [{"id", "body", ...}]}) or a plain {"<id>": "<document>"} map, as GraphQL
// Code Generator and Relay write.
func LoadTrustedDocuments(path string) (*TrustedDocuments, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTrustedDocuments(raw)
}

func parseTrustedDocuments(raw []byte) (*TrustedDocuments, error) {
	var apollo struct {
		Format     string `json:"format"`
		Operations []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	docs := map[string]string{}
	if err := json.Unmarshal(raw, &apollo); err == nil && apollo.Format != "" {
		if apollo.Format != "apollo-persisted-query-manifest" {
			return nil, fmt.Errorf("unknown manifest format %q", apollo.Format)
		}
		for _, op := range apollo.Operations {
			docs[op.ID] = op.Body
		}
	} else if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, errors.New("manifest must be an Apollo persisted query manifest or a JSON object of id → document")
	}
	t := &TrustedDocuments{byID: map[string]string{}, bySum: map[string]bool{}}
	for id, body := range docs {
		if id == "" || body == "" {
			return nil, errors.New("manifest has an empty id or document")
		}
		t.byID[id] = body
		t.bySum[sha256Hex(body)] = true
	}
	if len(t.byID) == 0 {
		return nil, errors.New("manifest holds no documents")
	}
	return t, nil
}

// ByID returns the document of an id.
func (t *TrustedDocuments) ByID(id string) (string, bool) {
	body, ok := t.byID[id]
	return body, ok
}

// Contains reports whether a full document is one of the list.
func (t *TrustedDocuments) Contains(query string) bool { return t.bySum[sha256Hex(query)] }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
