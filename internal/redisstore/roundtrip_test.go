package redisstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// TestEveryFieldOfAPageRoundTrips fills every field of upstream.Page, at
// any depth, and reads it back through Redis on another replica: a field
// added to the upstream types later is covered without touching this test.
func TestEveryFieldOfAPageRoundTrips(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Minute)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Minute)

	var want upstream.Page
	n := 0
	fill(t, reflect.ValueOf(&want).Elem(), &n)
	want.Stale, want.Age = false, 0 // the client's, never stored (see TestAStoredPageComesBackFresh)

	ctx := context.Background()
	a.Set(ctx, "k", upstream.Entry[upstream.Page]{Value: want, StoredAt: time.Now()}, time.Minute)
	got, ok := b.Get(ctx, "k")
	require.True(t, ok)
	assert.Equal(t, want, got.Value)
}

// fill sets v and everything under it to distinct non-zero values.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + time.Duration(*n).String())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			// Times from the upstream are UTC, to the nanosecond at most.
			v.Set(reflect.ValueOf(time.Date(2024, 4, 2, 7, 6, 3, 910_000_000+*n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			require.True(t, f.IsExported(), "%s.%s is unexported: JSON would drop it on its way through Redis", v.Type(), f.Name)
			fill(t, v.Field(i), n)
		}
	default:
		require.FailNow(t, "no JSON round trip checked for this kind; extend fill", "%s", v.Type())
	}
}
