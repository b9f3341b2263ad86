package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/client"
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
// problem is returned, joined; each is an *Error. getenv cannot tell a
// variable set to "" from an unset one, so "" leaves the key alone; see
// LoadLookup.
func Load(path string, getenv func(string) string) (Config, error) {
	return LoadLookup(path, func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	})
}

// LoadLookup is Load with lookup (os.LookupEnv's shape) for the
// environment: a variable set to "" sets its key to "" (a string; an empty
// list for a list key), so GATEHOUSE_ADMIN_LISTEN= turns the admin listener
// off. For a number, duration or boolean "" is no value: a configuration
// error naming the variable, as is "" for a string key Validate refuses
// empty.
func LoadLookup(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var lines map[string]int
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cfg, &Error{File: path, Msg: "config file not found"}
			}
			// The error names the path, which Error already leads with.
			msg := err.Error()
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			return cfg, &Error{File: path, Msg: msg}
		}
		if lines, err = parse(data, path, &cfg); err != nil {
			return cfg, err
		}
		cfg.fileWarnings = exposedSecrets(path, cfg)
	}
	fromEnv, err := applyEnv(&cfg, lookup)
	if err != nil {
		return cfg, err
	}
	// Secret files and values are named where they were set, as every
	// other problem is (docs/configuration.md, "Errors").
	if errs := readSecretFiles(&cfg); len(errs) > 0 {
		return cfg, locateAll(errs, path, lines, fromEnv)
	}
	if errs := slices.Concat(cfg.Validate(), loadTLS(cfg.TLS), checkSQLiteDir(cfg.Store)); len(errs) > 0 {
		return cfg, locateAll(errs, path, lines, fromEnv)
	}
	return cfg, nil
}

// locateAll points every *Error of errs that names no file at where its
// value came from (locate) and joins them.
func locateAll(errs []error, path string, lines map[string]int, fromEnv map[string]string) error {
	for _, e := range errs {
		var ce *Error
		if errors.As(e, &ce) && ce.File == "" {
			locate(ce, path, lines, fromEnv)
		}
	}
	return errors.Join(errs...)
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
// GATEHOUSE_CONFIG names the file; the others are read by the test suite,
// the browser tests and scripts/services.sh (the test services' directory),
// and may be exported in a developer's shell.
var NonKeyEnv = []string{"GATEHOUSE_CONFIG", "GATEHOUSE_TEST_POSTGRES", "GATEHOUSE_BIN", "GATEHOUSE_SERVICES_DIR"}

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
	// A second document (after "---") would be ignored without a word:
	// gatehouse reads one, so a second one that holds anything is an error.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{File: file, Msg: "not valid YAML: " + err.Error()}
		}
		if len(next.Content) > 0 && next.Content[0].ShortTag() != "!!null" {
			return nil, &Error{File: file, Line: next.Content[0].Line,
				Msg: "a second YAML document (after ---): the configuration is one document; merge them"}
		}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	c := &checker{file: file, lines: map[string]int{}, budget: maxCheckedNodes}
	c.check(root.Content[0], reflect.TypeOf(*cfg), "")
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	if err := root.Content[0].Decode(cfg); err != nil {
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	clientDefaults(cfg, c.lines)
	return c.lines, nil
}

// clientDefaults gives each client of the file the keys it left out
// (every key has a working default, contract §2; the values are those
// contract §8 shows). A key given, even empty (grant_types: []), is kept
// and judged by Validate: only an absent one, which has no line, is
// filled in.
func clientDefaults(cfg *Config, lines map[string]int) {
	for i := range cfg.Clients {
		cl := &cfg.Clients[i]
		absent := func(key string) bool {
			_, ok := lines[fmt.Sprintf("clients[%d].%s", i, key)]
			return !ok
		}
		if absent("type") {
			cl.Type = client.DefaultType(*cl)
		}
		if absent("grant_types") {
			cl.GrantTypes = client.DefaultGrantTypes()
		}
		if absent("scopes") {
			cl.Scopes = client.DefaultScopes()
		}
	}
}

// maxCheckedNodes bounds the nodes checker visits. Aliases are followed, so
// a small file of aliases of aliases could otherwise stand for an
// exponential number of nodes ("billion laughs"); a real configuration,
// even with thousands of routes, is far below it.
const maxCheckedNodes = 1_000_000

// checker walks the YAML tree against the Go type, reporting unknown keys,
// keys set twice and values of the wrong type (durations, numbers,
// booleans, lists) with their dotted path and line, and recording each
// key's line in lines. It follows aliases and merge keys (<<) as the
// decoder does, so a value given through an anchor is checked like one
// written out.
type checker struct {
	file   string
	lines  map[string]int
	errs   []error
	budget int
}

