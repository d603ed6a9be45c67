package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	envPrefix = "OUTBOX_"
	// envConfig names the YAML file when --config is not given.
	envConfig = envPrefix + "CONFIG"
)

// Flags are the settings' flags (and --config) on a subcommand's
// flag.FlagSet, next to the subcommand's own flags.
type Flags struct {
	fs   *flag.FlagSet
	set  Config // values given by flags
	bad  error  // the first bad flag value, with this package's wording
	file string // --config
}

// AddFlags registers --config and a flag for every setting on fs. After
// fs.Parse, call [Flags.Load]; pass Parse's error to [Flags.ParseError].
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.file, "config", "", "YAML configuration file (env "+envConfig+")")
	for i := range table {
		s := &table[i]
		for _, name := range append([]string{s.flag()}, s.aliases...) {
			fs.Var(&flagValue{s: s, c: &f.set, name: name, bad: &f.bad}, name, s.help)
		}
	}
	return f
}

// ParseError rewords an error of fs.Parse as one line naming the flag, and
// suggests the nearest flag for an unknown one. flag.ErrHelp is returned as
// it is.
func (f *Flags) ParseError(err error) error {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return err
	case f.bad != nil:
		return f.bad
	}
	return flagError(f.fs, err)
}

// Load builds the configuration from base (the defaults of the subcommand),
// the YAML file named by --config or OUTBOX_CONFIG, the environment and the
// flags, each over the one before.
//
// getenv reads a variable's value; environ (as from os.Environ) lists the
// variables that are set, so that an OUTBOX_ variable naming no setting is
// an error and one set to the empty string sets the empty value (e.g.
// OUTBOX_HTTP_LISTEN= disables HTTP).
//
// Errors are one line each and name the variable or YAML file and line.
// Load does not validate: call [Config.Validate].
func (f *Flags) Load(base Config, getenv func(string) string, environ []string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := base
	fileSet := false
	f.fs.Visit(func(fl *flag.Flag) { fileSet = fileSet || fl.Name == "config" })
	env := newEnvironment(getenv, environ)
	file := f.file
	if !fileSet {
		file, _ = env.lookup(envConfig)
	}
	var errs []error
	if file != "" {
		errs = append(errs, loadYAML(file, &cfg)...)
	}
	errs = append(errs, env.apply(&cfg)...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	f.fs.Visit(func(fl *flag.Flag) {
		if v, ok := fl.Value.(*flagValue); ok {
			v.s.field(&cfg).Set(v.s.field(&f.set))
		}
	})
	return cfg, nil
}

// flagValue is the flag.Value of one setting (one per flag name, so that
// errors name the alias actually used).
type flagValue struct {
	s    *setting
	c    *Config
	name string
	bad  *error
}

func (v *flagValue) String() string {
	if v == nil || v.s == nil {
		return "" // the flag package probes zero values
	}
	return v.s.format(v.c)
}

func (v *flagValue) Set(text string) error {
	err := v.s.set(v.c, text)
	if err != nil && *v.bad == nil {
		*v.bad = fmt.Errorf("config: flag --%s: %v", v.name, err)
	}
	return err
}

// IsBoolFlag lets a bool setting be given as a bare --flag.
func (v *flagValue) IsBoolFlag() bool { return v.s.kind == kindBool }

// flagError rewords the flag package's errors (which spell flags with one
// dash) and suggests the nearest flag of fs for an unknown one.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := " (see --help)"
		if s := suggest(name, names); s != "" {
			hint = " (did you mean --" + s + "?)"
		}
		return fmt.Errorf("config: unknown flag --%s%s", name, hint)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("config: flag --%s needs a value", name)
	}
	return fmt.Errorf("config: %s", msg)
}

// environment is the process environment as Load sees it.
type environment struct {
	getenv func(string) string
	set    []string // names in environ order
	has    map[string]bool
}

func newEnvironment(getenv func(string) string, environ []string) environment {
	e := environment{getenv: getenv, has: map[string]bool{}}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !e.has[name] {
			e.has[name] = true
			e.set = append(e.set, name)
		}
	}
	return e
}

// lookup reports a variable's value and whether it is set; a variable
// missing from environ but known to getenv counts as set.
func (e environment) lookup(name string) (string, bool) {
	v := e.getenv(name)
	return v, v != "" || e.has[name]
}

// apply sets every setting with a variable, and reports OUTBOX_ variables
// that name none.
func (e environment) apply(c *Config) []error {
	var errs []error
	for _, name := range e.set {
		if strings.HasPrefix(name, envPrefix) && name != envConfig && byEnv(name) == nil {
			var all []string
			for _, s := range table {
				all = append(all, s.env())
			}
			hint := ""
			if s := suggest(name, append(all, envConfig)); s != "" {
				hint = " (did you mean " + s + "?)"
			}
			errs = append(errs, fmt.Errorf("config: environment variable %s is not a setting%s", name, hint))
		}
	}
	for i := range table {
		s := &table[i]
		if v, ok := e.lookup(s.env()); ok {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("config: environment variable %s: %v", s.env(), err))
			}
		}
	}
	return errs
}

