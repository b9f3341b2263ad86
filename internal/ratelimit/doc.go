// Package ratelimit is the token bucket behind the gateway's per-route
// rate_limit (contract section 12): Limit says how many requests a bucket
// allows, a Store keeps the buckets. Memory keeps them in this process (one
// instance), at most DefaultMaxBuckets of them; the Redis store
// (internal/store/redis) keeps one key per bucket and updates it with one
// Lua script, so N instances share one budget and a Redis Cluster can hold
// the buckets.
//
// Headers formats the IETF draft RateLimit and RateLimit-Policy fields
// (draft-ietf-httpapi-ratelimit-headers) for a Result.
package ratelimit
