package httpapi

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// AccessLog writes one JSON line per request — the fields and spelling of
// the slog JSON handler's "request" record (time, level, msg, request_id,
// method, path, status, duration in ns, route, ip, bytes, and host on an
// Observer's lines) — without slog:
// the fixed field set is encoded with no allocation into a batch buffer, and
// Run writes full batches to w. A request never waits for w: when every
// batch buffer is waiting to be written, its line is dropped and counted
// (gatehouse_access_log_dropped_total). Run writes batches when full and
// every FlushInterval; Close writes what is left.
type AccessLog struct {
	w       io.Writer
	dropped prometheus.Counter // nil: not counted

	stamps stamper // the time field

	mu     sync.Mutex
	cur    []byte // the batch being filled; nil when no buffer was free
	closed bool   // after Close every line is dropped

	wmu  sync.Mutex  // one writer at a time (Run, Close), in batch order
	free chan []byte // empty buffers
	full chan []byte // batches waiting for the writer
}

const (
	accessLogBatch   = 64 << 10 // bytes per batch buffer
	accessLogBuffers = 4        // batch buffers; all of them waiting means drop
	// FlushInterval bounds how long a line waits in a batch.
	FlushInterval = 200 * time.Millisecond
)

// NewAccessLog returns an access log to w; lines are written while Run
// runs, and by Close. dropped counts lines dropped under back-pressure
// (nil: not counted).
func NewAccessLog(w io.Writer, dropped prometheus.Counter) *AccessLog {
	l := &AccessLog{
		w: w, dropped: dropped,
		free: make(chan []byte, accessLogBuffers), full: make(chan []byte, accessLogBuffers),
	}
	l.cur = make([]byte, 0, accessLogBatch)
	for range accessLogBuffers - 1 {
		l.free <- make([]byte, 0, accessLogBatch)
	}
	return l
}

// Run writes batches until ctx ends, then writes what is buffered.
func (l *AccessLog) Run(ctx context.Context) {
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case b := <-l.full:
			l.write(b)
		case <-tick.C:
			l.Flush()
		case <-ctx.Done():
			l.Flush()
			return
		}
	}
}

// Close writes what is buffered; lines logged afterwards are dropped.
func (l *AccessLog) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.Flush()
	return nil
}

// Flush writes the waiting batches and then the current one.
func (l *AccessLog) Flush() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for drained := false; !drained; {
		select {
		case b := <-l.full:
			l.writeLocked(b)
		default:
			drained = true
		}
	}
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
	l.writeLocked(b)
}

func (l *AccessLog) write(b []byte) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.writeLocked(b)
}

// writeLocked writes b and recycles its buffer (wmu held).
func (l *AccessLog) writeLocked(b []byte) {
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
	host     string // the judged Host of a request answered outside the handler (Observer); "" = no field
}

// log appends one line to the current batch; it never blocks on the
// writer.
func (l *AccessLog) log(a *accessLine) {
	var scratch [512]byte
	line := a.append(scratch[:0], &l.stamps)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.drop()
		return
	}
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

func (a *accessLine) append(b []byte, stamps *stamper) []byte {
	b = append(b, `{"time":"`...)
	b = stamps.append(b, a.start)
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
	if a.host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, a.host)
	}
	return append(b, "}\n"...)
}

// stamper appends times as time.RFC3339Nano does, which is how slog's
// JSON handler writes them. Date, clock and zone change once a second, so
// they are formatted once a second and kept; each line adds only its
// fraction (issue 15: that saves ≈ 700 of the ≈ 9,400 instructions
// gatehouse adds to an unauthenticated gateway request).
type stamper struct {
	last atomic.Pointer[logSecond]
}

// logSecond is one second of one location, formatted.
type logSecond struct {
	sec  int64
	loc  *time.Location
	head []byte // "2006-01-02T15:04:05"
	zone []byte // "Z" or "-07:00"
}

func (s *stamper) append(b []byte, t time.Time) []byte {
	sec, loc := t.Unix(), t.Location()
	st := s.last.Load()
	if st == nil || st.sec != sec || st.loc != loc {
		// A zone's offset changes only on a whole second, so one second of
		// one location has one head and one zone.
		st = &logSecond{sec: sec, loc: loc, head: t.AppendFormat(nil, "2006-01-02T15:04:05"), zone: t.AppendFormat(nil, "Z07:00")}
		s.last.Store(st)
	}
	b = append(b, st.head...)
	b = appendFraction(b, t.Nanosecond())
	return append(b, st.zone...)
}

// appendFraction appends ns as RFC3339Nano's ".999999999": a dot and nine
// digits without their trailing zeros, nothing for 0.
func appendFraction(b []byte, ns int) []byte {
	if ns == 0 {
		return b
	}
	var d [10]byte
	d[0] = '.'
	for i := 9; i > 0; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := 10
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONChars(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// jsonPlain is 1 for the bytes appendJSONChars copies as they are: ASCII
// from 0x20 up, but '"' and '\\'.
var jsonPlain = func() (t [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = 1
	}
	t['"'], t['\\'] = 0, 0
	return t
}()

// appendJSONChars appends s escaped as slog's JSON handler does (no HTML
// escaping; control characters, invalid UTF-8, U+2028 and U+2029 escaped).
func appendJSONChars(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Four bytes and one branch per step while they need no escaping:
		// every field of every line takes this path (issue 15).
		for i+3 < len(s) && jsonPlain[s[i]]&jsonPlain[s[i+1]]&jsonPlain[s[i+2]]&jsonPlain[s[i+3]] != 0 {
			i += 4
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlain[c] != 0 {
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
