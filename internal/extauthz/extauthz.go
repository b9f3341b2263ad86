package extauthz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// CheckFunc judges an original request (gateway.Gateway.Check of the
// gateway in use; a function so that a reload swaps it).
type CheckFunc func(r *http.Request) gateway.Verdict

// HTTPPath is the prefix of Envoy's HTTP ext_authz service: Envoy is
// configured with path_prefix /auth/verify/envoy and sends the original
// path after it.
const HTTPPath = gateway.VerifyEnvoyPath

// HeadersToRemove is the response header by which an HTTP ext_authz
// service names request headers Envoy must remove before the upstream.
const HeadersToRemove = "X-Envoy-Auth-Headers-To-Remove"

// Route is the route of a gRPC Check in the request log and the request
// metrics (gatehouse_http_requests_total): the gRPC method, which is the
// path of the HTTP/2 request that carries it.
const Route = authv3.Authorization_Check_FullMethodName

// ObserveFunc is told of every Check once it is answered, for the request
// log and metrics (app gives httpapi.Observer.Observe with Route). r is the
// request as judged — for a Check that describes none (a denial 400), what
// it does describe: method, host, the path without its query, headers and
// the peer; status is the HTTP status of the answer (200 allowed, else the
// denied_response status), bytes the length of the denied_response body,
// start when the Check arrived.
type ObserveFunc func(r *http.Request, status, bytes int, start time.Time)

// NewGRPC returns a gRPC server with the Authorization service registered.
// observe is told of every Check answered (nil: none); log receives
// refused requests that could not be described (nil discards). A panic in
// a handler is answered as recoverPanic says, never by the process dying.
// The server has explicit limits, not grpc-go's defaults: MaxCheckBytes,
// MinPingInterval and those of serverLimits; opts come after them (a later
// option of the same kind wins). Stop it with GracefulStop.
func NewGRPC(check CheckFunc, observe ObserveFunc, log *slog.Logger, opts ...grpc.ServerOption) *grpc.Server {
	return newGRPC(defaultLimits(), check, observe, log, opts...)
}

// newGRPC is NewGRPC with the limits l.
func newGRPC(l limits, check CheckFunc, observe ObserveFunc, log *slog.Logger, opts ...grpc.ServerOption) *grpc.Server {
	log = orDiscard(log)
	if observe == nil {
		observe = func(*http.Request, int, int, time.Time) {}
	}
	base := append(serverLimits(l), grpc.ChainUnaryInterceptor(recoverPanic(log)))
	s := grpc.NewServer(append(base, opts...)...)
	authv3.RegisterAuthorizationServer(s, &service{check: check, observe: observe, log: log})
	return s
}

// recoverPanic is the unary interceptor that recovers a panic of a handler,
// as the HTTP server's recovery does: it logs the panic and the method (not
// the request: its headers carry credentials) and answers a Check with a
// denial, 500 internal_error (status INTERNAL in the CheckResponse). Not
// an RPC error: Envoy's failure_mode_allow would turn that into an allow.
// Any other method gets the RPC error INTERNAL.
func recoverPanic(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			log.LogAttrs(ctx, slog.LevelError, "ext_authz: panic", slog.Bool("granted", false),
				slog.String("method", info.FullMethod), slog.Any("panic", p))
			if _, ok := req.(*authv3.CheckRequest); ok {
				resp, err = denied(errorVerdict(httperr.Internal.Status, httperr.Internal.Code)), nil
				return
			}
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}()
		return handler(ctx, req)
	}
}

// Waiting is the CheckFunc of an instance whose stores do not answer yet
// at start (`gatehouse serve` retries them, docs/deploy.md): it refuses
// every request as the public listener's httpapi.Waiting does, 503
// {"error":"unavailable"} with Retry-After (retryAfter: when the stores are
// tried again). Over gRPC that is a denial (status UNAVAILABLE), which
// Envoy passes on to the client, never an RPC error, which
// failure_mode_allow would turn into an allow.
func Waiting(retryAfter func() time.Duration) CheckFunc {
	p := httperr.Of(auth.ErrUnavailable)
	return func(*http.Request) gateway.Verdict {
		v := errorVerdict(p.Status, p.Code)
		v.Header.Set("Cache-Control", "no-store")
		v.Header.Set("Retry-After", httperr.RetryAfter(retryAfter()))
		return v
	}
}

// errorVerdict is a refusal with status and the JSON error code (a fixed
// identifier such as bad_request: nothing to escape).
func errorVerdict(status int, code string) gateway.Verdict {
	return gateway.Verdict{Status: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: []byte(`{"error":"` + code + `"}` + "\n")}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

type service struct {
	authv3.UnimplementedAuthorizationServer
	check   CheckFunc
	observe ObserveFunc
	log     *slog.Logger
}

// Check implements envoy.service.auth.v3.Authorization/Check. It never
// returns an RPC error for a request it can judge: a malformed description
// is a denial (400), so that Envoy's failure_mode_allow cannot turn it into
// an allow. Every answer is observed, a panic of check's too (as the 500
// recoverPanic answers it).
func (s *service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	r, err := originalRequest(ctx, req)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "ext_authz: refused", slog.Bool("granted", false),
			slog.String("reason", "bad_check_request"), slog.String("error", err.Error()))
		v := errorVerdict(http.StatusBadRequest, "bad_request")
		s.observe(described(ctx, req), v.Status, len(v.Body), start)
		return denied(v), nil
	}
	answered := false
	defer func() {
		if !answered { // check panicked
			v := errorVerdict(httperr.Internal.Status, httperr.Internal.Code)
			s.observe(r, v.Status, len(v.Body), start)
		}
	}()
	v := s.check(r)
	answered = true
	if !v.Allowed() {
		s.observe(r, v.Status, len(v.Body), start)
		return denied(v), nil
	}
	s.observe(r, v.Status, 0, start)
	ok := &authv3.OkHttpResponse{HeadersToRemove: lower(v.RemoveUpstream)}
	ok.Headers = headerOptions(v.SetUpstream)
	ok.ResponseHeadersToAdd = headerOptions(v.Header)
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

