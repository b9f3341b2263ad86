// Package mfatest is the conformance suite of mfa.Store and mfa.StepStore;
// every backend runs it.
package mfatest
