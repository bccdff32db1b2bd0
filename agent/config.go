// Package agent is moonwake-agent, the service on a target PC: it keeps a
// uplink to the hub, carries out power commands with the OS's own calls (or
// the owner's argv overrides), reports idle time, user sessions and
// uptime, and checks what breaks Wake-on-LAN (doctor).
package agent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/moonwake/moonwake/internal/privfile"
	"github.com/moonwake/moonwake/uplink"
)

// Config is the agent's configuration file (YAML). Every field is
// optional:
//
//	hub: https://moonwake.example.org  # else the hub it was paired with
//	state: /var/lib/moonwake-agent/state.json
//	report_interval: 15s
//	ack_delay: 1s                      # between the answer and the OS call
//	socket: /var/lib/moonwake-agent/agent.sock  # where "moonwake-agent request" reaches the agent
//	socket_group: gamers               # may use the socket too (Unix; default: the agent's user only)
//	commands:                          # argv, run without a shell
//	  shutdown: ["/usr/bin/touch", "/tmp/off"]
type Config struct {
	Hub            string              `yaml:"hub"`
	State          string              `yaml:"state"`
	ReportInterval time.Duration       `yaml:"report_interval"`
	AckDelay       time.Duration       `yaml:"ack_delay"`
	Socket         string              `yaml:"socket"`
	SocketGroup    string              `yaml:"socket_group"`
	Commands       map[string][]string `yaml:"commands"`
}

// Defaults for Config's durations.
const (
	DefaultReportInterval = uplink.DefaultReportInterval
	DefaultAckDelay       = time.Second
)

// DefaultConfigPath is where the agent looks for its configuration when
// given none.
func DefaultConfigPath() string { return filepath.Join(dataDir(), "config.yaml") }

// DefaultStatePath is where pairing stores the agent's identity when
// neither a flag nor the configuration says otherwise.
func DefaultStatePath() string { return filepath.Join(stateDir(), "state.json") }

func dataDir() string {
	switch runtime.GOOS {
	case "windows":
		return filepath.Join(programData(), "moonwake-agent")
	case "darwin":
		return "/Library/Application Support/moonwake-agent"
	default:
		return "/etc/moonwake-agent"
	}
}

func stateDir() string {
	switch runtime.GOOS {
	case "windows", "darwin":
		return dataDir()
	default:
		return "/var/lib/moonwake-agent"
	}
}

func programData() string {
	if d := os.Getenv("ProgramData"); d != "" && filepath.IsAbs(d) {
		return d
	}
	return `C:\ProgramData`
}

// StatePath returns the state file the configuration names, or the default.
func (c *Config) StatePath() string {
	if c.State != "" {
		return c.State
	}
	return DefaultStatePath()
}

// maxConfig bounds the configuration file.
const maxConfig = 1 << 20

// SocketPath returns the local socket the configuration names, or the
// default: agent.sock next to the state file.
func (c *Config) SocketPath() string {
	if c.Socket != "" {
		return c.Socket
	}
	return filepath.Join(filepath.Dir(c.StatePath()), "agent.sock")
}

// ReadConfig reads the configuration file at path. With path "", it reads
// DefaultConfigPath if that exists and returns an empty Config if not.
func ReadConfig(path string) (Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultConfigPath()
	}
	// Opened once: the file checked is the file read.
	f, err := openConfig(path)
	if !explicit && errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	if err := checkTrusted(f, path); err != nil {
		return Config{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	if len(b) > maxConfig {
		return Config{}, fmt.Errorf("configuration %s: larger than %d bytes", path, maxConfig)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("configuration %s: %w", path, err)
	}
	return c, nil
}

// SecureConfig makes a configuration file the agent wrote owned and
// writable by administrators only (Windows; elsewhere its mode does).
func SecureConfig(path string) error { return secureConfig(path) }

// SecureConfigDir makes the directory of the default configuration
// changeable by administrators only (Windows, where ProgramData lets users
// add files; elsewhere its mode does).
func SecureConfigDir(dir string) error { return secureConfigDir(dir) }

// ParseConfig parses and checks a configuration. Unknown keys are errors,
// so a misspelt override is not silently ignored.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("more than one YAML document")
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) check() error {
	if c.Hub != "" {
		if err := checkHubURL(c.Hub); err != nil {
			return err
		}
	}
	if c.State != "" && (!filepath.IsAbs(c.State) || strings.ContainsRune(c.State, 0)) {
		return fmt.Errorf("state %q: give an absolute path", c.State)
	}
	if c.Socket != "" && (!filepath.IsAbs(c.Socket) || strings.ContainsRune(c.Socket, 0)) {
		return fmt.Errorf("socket %q: give an absolute path", c.Socket)
	}
	if c.ReportInterval != 0 && (c.ReportInterval < time.Second || c.ReportInterval > time.Hour) {
		return fmt.Errorf("report_interval %v: between 1s and 1h", c.ReportInterval)
	}
	if c.AckDelay < 0 || c.AckDelay > 30*time.Second {
		return fmt.Errorf("ack_delay %v: between 0 and 30s", c.AckDelay)
	}
	for name, argv := range c.Commands {
		if !slices.Contains(CommandNames, name) {
			return fmt.Errorf("commands: unknown command %q (known: %s)", name, strings.Join(CommandNames, ", "))
		}
		if len(argv) == 0 || argv[0] == "" {
			return fmt.Errorf("commands: %s: give a program and its arguments, as a list", name)
		}
		if len(argv) > 64 {
			return fmt.Errorf("commands: %s: more than 64 arguments", name)
		}
		for _, a := range argv {
			if strings.ContainsRune(a, 0) {
				return fmt.Errorf("commands: %s: an argument holds a NUL byte", name)
			}
		}
	}
	return nil
}

func checkHubURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("hub %q: want http(s)://host[:port][/path]", s)
	}
	return nil
}

// State is what pairing gives the agent: its identity and the hub's. The
// file holds the agent's private key: it is written with mode 0600 (on
// Windows, readable by SYSTEM and Administrators only) and refused when
// others can read it.
type State struct {
	Hub          string            `json:"hub"`
	ID           string            `json:"id"`
	Machine      string            `json:"machine"`
	HubPublicKey ed25519.PublicKey `json:"hub_public_key"`
	PrivateKey   []byte            `json:"private_key"` // the Ed25519 seed
	PairedAt     time.Time         `json:"paired_at"`
	// TLSFingerprint pins the hub's self-signed TLS certificate; empty:
	// the system's roots are trusted.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
}

// Key returns the agent's private key.
func (s *State) Key() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(s.PrivateKey) }

func (s *State) check() error {
	switch {
	case checkHubURL(s.Hub) != nil:
		return errors.New("no valid hub URL")
	case !uplink.ValidPeerID(s.ID):
		return errors.New("no valid agent id")
	case len(s.HubPublicKey) != ed25519.PublicKeySize:
		return errors.New("no valid hub key")
	case len(s.PrivateKey) != ed25519.SeedSize:
		return errors.New("no valid private key")
	}
	return nil
}

// ErrNotPaired is returned by ReadState when there is no state file.
var ErrNotPaired = errors.New("not paired yet: run \"moonwake-agent pair --hub URL --code CODE\" first")

// ReadState reads the state file at path. It refuses a file that others
// than its owner can read, as ssh does with private keys.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotPaired)
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state %s: not a moonwake-agent state file", path)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("state %s: %v; pair again", path, err)
	}
	return &s, nil
}

// WriteState writes s to path atomically, readable by its owner only,
// creating the directory if needed.
func WriteState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := privfile.Write(path, append(b, '\n'), restrictToAdmins); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