// originalRequest rebuilds the request Envoy asks about: method, path (with
// query, as the client sent it), host, headers (without pseudo-headers),
// and as RemoteAddr the gRPC peer, which must be a trusted proxy. The
// downstream address Envoy saw is appended to X-Forwarded-For, as the hop
// Envoy vouches for.
func originalRequest(ctx context.Context, req *authv3.CheckRequest) (*http.Request, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	if hr == nil {
		return nil, fmt.Errorf("no attributes.request.http")
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return nil, fmt.Errorf("no peer address")
	}
	h := headers(hr)
	if src := req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress(); src != "" {
		if xff := h.Get("X-Forwarded-For"); xff != "" {
			h.Set("X-Forwarded-For", xff+", "+src)
		} else {
			h.Set("X-Forwarded-For", src)
		}
	}
	return build(ctx, hr.GetMethod(), hr.GetPath(), hr.GetHost(), h, p.Addr.String())
}

// described is what a Check that originalRequest refused describes, for
// its log line: method, host, the path without its query, the headers
// (X-Request-Id, X-Forwarded-For) and the peer, as far as they are there.
func described(ctx context.Context, req *authv3.CheckRequest) *http.Request {
	hr := req.GetAttributes().GetRequest().GetHttp()
	path, _, _ := strings.Cut(hr.GetPath(), "?")
	r := &http.Request{Method: hr.GetMethod(), Host: hr.GetHost(), URL: &url.URL{Path: path}, Header: headers(hr)}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.RemoteAddr = p.Addr.String()
	}
	return r.WithContext(ctx)
}

// headers are the request headers a Check describes (header_map when
// Envoy sends it, else headers), without pseudo-headers.
func headers(hr *authv3.AttributeContext_HttpRequest) http.Header {
	h := http.Header{}
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, hv := range hm.GetHeaders() {
			val := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				val = string(hv.GetRawValue())
			}
			addHeader(h, hv.GetKey(), val)
		}
		return h
	}
	for k, v := range hr.GetHeaders() {
		addHeader(h, k, v)
	}
	return h
}

func addHeader(h http.Header, k, v string) {
	if k == "" || strings.HasPrefix(k, ":") {
		return
	}
	h.Add(k, v)
}

// build makes the http.Request gateway.Check reads. Its errors, which
// are logged, name the target without its query: a query can hold a token
// or an authorization code.
func build(ctx context.Context, method, target, host string, h http.Header, remote string) (*http.Request, error) {
	shown, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("path %q is not origin-form", shown)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		// A *url.Error quotes the whole target; its Err alone does not.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("path %q: %w", shown, err)
	}
	if _, _, err := net.SplitHostPort(remote); err != nil {
		return nil, fmt.Errorf("peer address %q: %w", remote, err)
	}
	r := (&http.Request{Method: method, URL: u, Host: host, Header: h, RemoteAddr: remote,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RequestURI: target, Body: http.NoBody}).WithContext(ctx)
	return r, nil
}

func denied(v gateway.Verdict) *authv3.CheckResponse {
	code := codes.PermissionDenied
	switch v.Status {
	case http.StatusUnauthorized, http.StatusFound:
		code = codes.Unauthenticated
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusNotFound:
		code = codes.NotFound
	case http.StatusInternalServerError:
		code = codes.Internal
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(v.Status)},
			Headers: headerOptions(v.Header),
			Body:    string(v.Body),
		}},
	}
}

// headerOptions turns h into Envoy header mutations that replace any
// header of the same name.
func headerOptions(h http.Header) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for k, vals := range h {
		for i, v := range vals {
			action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			if i > 0 {
				action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			}
			out = append(out, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
				AppendAction: action,
			})
		}
	}
	return out
}

func lower(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// HTTPHandler serves Envoy's HTTP ext_authz service under HTTPPath: Envoy
// sends the original method, HTTPPath + the original path and query, the
// original Host, and the headers its allowed_headers list names. Allowed:
// 200 with the headers to set upstream (list them in Envoy's
// allowed_upstream_headers) and X-Envoy-Auth-Headers-To-Remove naming the
// client headers to remove. Denied: the gateway's status, headers and body
// (400 for the method CONNECT, which names a tunnel, not the path after the
// prefix).
func HTTPHandler(check CheckFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := strings.TrimPrefix(r.RequestURI, HTTPPath)
		if target == r.RequestURI || !strings.HasPrefix(target, "/") {
			httperr.JSON(w, http.StatusBadRequest, "bad_request")
			return
		}
		h := r.Header.Clone()
		fr, err := build(r.Context(), r.Method, target, r.Host, h, r.RemoteAddr)
		if err != nil {
			httperr.JSON(w, http.StatusBadRequest, "bad_request")
			return
		}
		v := check(fr)
		out := w.Header()
		for k, vals := range v.Header {
			out[k] = vals
		}
		if v.Allowed() {
			for k, vals := range v.SetUpstream {
				out[k] = vals
			}
			if len(v.RemoveUpstream) > 0 {
				out.Set(HeadersToRemove, strings.Join(lower(v.RemoveUpstream), ","))
			}
			out.Set("Cache-Control", "no-store")
		}
		w.WriteHeader(v.Status)
		_, _ = w.Write(v.Body)
	})
}
