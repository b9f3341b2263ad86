// Package demo holds what `gatehouse demo` adds around a normal instance:
// a built-in echo upstream that shows the identity headers the gateway
// sends, the demo configuration, and the ready-to-paste curl lines.
package demo