func byEnv(name string) *setting {
	for i := range table {
		if table[i].env() == name {
			return &table[i]
		}
	}
	return nil
}

// yamlLine finds the line number in yaml.v3's syntax errors, which read
// "yaml: line 3: mapping values are not allowed in this context".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// loadYAML applies the YAML file at path to c. The file is decoded into a
// yaml.Node tree and walked against the settings table rather than
// unmarshalled into Config with KnownFields: that way values are parsed by
// the same code as flags and variables (durations like "100ms", lists as a
// sequence or a comma-separated string), and errors name the setting by its
// key and line rather than by Go type. It reports every problem in the
// file, one per line.
func loadYAML(path string, c *Config) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return []error{fmt.Errorf("config: yaml %s: cannot read: %v", path, err)}
	}
	d := yamlDecoder{path: path, c: c}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil // an empty file sets nothing
	case err != nil:
		return []error{d.syntaxError(err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return []error{d.syntaxError(err)}
	default:
		d.errorf(next.Line, "a second YAML document; the file must hold one")
	}
	if len(doc.Content) > 0 {
		d.mapping(doc.Content[0], "")
	}
	return d.errs
}

type yamlDecoder struct {
	path string
	c    *Config
	errs []error
}

func (d *yamlDecoder) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("config: yaml %s line %d: %s", d.path, line, fmt.Sprintf(format, args...)))
}

func (d *yamlDecoder) syntaxError(err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("config: yaml %s line %s: %s", d.path, m[1], m[2])
	}
	return fmt.Errorf("config: yaml %s: %s", d.path, strings.TrimPrefix(err.Error(), "yaml: "))
}

// mapping applies a mapping of settings found under section ("" is the
// root).
func (d *yamlDecoder) mapping(n *yaml.Node, section string) {
	n = deref(n)
	if isNull(n) {
		return // "cdc:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		where := section
		if where == "" {
			where = "the top level"
		}
		d.errorf(n.Line, "%s: want a mapping of settings, got %s", where, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		key := k.Value
		if section != "" {
			key = section + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, "%s: set twice (first on line %d)", key, first)
			continue
		}
		seen[k.Value] = k.Line
		switch {
		case byKey[key] != nil:
			d.leaf(byKey[key], v)
		case sections[key]:
			d.mapping(v, key)
		default:
			hint := ""
			if s := suggest(k.Value, childKeys(section)); s != "" {
				hint = " (did you mean " + strings.TrimPrefix(section+"."+s, ".") + "?)"
			}
			d.errorf(k.Line, "unknown key %s%s", key, hint)
		}
	}
}

// leaf applies one setting's value. A null value (key with nothing after
// it) leaves the setting alone, as an absent key would.
func (d *yamlDecoder) leaf(s *setting, n *yaml.Node) {
	n = deref(n)
	switch {
	case isNull(n):
	case n.Kind == yaml.ScalarNode:
		if err := s.set(d.c, n.Value); err != nil {
			d.errorf(n.Line, "%s: %v", s.key(), err)
		}
	case n.Kind == yaml.SequenceNode && s.kind == kindList:
		items := []string{}
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				d.errorf(item.Line, "%s: want a list of strings, got %s in it", s.key(), describe(item))
				return
			}
			items = append(items, item.Value)
		}
		s.field(d.c).Set(reflect.ValueOf(items))
	default:
		d.errorf(n.Line, "%s: want a %s, got %s", s.key(), s.kind.typeName(), describe(n))
	}
}

// deref follows YAML aliases (*anchor) to the node they refer to.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// Usage writes --help's list of settings: every flag with its type, its
// default in base, its environment variable and meaning, by section.
func Usage(w io.Writer, base Config) error {
	var b strings.Builder
	b.WriteString("Settings come from flags, then OUTBOX_* environment variables, then the YAML\n" +
		"file named by --config (or OUTBOX_CONFIG), then defaults; the first found wins.\n" +
		"Durations look like 250ms, 5s or 1h30m; lists are comma-separated; a bool\n" +
		"flag alone means true, --flag=false sets false.\n\n")
	b.WriteString("  --config file\n")
	wrap(&b, "YAML configuration file; its keys are the flag names in snake_case, nested at the dots.")
	wrap(&b, "(env "+envConfig+")")
	section := ""
	for i := range table {
		s := &table[i]
		if s.path[0] != section {
			section = s.path[0]
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  --%s %s\n", s.flag(), s.kind.typeName())
		wrap(&b, s.help)
		var notes []string
		if d := s.format(&base); d != "" && !s.secret {
			notes = append(notes, "default "+d)
		}
		notes = append(notes, "env "+s.env())
		for _, a := range s.aliases {
			notes = append(notes, "alias --"+a)
		}
		wrap(&b, "("+strings.Join(notes, "; ")+")")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes text indented under its flag, in lines of at most 80
// columns where the words allow.
func wrap(b *strings.Builder, text string) {
	const indent, width = "        ", 80
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
}
