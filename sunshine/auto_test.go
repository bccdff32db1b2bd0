package sunshine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/sunshine"
)

func TestPairAuto(t *testing.T) {
	f := startFake(t, "", nil)
	web := f.StartWebUI("admin", "s3cret!", false)
	t.Cleanup(web.Close)
	p, err := sunshine.PairAuto(testCtx(t), f.URL(), web.Port(), "admin", "s3cret!", testIdentity(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.PairedClients() != 1 || web.PINs() != 1 {
		t.Fatalf("%d paired, %d PINs", f.PairedClients(), web.PINs())
	}
	if string(p.ServerCertPEM) != string(f.CertPEM) {
		t.Error("pinned another certificate")
	}
	if _, err := p.ServerInfo(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPairAutoWrongCredentials(t *testing.T) {
	f := startFake(t, "", nil)
	web := f.StartWebUI("admin", "s3cret!", false)
	t.Cleanup(web.Close)
	_, err := sunshine.PairAuto(testCtx(t), f.URL(), web.Port(), "admin", "wrong-pass", testIdentity(t), nil)
	if !errors.Is(err, sunshine.ErrWebCredentials) || !strings.Contains(err.Error(), "Sunshine refused the web credentials") {
		t.Fatalf("got %v, want refused credentials", err)
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("the error holds the password: %v", err)
	}
	if f.PairedClients() != 0 || web.PINs() != 0 {
		t.Errorf("%d paired, %d PINs", f.PairedClients(), web.PINs())
	}
	if f.Unpairs() == 0 {
		t.Error("the pending pairing was not cancelled")
	}
}

func TestPairAutoWebCertDiffers(t *testing.T) {
	f := startFake(t, "", nil)
	web := f.StartWebUI("admin", "s3cret!", true)
	t.Cleanup(web.Close)
	_, err := sunshine.PairAuto(testCtx(t), f.URL(), web.Port(), "admin", "s3cret!", testIdentity(t), nil)
	if !errors.Is(err, sunshine.ErrMITM) || !errors.Is(err, sunshine.ErrWebCert) {
		t.Fatalf("got %v, want a certificate mismatch", err)
	}
	t.Log(err)
	if web.SawAuthorization() {
		t.Error("credentials were sent to a web UI with another certificate")
	}
	if f.PairedClients() != 0 || web.PINs() != 0 {
		t.Errorf("%d paired, %d PINs", f.PairedClients(), web.PINs())
	}
}

func TestPairAutoBadInput(t *testing.T) {
	f := startFake(t, "", nil)
	if _, err := sunshine.PairAuto(testCtx(t), f.URL(), 0, "admin", "", testIdentity(t), nil); err == nil {
		t.Error("no password: no error")
	}
	if _, err := sunshine.PairAuto(testCtx(t), f.URL(), 70000, "admin", "x", testIdentity(t), nil); err == nil {
		t.Error("bad web port: no error")
	}
}