func (c *checker) fail(line int, key, msg string) {
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Key: key, Msg: msg})
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	if c.budget--; c.budget < 0 {
		if c.budget == -1 {
			c.fail(n.Line, path, "too many values once aliases are expanded")
		}
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(Duration(0)):
		if n.Kind != yaml.ScalarNode {
			c.fail(n.Line, path, "expected a duration such as 30m")
		} else if _, err := ParseDuration(n.Value); err != nil {
			c.fail(n.Line, path, err.Error())
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.ShortTag() == "!!null" {
				return
			}
			c.fail(n.Line, path, "expected a mapping of keys")
			return
		}
		fields := yamlFields(t)
		explicit := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if isMerge(k) {
				continue
			}
			if first, ok := explicit[k.Value]; ok {
				c.fail(k.Line, join(path, k.Value), fmt.Sprintf("set twice (first on line %d)", first))
				continue
			}
			explicit[k.Value] = k.Line
		}
		c.mapping(n, fields, t, path, explicit, true)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			if n.ShortTag() == "!!null" {
				return
			}
			c.fail(n.Line, path, "expected a list")
			return
		}
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			c.lines[key] = item.Line
			c.check(item, t.Elem(), key)
		}
	case n.ShortTag() != "!!null":
		// A leaf: decode it alone, so a wrong type is reported with its
		// key and line rather than as yaml's list of "unmarshal errors".
		// yaml.v3 truncates 2.5 into a whole-number field: refuse it.
		if err := n.Decode(reflect.New(t).Interface()); err != nil || isInteger(t) && n.ShortTag() == "!!float" {
			c.fail(n.Line, path, fmt.Sprintf("expected %s, got %q", kindName(t), n.Value))
		}
		if n.Kind == yaml.SequenceNode {
			c.budget -= len(n.Content)
			for i, item := range n.Content {
				c.lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
			}
		}
	}
}

// mapping checks the keys of the mapping n against fields. explicit holds
// the keys written in the mapping that holds the merge (they win over
// merged ones, as in the decoder); top is false for a merged mapping, whose
// keys are checked but not re-checked for being set twice.
func (c *checker) mapping(n *yaml.Node, fields map[string]reflect.StructField, t reflect.Type, path string, explicit map[string]int, top bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			c.merge(v, fields, t, path, explicit)
			continue
		}
		if !top {
			if _, ok := explicit[k.Value]; ok {
				continue // overridden by the mapping that merges this one
			}
		} else if explicit[k.Value] != k.Line {
			continue // set twice: reported once
		}
		key := join(path, k.Value)
		if _, ok := c.lines[key]; !ok || top {
			c.lines[key] = k.Line
		}
		f, ok := fields[k.Value]
		if !ok {
			c.fail(k.Line, key, "unknown key")
			continue
		}
		c.check(v, f.Type, key)
	}
}

// merge checks the value of a merge key: a mapping, or a list of mappings
// (usually aliases).
func (c *checker) merge(v *yaml.Node, fields map[string]reflect.StructField, t reflect.Type, path string, explicit map[string]int) {
	if c.budget--; c.budget < 0 {
		return
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		c.mapping(v, fields, t, path, explicit, false)
	case yaml.SequenceNode:
		for _, item := range v.Content {
			for item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				c.fail(item.Line, join(path, "<<"), "a merge key (<<) takes a mapping or a list of mappings")
				continue
			}
			c.mapping(item, fields, t, path, explicit, false)
		}
	default:
		c.fail(v.Line, join(path, "<<"), "a merge key (<<) takes a mapping or a list of mappings")
	}
}

func isMerge(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" }

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
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
// (lists comma-separated, or a YAML flow sequence when the value starts
// with "["). Lists of structs (routes, providers) come from
// the file only. A variable set to "" sets a string key to "" and a list
// key to none; for any other key it is an error.
// It returns the keys it set, each with its variable's name.
func applyEnv(cfg *Config, lookup func(string) (string, bool)) (map[string]string, error) {
	var errs []error
	set := map[string]string{}
	walkLeaves(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value) {
		env := envName(key)
		raw, ok := lookup(env)
		if !ok {
			return
		}
		set[key] = env
		if raw == "" && v.Kind() != reflect.String && v.Kind() != reflect.Slice {
			errs = append(errs, &Error{File: "environment", Key: env,
				Msg: "set but empty: expected " + expected(v.Type()) + " (unset the variable to keep the default)"})
			return
		}
		if err := setScalar(v, raw); err != nil {
			errs = append(errs, &Error{File: "environment", Key: env, Msg: err.Error()})
		}
	})
	return set, errors.Join(errs...)
}

// expected describes the values of a key of type t, for errors.
func expected(t reflect.Type) string {
	if t == reflect.TypeOf(Duration(0)) {
		return "a duration such as 30s, 10m or 24h"
	}
	return kindName(t)
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
		if t := strings.TrimSpace(raw); strings.HasPrefix(t, "[") {
			// A YAML flow sequence, as the file writes the list: [api, web].
			var items []string
			if err := yaml.Unmarshal([]byte(t), &items); err != nil || !strings.HasSuffix(t, "]") {
				return fmt.Errorf("expected a YAML list such as [a, b] or a comma-separated list, got %q", raw)
			}
			v.Set(reflect.ValueOf(items))
			return nil
		}
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

// checkSQLiteDir checks that a SQLite store's directory exists, as the
// store checks it when it opens (it creates the file, not the directory):
// config check says so instead of OK, and every command names the key.
func checkSQLiteDir(store string) []error {
	path, err := sqlitePath(store)
	if err != nil || path == ":memory:" {
		return nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return []error{&Error{Key: "store", Msg: fmt.Sprintf("directory %s does not exist (the SQLite file is created, its directory is not)", dir)}}
	}
	return nil
}

// readSecretFiles loads *_file secrets, returning every problem. A file's
// trailing newline is dropped.
func readSecretFiles(cfg *Config) []error {
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
	return errs
}
