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
	// handshakeTimeout bounds a new connection's handshake (the HTTP/2
	// preface and settings), as ReadHeaderTimeout bounds a request's
	// headers on the public listener (grpc-go's default: 120 s).
	handshakeTimeout = 10 * time.Second
	// idleTimeout closes a connection without a Check for this long
	// (GOAWAY, then close; Envoy reconnects when it needs to), as the
	// public listener's IdleTimeout (grpc-go's default: never).
	idleTimeout = 2 * time.Minute
	// pingAfter and pingTimeout find dead peers: after pingAfter
	// without a frame from the client the server pings it and closes
	// the connection when no answer comes within pingTimeout (grpc-go's
	// defaults: 2 hours, 20 s).
	pingAfter   = time.Minute
	pingTimeout = 20 * time.Second
)

// serverLimits are the options of NewGRPC's limits.
func serverLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxCheckBytes),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: MinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout, Time: pingAfter, Timeout: pingTimeout}),
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
