package extauthz

import (
	"time"

	"google.golang.org/grpc"
)

// Limits are the durations of the gRPC server's connection limits
// (limits), for the tests to build a server with shorter ones.
type Limits struct {
	Handshake, Idle, PingAfter, PingTimeout, MaxAge, AgeGrace time.Duration
}

// DefaultLimits are NewGRPC's.
func DefaultLimits() Limits {
	l := defaultLimits()
	return Limits{Handshake: l.handshake, Idle: l.idle, PingAfter: l.pingAfter, PingTimeout: l.pingTimeout,
		MaxAge: l.maxAge, AgeGrace: l.ageGrace}
}

// NewGRPCWithLimits is NewGRPC (no observer, no log) with the limits l.
func NewGRPCWithLimits(l Limits, check CheckFunc) *grpc.Server {
	return newGRPC(limits{handshake: l.Handshake, idle: l.Idle, pingAfter: l.PingAfter, pingTimeout: l.PingTimeout,
		maxAge: l.MaxAge, ageGrace: l.AgeGrace}, check, nil, nil)
}

// MaxHeaderListBytes and MaxStreams are the gRPC server's limits of the
// same names, for the test that docs/envoy.md states them.
const (
	MaxHeaderListBytes = maxHeaderListBytes
	MaxStreams         = maxStreams
)
