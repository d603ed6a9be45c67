package config

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Masked replaces a secret's value in output.
const Masked = "*****"

// Redacted returns c with every non-empty secret replaced by [Masked]; an
// empty secret stays empty, so output still shows whether one is set.
func (c Config) Redacted() Config {
	// Fresh slices, so that editing the copy cannot change c.
	c.Scylla.Hosts = append([]string(nil), c.Scylla.Hosts...)
	c.Kafka.Brokers = append([]string(nil), c.Kafka.Brokers...)
	for i := range table {
		if s := &table[i]; s.secret && s.field(&c).String() != "" {
			s.field(&c).SetString(Masked)
		}
	}
	return c
}

// YAML renders c as a YAML file that Load reads back to the same values
// (for --print-config), with secrets masked. Keys appear in [Reference]
// order, every setting included, so the output is also a complete template.
func (c Config) YAML() ([]byte, error) { return c.AnnotatedYAML(nil) }

// AnnotatedYAML is YAML with notes, keyed by setting ("cdc.query_window"),
// as comments at the end of their settings' lines: what a value left at
// zero becomes when the relay starts. A note for no setting is an error.
func (c Config) AnnotatedYAML(notes map[string]string) ([]byte, error) {
	used := 0
	c = c.Redacted()
	root := &yaml.Node{Kind: yaml.MappingNode}
	mappings := map[string]*yaml.Node{"": root}
	for i := range table {
		s := &table[i]
		parent := root
		for j := 1; j < len(s.path); j++ {
			sect := strings.Join(s.path[:j], ".")
			m := mappings[sect]
			if m == nil {
				m = &yaml.Node{Kind: yaml.MappingNode}
				mappings[sect] = m
				parent.Content = append(parent.Content, scalar("!!str", s.path[j-1]), m)
			}
			parent = m
		}
		v := valueNode(s, &c)
		if note, ok := notes[s.key()]; ok {
			v.LineComment = "# " + note
			used++
		}
		parent.Content = append(parent.Content, scalar("!!str", s.path[len(s.path)-1]), v)
	}
	if used < len(notes) {
		return nil, fmt.Errorf("config: notes for settings that do not exist: %s", unknownKeys(notes))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("config: rendering YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: rendering YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

// valueNode tags strings (durations included) as such, so that the encoder
// quotes those that would otherwise read as another type ("123", "true",
// ""). Numbers and booleans are left untagged and print plain: a float tag
// would make the encoder write "!!float 0" for a whole-number float.
func valueNode(s *setting, c *Config) *yaml.Node {
	switch s.kind {
	case kindList:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, v := range s.field(c).Interface().([]string) {
			seq.Content = append(seq.Content, scalar("!!str", v))
		}
		return seq
	case kindInt, kindFloat, kindBool:
		return scalar("", s.format(c))
	}
	return scalar("!!str", s.format(c))
}

// String is a one-line summary of every setting, secrets masked, so that a
// Config logged with %v never leaks a password.
func (c Config) String() string {
	c = c.Redacted()
	parts := make([]string, len(table))
	for i := range table {
		parts[i] = fmt.Sprintf("%s=%q", table[i].key(), table[i].format(&c))
	}
	return strings.Join(parts, " ")
}

// Reference is the Markdown table of every setting: flag, environment
// variable, YAML key, type, default (in base) and meaning. The README's
// configuration reference embeds it; config/docs/config-reference.md holds
// the output for the relay's defaults, and a test keeps it up to date.
func Reference(base Config) string {
	var b strings.Builder
	b.WriteString("| Flag | Environment variable | YAML key | Type | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `--config` | `%s` | | path | | YAML file to read settings from (keys as in this table). |\n", envConfig)
	for i := range table {
		s := &table[i]
		flags := "`--" + s.flag() + "`"
		for _, a := range s.aliases {
			flags += "<br>`--" + a + "`"
		}
		d := s.format(&base)
		switch {
		case d == "":
			d = "(empty)"
		case s.kind == kindList:
			d = "`" + strings.ReplaceAll(d, ",", "`, `") + "`"
		default:
			d = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s | %s | %s |\n",
			flags, s.env(), s.key(), s.kind.typeName(), d, strings.ReplaceAll(s.help, "|", `\|`))
	}
	return b.String()
}

// unknownKeys lists, sorted, the keys of notes that name no setting.
func unknownKeys(notes map[string]string) string {
	known := make(map[string]bool, len(table))
	for i := range table {
		known[table[i].key()] = true
	}
	var out []string
	for k := range notes {
		if !known[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
