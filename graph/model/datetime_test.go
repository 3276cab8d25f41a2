package model

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDateTimeMarshal(t *testing.T) {
	for name, tc := range map[string]struct {
		in   time.Time
		want string
	}{
		"millis kept":          {time.Date(2024, 4, 2, 7, 6, 3, 910_000_000, time.UTC), `"2024-04-02T07:06:03.910Z"`},
		"no fraction":          {time.Date(2024, 4, 2, 7, 6, 3, 0, time.UTC), `"2024-04-02T07:06:03.000Z"`},
		"finer truncated":      {time.Date(2024, 4, 2, 7, 6, 3, 999_999_999, time.UTC), `"2024-04-02T07:06:03.999Z"`},
		"other zone to UTC":    {time.Date(2024, 4, 2, 9, 6, 3, 1_000_000, time.FixedZone("x", 2*3600)), `"2024-04-02T07:06:03.001Z"`},
		"day boundary in zone": {time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("y", 5*3600)), `"2023-12-31T20:00:00.000Z"`},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			DateTime{tc.in}.MarshalGQL(&buf)
			assert.Equal(t, tc.want, buf.String())
		})
	}
}

func TestDateTimeUnmarshal(t *testing.T) {
	var d DateTime
	require.NoError(t, d.UnmarshalGQL("2024-04-02T09:06:03.910+02:00"))
	assert.True(t, d.Equal(time.Date(2024, 4, 2, 7, 6, 3, 910_000_000, time.UTC)))
	require.NoError(t, d.UnmarshalGQL("2024-04-02T07:06:03Z"))
	for _, bad := range []any{"2024-04-02", "yesterday", 5, nil} {
		assert.Error(t, d.UnmarshalGQL(bad), "%v", bad)
	}
}
