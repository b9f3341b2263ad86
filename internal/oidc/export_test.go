package oidc

// KeyRefetchFloor is keyRefetchFloor, for the black-box tests that move
// their clock past it.
const KeyRefetchFloor = keyRefetchFloor
