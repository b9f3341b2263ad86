package cache

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

// The hit path is what the gateway pays per request with a cached token or
// session; Put is the miss path (after a signature check or store read).

func benchCache(b *testing.B, n int) (*Cache[[32]byte, int], [][32]byte) {
	b.Helper()
	c := New[[32]byte, int](100_000, nil)
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = sha256.Sum256([]byte(strconv.Itoa(i)))
		c.Put(c.Generation(), keys[i], i, time.Now().Add(time.Hour), Tag{"sid", strconv.Itoa(i % 100)})
	}
	return c, keys
}

func BenchmarkGet(b *testing.B) {
	c, keys := benchCache(b, 1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.Get(keys[i%len(keys)]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c, keys := benchCache(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get(keys[i%len(keys)]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

func BenchmarkPut(b *testing.B) {
	c, keys := benchCache(b, 10_000)
	deadline := time.Now().Add(time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Put(c.Generation(), keys[i%len(keys)], i, deadline, Tag{"jti", "j"}, Tag{"sid", "s"})
		i++
	}
}
