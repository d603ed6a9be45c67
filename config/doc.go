// Package config owns the settings of the outbox binary's services (relay,
// dev, demo, migrate and the dlq tools): their names, where they come from
// and the rules on their form. It is a leaf: the defaults (app.DefaultConfig,
// from each component's exported defaults) and the conversion into the
// components' configurations, where the components check their own rules
// (app.NewSettings), live in the wiring package, so that a new setting is a
// field here, a field in its component and a line in that one mapping.
//
// # Sources
//
// A setting is read, highest precedence first, from
//
//  1. a command-line flag: --cdc.confidence-window 100ms
//  2. an environment variable: OUTBOX_CDC_CONFIDENCE_WINDOW=100ms
//  3. the YAML file named by --config or OUTBOX_CONFIG:
//     cdc: {confidence_window: 100ms}
//  4. the base configuration the subcommand starts from (its defaults).
//
// The three spellings are derived from one place, the yaml and help tags
// of [Config]'s fields, so they cannot drift apart: the YAML key is the
// dotted path of snake_case keys, the flag is that path in kebab-case, and
// the environment variable is OUTBOX_ followed by the path in upper case
// with dots turned into underscores. [Reference] renders the whole table.
// Durations use Go's syntax (250ms, 5s, 1h30m), lists are comma-separated
// (or a YAML sequence), booleans are true or false.
//
// Anything that is not a setting is an error rather than being ignored: an
// unknown flag, an unknown YAML key, an OUTBOX_ variable that names no
// setting. A typo would otherwise silently leave a default in force, which
// for settings such as the CDC confidence window only shows up as lost or
// late events much later.
//
// # Checking
//
// [Flags.Load] only reports what cannot be parsed; [Config.Validate] checks
// the settings' own rules and returns one line per bad value, each naming
// the setting by its YAML key, so a service refuses to start with all its
// mistakes listed at once instead of failing on the first use of a bad
// value (app.NewSettings adds the components' rules in the same form). Load
// does not validate, so that --print-config can still show a configuration
// that is wrong.
//
// Secrets (the ScyllaDB and Kafka passwords) are masked by
// [Config.Redacted], [Config.YAML] (and [Config.AnnotatedYAML]) and [Config.String], and never appear
// in error messages.
package config
