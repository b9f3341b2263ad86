package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultPath is read when neither -c nor GATEHOUSE_CONFIG names a file.
const DefaultPath = "gatehouse.yaml"

// Error is a configuration problem tied to one key. Its message is one
// sentence naming the file and key, fit for stderr.
type Error struct {
	File string
	Key  string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Resolve picks the config file: the explicit path, else GATEHOUSE_CONFIG,
// else ./gatehouse.yaml when it exists. It returns "" when there is none
// (defaults and environment only) and whether the file was named explicitly.
func Resolve(path string, getenv func(string) string) (string, bool) {
	if path != "" {
		return path, true
	}
	if p := getenv("GATEHOUSE_CONFIG"); p != "" {
		return p, true
	}
	if _, err := os.Stat(DefaultPath); err == nil {
		return DefaultPath, false
	}
	return "", false
}

// Load reads the config file at path ("" for none), applies GATEHOUSE_*
// environment overrides and secret files, and validates the result. Every
// problem is returned, joined; each is an *Error.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cfg, &Error{File: path, Msg: "config file not found"}
			}
			return cfg, &Error{File: path, Msg: err.Error()}
		}
		if err := Parse(data, path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	if err := readSecretFiles(&cfg); err != nil {
		return cfg, err
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		for _, e := range errs {
			var ce *Error
			if errors.As(e, &ce) && ce.File == "" {
				ce.File = path
			}
		}
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// Parse decodes YAML data over cfg. Unknown keys and malformed values are
// errors naming the key and line.
func Parse(data []byte, file string, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults
		}
		return &Error{File: file, Msg: "not valid YAML: " + err.Error()}
	}
	if len(root.Content) == 0 {
		return nil
	}
	var errs []error
	checkKeys(root.Content[0], reflect.TypeOf(*cfg), "", file, &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := root.Content[0].Decode(cfg); err != nil {
		return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return nil
}

// checkKeys walks the YAML tree against the Go type, reporting unknown keys
// and unparsable durations with their dotted path.
func checkKeys(n *yaml.Node, t reflect.Type, path, file string, errs *[]error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(Duration(0)):
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: path, Msg: "expected a duration such as 30m"})
		} else if _, err := ParseDuration(n.Value); err != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: path, Msg: err.Error()})
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: path, Msg: "expected a mapping of keys"})
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Key: key, Msg: "unknown key"})
				continue
			}
			checkKeys(v, f.Type, key, file, errs)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: path, Msg: "expected a list"})
			return
		}
		for i, item := range n.Content {
			checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), file, errs)
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := tagName(f); name != "" {
			m[name] = f
		}
	}
	return m
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// applyEnv overrides scalar and list leaves from GATEHOUSE_<PATH> variables
// (lists comma-separated). Lists of structs (routes, providers) come from
// the file only.
func applyEnv(cfg *Config, getenv func(string) string) error {
	var errs []error
	walkLeaves(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value) {
		env := "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		raw := getenv(env)
		if raw == "" {
			return
		}
		if err := setScalar(v, raw); err != nil {
			errs = append(errs, &Error{File: "environment", Key: env, Msg: err.Error()})
		}
	})
	return errors.Join(errs...)
}

func walkLeaves(v reflect.Value, path string, fn func(key string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := tagName(t.Field(i))
		if name == "" {
			continue
		}
		fv, key := v.Field(i), join(path, name)
		switch {
		case fv.Type() == reflect.TypeOf(Duration(0)):
			fn(key, fv)
		case fv.Kind() == reflect.Struct:
			walkLeaves(fv, key, fn)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			// routes and providers: file only
		default:
			fn(key, fv)
		}
	}
}

func setScalar(v reflect.Value, raw string) error {
	if v.Type() == reflect.TypeOf(Duration(0)) {
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("expected a whole number, got %q", raw)
		}
		v.SetInt(n)
	case reflect.Uint8, reflect.Uint32:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("expected a whole number, got %q", raw)
		}
		v.SetUint(n)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// readSecretFiles loads *_file secrets. A file's trailing newline is dropped.
func readSecretFiles(cfg *Config) error {
	var errs []error
	load := func(key, file string, dst *string) {
		if file == "" {
			return
		}
		if *dst != "" {
			errs = append(errs, &Error{Key: key, Msg: "set either the secret or its _file, not both"})
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, &Error{Key: key + "_file", Msg: fmt.Sprintf("cannot read secret file: %v", err)})
			return
		}
		*dst = strings.TrimRight(string(b), "\r\n")
	}
	load("tokens.hmac_secret", cfg.Tokens.HMACSecretFile, &cfg.Tokens.HMACSecret)
	load("keys.encryption_key", cfg.Keys.EncryptionKeyFile, &cfg.Keys.EncryptionKey)
	load("redis.sentinel.password", cfg.Redis.Sentinel.PasswordFile, &cfg.Redis.Sentinel.Password)
	load("redis.cluster.password", cfg.Redis.Cluster.PasswordFile, &cfg.Redis.Cluster.Password)
	for i := range cfg.OIDC.Providers {
		p := &cfg.OIDC.Providers[i]
		load(fmt.Sprintf("oidc.providers[%d].client_secret", i), p.ClientSecretFile, &p.ClientSecret)
	}
	return errors.Join(errs...)
}
