package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is the value syntax of a setting.
type kind int

const (
	kindString kind = iota
	kindList
	kindInt
	kindFloat
	kindBool
	kindDuration
)

// typeName is how --help and Reference name a kind.
func (k kind) typeName() string {
	return [...]string{"string", "list", "int", "number", "bool", "duration"}[k]
}

// setting is one leaf of Config, with everything the flag, environment and
// YAML layers need to address it. The table is derived from Config's struct
// tags by reflection, so adding a field with yaml and help tags is all it
// takes to add a setting everywhere.
type setting struct {
	path    []string // YAML keys from the root, e.g. ["cdc", "confidence_window"]
	index   []int    // reflect field index of the leaf in Config
	kind    kind
	help    string
	secret  bool
	aliases []string // extra flag names
}

// table lists every setting in Config's field order; byKey indexes it by
// YAML key, and sections holds the keys of the nested mappings.
var (
	table    = buildTable()
	byKey    = indexTable()
	sections = sectionKeys()
)

var durationType = reflect.TypeFor[time.Duration]()

func buildTable() []setting {
	var out []setting
	var walk func(t reflect.Type, path []string, index []int)
	walk = func(t reflect.Type, path []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := f.Tag.Get("yaml")
			if key == "" || strings.ContainsAny(key, ".-") {
				panic(fmt.Sprintf("config: field %s.%s needs a snake_case yaml tag", t.Name(), f.Name))
			}
			p := append(slices.Clone(path), key)
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p, idx)
				continue
			}
			s := setting{path: p, index: idx, kind: kindOf(f.Type), help: f.Tag.Get("help"), secret: f.Tag.Get("secret") == "true"}
			if a := f.Tag.Get("alias"); a != "" {
				s.aliases = strings.Split(a, ",")
			}
			if s.help == "" {
				panic("config: setting " + s.key() + " has no help tag")
			}
			out = append(out, s)
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return out
}

func kindOf(t reflect.Type) kind {
	switch {
	case t == durationType:
		return kindDuration
	case t.Kind() == reflect.String:
		return kindString
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return kindList
	case t.Kind() == reflect.Int:
		return kindInt
	case t.Kind() == reflect.Float64:
		return kindFloat
	case t.Kind() == reflect.Bool:
		return kindBool
	}
	panic("config: unsupported setting type " + t.String())
}

// indexTable also rejects two settings that would share a flag or an
// environment variable name (snake_case paths can collide once dots become
// underscores).
func indexTable() map[string]*setting {
	m := map[string]*setting{}
	names := map[string]string{envConfig: "--config", "config": "--config"}
	for i := range table {
		s := &table[i]
		m[s.key()] = s
		for _, n := range append([]string{s.env(), s.flag()}, s.aliases...) {
			if other, dup := names[n]; dup {
				panic("config: " + n + " names both " + other + " and " + s.key())
			}
			names[n] = s.key()
		}
	}
	return m
}

func sectionKeys() map[string]bool {
	m := map[string]bool{}
	for _, s := range table {
		for i := 1; i < len(s.path); i++ {
			m[strings.Join(s.path[:i], ".")] = true
		}
	}
	return m
}

// key is the YAML key, and the name validation messages use.
func (s *setting) key() string { return strings.Join(s.path, ".") }

// flag is the flag name (without dashes).
func (s *setting) flag() string { return strings.ReplaceAll(s.key(), "_", "-") }

// env is the environment variable name.
func (s *setting) env() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.key(), ".", "_"))
}

func (s *setting) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(s.index)
}

// set parses text into the setting's field of c. Errors quote the text,
// except for secrets (which, being strings, never fail anyway).
func (s *setting) set(c *Config, text string) error {
	f := s.field(c)
	switch s.kind {
	case kindString:
		f.SetString(text)
	case kindList:
		f.Set(reflect.ValueOf(splitList(text)))
	case kindInt:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		f.SetInt(int64(n))
	case kindFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		f.SetFloat(x)
	case kindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (want true or false)", text)
		}
		f.SetBool(b)
	case kindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 250ms, 5s, 1h30m)", text)
		}
		f.SetInt(int64(d))
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items so that a trailing comma is harmless.
func splitList(text string) []string {
	out := []string{}
	for _, item := range strings.Split(text, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// format renders the setting's value of c in the syntax set accepts.
func (s *setting) format(c *Config) string {
	f := s.field(c)
	switch s.kind {
	case kindList:
		return strings.Join(f.Interface().([]string), ",")
	case kindInt:
		return strconv.FormatInt(f.Int(), 10)
	case kindFloat:
		return strconv.FormatFloat(f.Float(), 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(f.Bool())
	case kindDuration:
		return formatDuration(time.Duration(f.Int()))
	}
	return f.String()
}

// formatDuration is time.Duration.String without the zero minutes and
// seconds that make "168h0m0s" hard to read.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// childKeys lists the keys directly under a section ("" is the root), for
// suggestions.
func childKeys(section string) []string {
	var out []string
	for _, s := range table {
		k := s.key()
		if section != "" {
			var ok bool
			if k, ok = strings.CutPrefix(k, section+"."); !ok {
				continue
			}
		}
		k, _, _ = strings.Cut(k, ".")
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// suggest returns the candidate closest to name by edit distance, if it is
// close enough to be a likely typo, else "".
func suggest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
