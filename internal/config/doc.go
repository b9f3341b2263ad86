// Package config is gatehouse's configuration: one Config struct with YAML
// tags, Default() with a working value for every key, Load() that reads a
// YAML file and applies GATEHOUSE_* environment overrides, and Validate()
// that reports every problem at once, each naming the key at fault.
package config
