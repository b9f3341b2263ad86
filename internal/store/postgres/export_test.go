package postgres

// Classify is classify, for tests of the error mapping that no store call
// can provoke on demand (a deadlock, a serialization failure).
var Classify = classify

// DeadConn is deadConn, for the errors a cut connection can give that a
// test cannot provoke at will (a reset peer, a broken pipe).
var DeadConn = deadConn
