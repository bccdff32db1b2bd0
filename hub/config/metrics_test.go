package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsYAMLAndEnv(t *testing.T) {
	cases := []struct {
		doc         string
		env         map[string]string
		listen, tok string
	}{
		{doc: ""}, // off by default
		{doc: "metrics: {listen: \"127.0.0.1:9464\"}\n", listen: "127.0.0.1:9464"},
		{doc: "metrics:\n  listen: \":9464\"\n  token_file: /run/secrets/metrics\n", listen: ":9464", tok: "/run/secrets/metrics"},
		{doc: "", env: map[string]string{"MOONWAKE_METRICS_LISTEN": "[::1]:9464", "MOONWAKE_METRICS_TOKEN_FILE": "/t"}, listen: "[::1]:9464", tok: "/t"},
		{doc: "metrics: {listen: \":1\"}\n", env: map[string]string{"MOONWAKE_METRICS_LISTEN": "localhost:9464"}, listen: "localhost:9464"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, func(k string) string { return tc.env[k] })
		if err != nil {
			t.Errorf("%q %v: %v", tc.doc, tc.env, err)
			continue
		}
		if c.Metrics.Listen != tc.listen || c.Metrics.TokenFile != tc.tok {
			t.Errorf("%q %v: %+v, want listen %q token_file %q", tc.doc, tc.env, c.Metrics, tc.listen, tc.tok)
		}
	}
}

func TestMetricsErrors(t *testing.T) {
	docs := map[string]string{
		"metrics: {listen: \"9464\"}\n":            "metrics.listen \"9464\": want [host]:port",
		"metrics: {listen: \":http\"}\n":           "port \"http\" is not a number",
		"metrics: {listen: \":70000\"}\n":          "port \"70000\" is not a number from 0 to 65535",
		"metrics: {token_file: /t}\n":              "metrics.listen is empty",
		"metrics: {listen: \":9464\", token: x}\n": "field token not found",
	}
	for doc, want := range docs {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", doc, err, want)
		}
	}
}
