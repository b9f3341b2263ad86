// Package peers tells the operator when gatehouse instances that share
// their stores disagree on a setting they must agree on (docs/deploy.md,
// "Instances must agree"): each instance records a small fingerprint of
// those settings in the shared store (Store), refreshes it periodically,
// and compares it with the live peers' records. A difference is logged
// once per peer and field and counted in a gauge; it never stops an
// instance or fails /readyz, because a rolling configuration change mixes
// both values for a while.
package peers
