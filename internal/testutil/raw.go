package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RawRequest sends one HTTP/1.1 request to addr with target written byte
// for byte as the request-target, so that paths reach the server exactly as
// an attacker spells them (Go's client would escape or refuse some).
// header is name, value pairs; a name may repeat, and a "Host" pair
// replaces the Host line (addr by default). No body is sent. It returns
// the response with its body read.
func RawRequest(t testing.TB, addr, method, target string, header ...string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	host, rest := addr, []string{}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			host = header[i+1]
			continue
		}
		rest = append(rest, header[i], header[i+1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for i := 0; i+1 < len(rest); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", rest[i], rest[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method}) // a HEAD answer has no body
	if err != nil {
		t.Fatalf("%s %q: read response: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// RawStatus sends RawRequest to the server whose URL is base, with Host
// host ("" keeps base's) and header (a map: each name once), and returns
// the status.
func RawStatus(t testing.TB, base, method, target, host string, header map[string]string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var h []string
	if host != "" {
		h = append(h, "Host", host)
	}
	for k, v := range header {
		h = append(h, k, v)
	}
	resp, _ := RawRequest(t, u.Host, method, target, h...)
	return resp.StatusCode
}

// Trickle writes to conn one byte every 20 ms — prefix first, then 'a's —
// until total bytes are written, a write fails, or stop is closed, and
// returns how many it wrote: a client that sends a request as slowly as it
// likes, for a server's timeouts to cut off.
func Trickle(conn net.Conn, prefix string, total int, stop <-chan struct{}) int {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; n < total; n++ {
		select {
		case <-stop:
			return n
		case <-tick.C:
		}
		b := byte('a')
		if n < len(prefix) {
			b = prefix[n]
		}
		if _, err := conn.Write([]byte{b}); err != nil {
			return n
		}
	}
	return total
}
