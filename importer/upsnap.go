package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// upsnapDevice is a device as UpSnap's PocketBase API lists it
// (GET /api/collections/devices/records?expand=ports,groups), or as an
// export of that collection holds it. Relations (ports, groups) are ids;
// their names and numbers are in expand, when it was asked for.
type upsnapDevice struct {
	Name     string `json:"name"`
	IP       string `json:"ip"`
	MAC      string `json:"mac"`
	Netmask  string `json:"netmask"`
	Password string `json:"password"` // SecureOn
	Expand   struct {
		Ports []struct {
			Name   string `json:"name"`
			Number int    `json:"number"`
		} `json:"ports"`
		Groups []struct {
			Name string `json:"name"`
		} `json:"groups"`
	} `json:"expand"`
}

// parseUpSnap reads a PocketBase list response ({"items": [...]}) or a bare
// array of device records.
func parseUpSnap(data []byte) ([]raw, error) {
	var devices []upsnapDevice
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &devices); err != nil {
			return nil, jsonError("UpSnap devices", data, err)
		}
	} else {
		var page struct {
			Items *[]upsnapDevice `json:"items"`
		}
		if err := json.Unmarshal(trimmed, &page); err != nil {
			return nil, jsonError("UpSnap devices", data, err)
		}
		if page.Items == nil {
			return nil, errors.New(`UpSnap devices: no "items": save the answer of GET /api/collections/devices/records?expand=ports,groups&perPage=500, or an array of device records`)
		}
		devices = *page.Items
	}
	out := make([]raw, 0, len(devices))
	for i, d := range devices {
		r := raw{name: d.Name, mac: d.MAC, host: d.IP, netmask: d.Netmask, password: d.Password,
			from: fmt.Sprintf("device %d (%q)", i+1, d.Name)}
		for _, p := range d.Expand.Ports {
			if p.Number > 0 {
				r.ports = append(r.ports, p.Number)
			}
		}
		for _, g := range d.Expand.Groups {
			r.tags = append(r.tags, g.Name)
		}
		out = append(out, r)
	}
	return out, nil
}

// jsonError says where JSON is wrong, by line.
func jsonError(what string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(data)) {
		line := bytes.Count(data[:se.Offset], []byte("\n")) + 1
		return fmt.Errorf("%s: not valid JSON at line %d: %v", what, line, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: %s is a %s, want a %s", what, te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("%s: %v", what, err)
}
