package extauthz

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// MaxCheckBytes is the largest CheckRequest the gRPC server reads (after
// decompression); a larger one is refused with the RPC error
// RESOURCE_EXHAUSTED and the connection serves on. A Check describes a
// request's headers: the public listener accepts 64 KiB of them, Envoy by
// default 60 KiB (max_request_headers_kb), and a Check carries them with
// the path a second time and the addresses, so four times the public
// listener's header limit holds every Check of an Envoy with
// max_request_headers_kb up to 96. grpc-go's default, 4 MiB, would let any
// peer that can connect (judged only once its Check is read) make
// gatehouse hold 4 MiB per stream.
const MaxCheckBytes = 256 << 10

// MinPingInterval is the keepalive enforcement policy of the gRPC server:
// a client that pings more often than this (three times in a row, while
// the server sends it nothing) is sent GOAWAY ENHANCE_YOUR_CALM
// ("too_many_pings") and disconnected. Pings are allowed on a connection
// without Checks in flight, as Envoy's connection_keepalive sends them:
// set its interval to at least twice this (30s). grpc-go's default
// (5 minutes, and no pings without a stream) disconnected an Envoy whose
// keepalive kept an idle connection alive.
const MinPingInterval = 10 * time.Second

// The other limits of the gRPC server, each explicit rather than
// grpc-go's default (docs/envoy.md, "Limits of the gRPC listener").
const (
	// maxHeaderListBytes bounds the HTTP/2 header block of a Check's RPC
	// (its metadata, not the headers it describes): the public
	// listener's MaxHeaderBytes (grpc-go's default: 16 MiB).
	maxHeaderListBytes = 64 << 10
	// maxStreams is how many Checks one connection may have in flight,
	// as net/http's HTTP/2 on the public listener (grpc-go's default:
	// unlimited). Envoy opens another connection when it needs more.
	maxStreams = 250
)

// limits are the durations of the gRPC server's connection limits. NewGRPC
// uses defaultLimits; the tests build the same server with shorter ones
// (export_test.go) to see each limit act without waiting minutes.
type limits struct {
	// handshake bounds a new connection's handshake (the HTTP/2 preface
	// and settings); the connection is closed past it.
	handshake time.Duration
	// idle closes a connection without a Check in flight for this long
	// (GOAWAY, then close).
	idle time.Duration
	// pingAfter and pingTimeout find dead peers: after pingAfter without
	// a frame from the client the server pings it, and closes the
	// connection when no answer comes within pingTimeout.
	pingAfter, pingTimeout time.Duration
	// maxAge ends every connection after this long (±10 % jitter, added by
	// grpc-go so that connections opened together do not end together):
	// GOAWAY, and the Checks in flight get ageGrace to be answered before
	// the connection is closed.
	maxAge, ageGrace time.Duration
}

// defaultLimits are NewGRPC's limits.
func defaultLimits() limits {
	return limits{
		// As ReadHeaderTimeout bounds a request's headers on the public
		// listener (grpc-go's default: 120 s).
		handshake: 10 * time.Second,
		// As the public listener's IdleTimeout (grpc-go's default: never);
		// Envoy reconnects when it needs to.
		idle: 2 * time.Minute,
		// grpc-go's defaults: 2 hours, 20 s.
		pingAfter:   time.Minute,
		pingTimeout: 20 * time.Second,
		// Envoy keeps its connection to the ext_authz cluster for as long
		// as both live (grpc-go's default age: never), so instances added
		// to scale out would get none of the existing Envoys' Checks. On
		// GOAWAY Envoy opens a new connection to the instance its load
		// balancing picks: within one age every instance has its share.
		// 5 minutes costs one new connection per Envoy connection every 5
		// minutes, nothing next to the Checks sent meanwhile. The grace is
		// the drain of SIGTERM (app.ShutdownGrace, 30 s): a Check in flight
		// gets as long as at shutdown (grpc-go's default: forever), and one
		// still unanswered then is cut (UNAVAILABLE), long after Envoy's
		// own timeout for it has passed.
		maxAge:   5 * time.Minute,
		ageGrace: 30 * time.Second,
	}
}

// serverLimits are the options of NewGRPC's limits, with l's durations.
func serverLimits(l limits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxCheckBytes),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(l.handshake),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: MinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.idle,
			Time:                  l.pingAfter,
			Timeout:               l.pingTimeout,
			MaxConnectionAge:      l.maxAge,
			MaxConnectionAgeGrace: l.ageGrace,
		}),
	}
}

// GracefulStop stops s as http.Server.Shutdown stops an HTTP server: it
// closes the listener, tells every connection to go away (HTTP/2 GOAWAY:
// Envoy sends its next Checks on a new connection, to another instance)
// and waits for the Checks in flight to be answered. When ctx ends first,
// it closes every connection, which cuts the Checks still in flight
// (Envoy gets the RPC error UNAVAILABLE; their handlers' contexts are
// cancelled), and returns ctx's error without waiting for those handlers
// to return: grpc-go's Stop, called once GracefulStop runs, can wait for
// them (GracefulStop holds the server's lock while it does), and a
// handler stuck in a store call would hold the shutdown past its deadline.
func GracefulStop(ctx context.Context, s *grpc.Server) error {
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		go s.Stop()
		return ctx.Err()
	}
}
