package upstream

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

// An upstream that echoes a form or a URL echoes a secret URL-encoded:
// that form is masked too.
func TestCleanMessageMasksURLEncodedSecrets(t *testing.T) {
	const tok, password = "tok/en+1", "pass word&+/ü"
	for _, echoed := range []string{
		"raw " + tok + " " + password,
		"query ?key=" + url.QueryEscape(tok) + "&pw=" + url.QueryEscape(password),
		"path /keys/" + url.PathEscape(tok) + "/" + url.PathEscape(password),
	} {
		got := cleanMessage(echoed, tok, password)
		for _, secret := range []string{tok, password} {
			for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
				assert.NotContains(t, got, form, "cleanMessage(%q)", echoed)
			}
		}
		assert.Contains(t, got, redacted)
	}
	assert.Equal(t, "query ?key=[redacted]&pw=[redacted]",
		cleanMessage("query ?key="+url.QueryEscape(tok)+"&pw="+url.QueryEscape(password), tok, password))
}

// A secret that looks like a URL with user info is masked whole, before
// user info is dropped from the URLs of the message.
func TestCleanMessageMasksASecretThatLooksLikeAURL(t *testing.T) {
	const password = "hunter2://Mallory@Zebra-99"
	got := cleanMessage("password "+password+" is too weak, see https://u:p@docs.example.com/pw", "tok", password)
	assert.Equal(t, "password [redacted] is too weak, see https://docs.example.com/pw", got)
	assert.NotContains(t, got, "Zebra-99")
	assert.NotContains(t, got, "hunter2")
}
