// Package jsonmember finds what encoding/json hides in a JSON request
// body: a member named twice in one object. encoding/json keeps the last
// of two members with the same name, and matches a struct field's name
// without regard to case (strings.EqualFold), so {"roles":["user"],
// "Roles":["admin"]} decodes as admin where a proxy or firewall in front
// may have read the first; gatehouse refuses such a body instead of
// picking one (httpapi for its JSON endpoints' top-level members, admin
// for every object of its API's bodies).
//
// The package is a leaf: it imports no other gatehouse package.
package jsonmember
