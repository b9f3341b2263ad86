// Package throttletest is the conformance suite that every throttle.Store
// backend (memory, Redis) runs. Times are explicit and relative to the wall
// clock, so stores that also expire keys in real time (Redis) behave the same
// as stores that only look at the times they are given.
package throttletest
