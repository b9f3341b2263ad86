package httpapi

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// AccessLog writes one JSON line per request — the fields and spelling of
// the slog JSON handler's "request" record (time, level, msg, request_id,
// method, path, status, duration in ns, route, ip, bytes) — without slog:
// the fixed field set is encoded into a batch buffer with no allocation, and
// a background goroutine writes full batches to w. A request never waits
// for w: when every batch buffer is waiting to be written, its line is
// dropped and counted (gatehouse_access_log_dropped_total). Batches are
// written when full, every FlushInterval and on Close.
type AccessLog struct {
	w       io.Writer
	dropped prometheus.Counter // nil: not counted

	mu  sync.Mutex
	cur []byte // the batch being filled; nil when no buffer was free

	free    chan []byte // empty buffers
	full    chan []byte // batches for the writer goroutine
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

const (
	accessLogBatch   = 64 << 10 // bytes per batch buffer
	accessLogBuffers = 4        // batch buffers; all full means drop
	// FlushInterval bounds how long a line waits in a batch.
	FlushInterval = 200 * time.Millisecond
)

// NewAccessLog starts the writer goroutine of an access log to w; Close
// stops it. dropped counts lines dropped under back-pressure (nil: none).
func NewAccessLog(w io.Writer, dropped prometheus.Counter) *AccessLog {
	l := &AccessLog{
		w: w, dropped: dropped,
		free: make(chan []byte, accessLogBuffers), full: make(chan []byte, accessLogBuffers),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.cur = make([]byte, 0, accessLogBatch)
	for range accessLogBuffers - 1 {
		l.free <- make([]byte, 0, accessLogBatch)
	}
	go l.run()
	return l
}

// Close writes what is buffered and stops the writer goroutine. Lines
// logged after Close are dropped.
func (l *AccessLog) Close() error {
	l.closing.Do(func() {
		close(l.stop)
		<-l.done
	})
	return nil
}

func (l *AccessLog) run() {
	defer close(l.done)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case b := <-l.full:
			l.write(b)
		case <-tick.C:
			l.flush()
		case <-l.stop:
			l.flush()
			for {
				select {
				case b := <-l.full:
					l.write(b)
				default:
					l.mu.Lock()
					l.cur = nil // later lines are dropped
					l.mu.Unlock()
					return
				}
			}
		}
	}
}

// flush hands the current batch to the writer (called by the writer
// goroutine only, so it writes it itself).
func (l *AccessLog) flush() {
	l.mu.Lock()
	b := l.cur
	if len(b) == 0 {
		l.mu.Unlock()
		return
	}
	select {
	case nb := <-l.free:
		l.cur = nb
	default:
		l.cur = nil
	}
	l.mu.Unlock()
	l.write(b)
}

func (l *AccessLog) write(b []byte) {
	_, _ = l.w.Write(b) // a failing stderr has nowhere to report to
	b = b[:0]
	l.mu.Lock()
	if l.cur == nil {
		l.cur = b
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	select {
	case l.free <- b:
	default:
	}
}

// accessLine is the content of one access log line.
type accessLine struct {
	start    time.Time
	id       string
	method   string
	path     string
	status   int
	duration time.Duration
	route    string // "gateway:" + gwRoute when gwRoute != ""
	gwRoute  string
	ip       string
	bytes    int64
}

// log appends one line to the current batch; it never blocks on the
// writer.
func (l *AccessLog) log(a *accessLine) {
	var scratch [512]byte
	line := a.append(scratch[:0])
	l.mu.Lock()
	if l.cur != nil && len(l.cur)+len(line) > cap(l.cur) && len(l.cur) > 0 {
		b := l.cur
		select {
		case l.full <- b:
			select {
			case nb := <-l.free:
				l.cur = nb
			default:
				l.cur = nil
			}
		default: // the writer has every other buffer: drop
			l.cur = b
			l.mu.Unlock()
			l.drop()
			return
		}
	}
	if l.cur == nil {
		l.mu.Unlock()
		l.drop()
		return
	}
	l.cur = append(l.cur, line...)
	l.mu.Unlock()
}

func (l *AccessLog) drop() {
	if l.dropped != nil {
		l.dropped.Inc()
	}
}

func (a *accessLine) append(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = a.start.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = appendJSONString(b, a.id)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, a.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, a.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(a.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(a.duration), 10)
	b = append(b, `,"route":"`...)
	if a.gwRoute != "" {
		b = append(b, "gateway:"...)
		b = appendJSONChars(b, a.gwRoute)
	} else {
		b = appendJSONChars(b, a.route)
	}
	b = append(b, `","ip":`...)
	b = appendJSONString(b, a.ip)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, a.bytes, 10)
	return append(b, "}\n"...)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONChars(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONChars appends s escaped as slog's JSON handler does (no HTML
// escaping; control characters, invalid UTF-8, U+2028 and U+2029 escaped).
func appendJSONChars(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
