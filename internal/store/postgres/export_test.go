package postgres

// Classify is classify, for tests of the error mapping that no store call
// can provoke on demand (a deadlock, a serialization failure).
var Classify = classify
