package web

import (
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
)

// TestMachinePagePolicies checks that the machine page lists the policies
// the hub says apply to the machine, with its keep-awake status.
func TestMachinePagePolicies(t *testing.T) {
	h := newHarness(t, "pc", "nas")
	var asked []string
	h.reconfigure(func(s *Server) {
		s.Policies = func(m *moonwake.Machine) []string {
			asked = append(asked, m.Name)
			if m.Name != "pc" {
				return nil
			}
			return []string{
				"Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, Europe/Paris)",
				"Shuts down after 30 min unused <b>, 5 min after a warning",
			}
		}
	})
	h.signIn()

	_, body := h.get("/machines/pc")
	for _, want := range []string{
		"<li>Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, Europe/Paris).</li>",
		"<li>Shuts down after 30 min unused &lt;b&gt;, 5 min after a warning.</li>",
		"Not kept awake: the policies above apply.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("machine page of pc lacks %q:\n%s", want, policySection(body))
		}
	}
	if strings.Contains(body, "No schedule or idle auto-off") {
		t.Errorf("pc has policies, yet the page says none:\n%s", policySection(body))
	}

	_, body = h.get("/machines/nas")
	for _, want := range []string{"No schedule or idle auto-off applies to this machine.", "Not kept awake."} {
		if !strings.Contains(body, want) {
			t.Errorf("machine page of nas lacks %q:\n%s", want, policySection(body))
		}
	}
	if strings.Contains(body, `<ul class="policies">`) {
		t.Errorf("nas has no policies, yet the page lists some:\n%s", policySection(body))
	}
	if strings.Join(asked, " ") != "pc nas" {
		t.Errorf("Policies asked for %q, want pc then nas", asked)
	}
}

// TestMachinePagePoliciesUnknown checks the page of a hub that does not
// say which policies apply: it points to the config file.
func TestMachinePagePoliciesUnknown(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	_, body := h.get("/machines/pc")
	for _, want := range []string{"Not kept awake: idle auto-off and scheduled shutdowns apply.", "<code>schedules:</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("machine page lacks %q:\n%s", want, policySection(body))
		}
	}
	if strings.Contains(body, "No schedule or idle auto-off") || strings.Contains(body, `class="policies"`) {
		t.Errorf("the hub does not say which policies apply, yet the page does:\n%s", policySection(body))
	}
}

// policySection returns the Policies section of a machine page, for
// failure messages.
func policySection(body string) string {
	i := strings.Index(body, `aria-labelledby="policy-h"`)
	if i < 0 {
		return body
	}
	j := strings.Index(body[i:], "</section>")
	if j < 0 {
		return body[i:]
	}
	return body[i : i+j]
}
