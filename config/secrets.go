package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadSecretFile reads a password file (scylla.password_file,
// kafka.sasl.password_file): its contents without trailing line breaks,
// which editors and `echo` add. Errors name the file and the problem,
// never the contents.
func ReadSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%s: %v", path, err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
