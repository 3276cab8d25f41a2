package upstream

import "log/slog"

// Secret is a value that belongs only to whoever sent or asked for it: a
// new customer's password, a login token's key. Like Token, it prints as
// [redacted] through fmt, slog and encoders (json.Marshal included), so
// that it cannot reach a log line, an error, a metric or a cache by
// accident; string(s) is the value, for where it is meant to go.
type Secret string

// String returns a mask, never the secret.
func (Secret) String() string { return redacted }

// GoString returns a mask, never the secret (for %#v).
func (Secret) GoString() string { return redacted }

// LogValue returns a mask, never the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a mask, never the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
