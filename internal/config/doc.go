// Package config is gatehouse's configuration: one Config struct with YAML
// tags, Default() with a working value for every key, Load() that reads a
// YAML file and applies GATEHOUSE_* environment overrides, and Validate()
// that reports every problem at once, each naming the key at fault.
//
// The routes section belongs to the gateway: Route is gateway.RouteConfig
// and Validate asks gateway.Compile, so config check, serve and reload give
// one verdict. Config imports gateway, never the other way round.
package config
