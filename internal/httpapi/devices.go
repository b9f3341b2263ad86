package httpapi

import (
	"sync"
	"time"

	useragent "github.com/medama-io/go-useragent"
)

// deviceParserIdle is how long the User-Agent parser outlives the last
// account page that needed it.
const deviceParserIdle = 10 * time.Minute

// deviceNames turns User-Agents into "Chrome on Linux" for /account. Its
// parser holds about 5 MB in 166,000 heap objects that every garbage
// collection would mark again (issue 15: a third of the live heap, on
// every gateway request's share of GC work), while only account pages need
// it: so it is built on first use and dropped after deviceParserIdle
// without one.
type deviceNames struct {
	idle time.Duration // deviceParserIdle; shorter in tests

	mu    sync.Mutex
	p     *useragent.Parser
	timer *time.Timer
}

// name is deviceName with the shared parser.
func (d *deviceNames) name(ua string) string {
	if ua == "" {
		return deviceName(nil, ua)
	}
	return deviceName(d.parser(), ua)
}

// parser returns the parser, building it if needed, and restarts the idle
// timer that drops it.
func (d *deviceNames) parser() *useragent.Parser {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		d.p = useragent.NewParser()
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(d.idle, d.drop)
	} else {
		d.timer.Reset(d.idle)
	}
	return d.p
}

func (d *deviceNames) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.p = nil
}

// loaded reports whether the parser is in memory.
func (d *deviceNames) loaded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.p != nil
}
