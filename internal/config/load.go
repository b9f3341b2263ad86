package config

import (
	"bytes"
	"crypto/tls"
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
	var lines map[string]int
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cfg, &Error{File: path, Msg: "config file not found"}
			}
			return cfg, &Error{File: path, Msg: err.Error()}
		}
		if lines, err = parse(data, path, &cfg); err != nil {
			return cfg, err
		}
		cfg.fileWarnings = exposedSecrets(path, cfg)
	}
	fromEnv, err := applyEnv(&cfg, getenv)
	if err != nil {
		return cfg, err
	}
	if err := readSecretFiles(&cfg); err != nil {
		return cfg, err
	}
	if errs := append(cfg.Validate(), loadTLS(cfg.TLS)...); len(errs) > 0 {
		for _, e := range errs {
			var ce *Error
			if errors.As(e, &ce) && ce.File == "" {
				locate(ce, path, lines, fromEnv)
			}
		}
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// exposedSecrets warns when the file at path, which cfg was just read
// from, holds secrets and every user may read it: anyone on the machine
// could then sign tokens or reach the stores. It names the keys, never the
// values.
func exposedSecrets(path string, cfg Config) []string {
	fi, err := os.Stat(path)
	// Group read is left alone: root:gatehouse 0640 is how a service's
	// config is usually shared with the service's group.
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return nil
	}
	var keys []string
	secretKeys(reflect.ValueOf(cfg), &keys)
	if len(keys) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s is readable by every user (mode %#o) and holds secrets (%s): chmod 600 it, or set them from the environment or *_file keys",
		path, fi.Mode().Perm(), strings.Join(keys, ", "))}
}

// locate points a validation error at where its value came from: the
// GATEHOUSE_* variable that set it, else the file and the line of the key
// (or of the nearest enclosing key that is in the file), else just the file
// (a default).
func locate(ce *Error, path string, lines map[string]int, fromEnv map[string]string) {
	if env, ok := fromEnv[ce.Key]; ok {
		ce.File, ce.Key = "environment", env+" ("+ce.Key+")"
		return
	}
	ce.File = path
	for key := ce.Key; key != ""; key = parentKey(key) {
		if line, ok := lines[key]; ok {
			ce.Line = line
			return
		}
	}
}

// parentKey is "routes[0]" for "routes[0].upstream" and "routes" for
// "routes[0]"; "" at the top.
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return ""
}

// CheckEnv refuses GATEHOUSE_* variables in environ ("NAME=value" items, as
// os.Environ returns them) that name no config key, like unknown YAML keys
// (issue 11 finding 9): a misspelt GATEHOUSE_TOKENS_HMAC_SECRETS would
// otherwise leave the default in force without a word. GATEHOUSE_CONFIG and
// the variables in NonKeyEnv are allowed. Each problem is an *Error.
func CheckEnv(environ []string) error {
	known := map[string]bool{}
	for _, name := range NonKeyEnv {
		known[name] = true
	}
	cfg := Default()
	walkLeaves(reflect.ValueOf(&cfg).Elem(), "", func(key string, _ reflect.Value) { known[envName(key)] = true })
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GATEHOUSE_") && !known[name] {
			errs = append(errs, &Error{File: "environment", Key: name,
				Msg: "unknown variable: it names no config key (see docs/configuration.md; lists of routes and providers come from the file only)"})
		}
	}
	return errors.Join(errs...)
}

// NonKeyEnv are GATEHOUSE_* variables that are not config keys:
// GATEHOUSE_CONFIG names the file; the others are read by the test suite
// and the browser tests, and may be exported in a developer's shell.
var NonKeyEnv = []string{"GATEHOUSE_CONFIG", "GATEHOUSE_TEST_POSTGRES", "GATEHOUSE_BIN"}

func envName(key string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Parse decodes YAML data over cfg. Unknown keys and malformed values are
// errors naming the key and line.
func Parse(data []byte, file string, cfg *Config) error {
	_, err := parse(data, file, cfg)
	return err
}

// parse is Parse that also returns the line of every key it read, by
// dotted path ("tokens.access_ttl", "routes[0].upstream"), so that Load
// can give validation errors a line.
func parse(data []byte, file string, cfg *Config) (map[string]int, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file: defaults
		}
		return nil, &Error{File: file, Msg: "not valid YAML: " + err.Error()}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	var errs []error
	lines := map[string]int{}
	checkKeys(root.Content[0], reflect.TypeOf(*cfg), "", file, lines, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := root.Content[0].Decode(cfg); err != nil {
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return lines, nil
}

// checkKeys walks the YAML tree against the Go type, reporting unknown keys
// and values of the wrong type (durations, numbers, booleans, lists) with
// their dotted path and line, and recording each key's line in lines.
func checkKeys(n *yaml.Node, t reflect.Type, path, file string, lines map[string]int, errs *[]error) {
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
			lines[key] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Key: key, Msg: "unknown key"})
				continue
			}
			checkKeys(v, f.Type, key, file, lines, errs)
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
			key := fmt.Sprintf("%s[%d]", path, i)
			lines[key] = item.Line
			checkKeys(item, t.Elem(), key, file, lines, errs)
		}
	case n.Tag != "!!null":
		// A leaf: decode it alone, so a wrong type is reported with its
		// key and line rather than as yaml's list of "unmarshal errors".
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf("expected %s, got %q", kindName(t), n.Value)})
		}
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
			}
		}
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint8, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	default:
		return "a " + t.Kind().String()
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
// It returns the keys it set, each with its variable's name.
func applyEnv(cfg *Config, getenv func(string) string) (map[string]string, error) {
	var errs []error
	set := map[string]string{}
	walkLeaves(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value) {
		env := envName(key)
		raw := getenv(env)
		if raw == "" {
			return
		}
		set[key] = env
		if err := setScalar(v, raw); err != nil {
			errs = append(errs, &Error{File: "environment", Key: env, Msg: err.Error()})
		}
	})
	return set, errors.Join(errs...)
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

// loadTLS checks that tls.cert and tls.key load as a key pair, as serve
// will load them: a missing or mismatched file is a configuration error
// that config check reports, not a failure of serve after it started.
// It reads nothing unless both are set (Validate reports one alone).
func loadTLS(t TLS) []error {
	if !t.Enabled() {
		return nil
	}
	var errs []error
	read := func(key, file string) []byte {
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf("cannot read: %v", err)})
		}
		return b
	}
	cert, key := read("tls.cert", t.Cert), read("tls.key", t.Key)
	if len(errs) > 0 {
		return errs
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return []error{&Error{Key: "tls", Msg: fmt.Sprintf("cert and key do not load as a key pair: %v", err)}}
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
	for i := range cfg.Clients {
		c := &cfg.Clients[i]
		load(fmt.Sprintf("clients[%d].secret", i), c.SecretFile, &c.Secret)
	}
	return errors.Join(errs...)
}
