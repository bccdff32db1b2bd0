package sunshine

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/moonwake/moonwake/sunshine/sunshinetest"
)

// The fake host checks the client's last step the way Sunshine does: a
// client hash or signature that does not match gets <paired>0</paired>
// and nothing is paired. This drives the phases by hand to send one bad
// value at a time.
func TestFakeChecksClientPairingSecret(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tamper := range []string{"none", "hash", "secret", "signature", "other key"} {
		t.Run(tamper, func(t *testing.T) {
			f := sunshinetest.New("2468")
			f.Start()
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			base, _ := url.Parse(f.URL())
			p := &pairing{ctx: ctx, hc: pairHTTP, base: base, opts: PairOptions{UniqueID: "0123456789ABCDEF", DeviceName: "t"}}
			salt := randBytes(16)
			key := sum(sha256.New, salt, []byte("2468"))[:16]
			if _, err := p.get("getservercert", url.Values{"phrase": {"getservercert"}, "salt": {hex.EncodeToString(salt)},
				"clientcert": {hex.EncodeToString(id.CertPEM)}}); err != nil {
				t.Fatal(err)
			}
			r, err := p.get("clientchallenge", url.Values{"clientchallenge": {hex.EncodeToString(ecbEncrypt(key, randBytes(16)))}})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := ecbDecrypt(key, r.ChallengeResponse)
			if err != nil || len(plain) != 48 {
				t.Fatalf("challenge response of %d bytes: %v", len(plain), err)
			}
			secret := randBytes(16)
			h := sum(sha256.New, plain[32:48], id.Cert.Signature, secret)
			if tamper == "hash" {
				h[0] ^= 1
			}
			if _, err := p.get("serverchallengeresp", url.Values{"serverchallengeresp": {hex.EncodeToString(ecbEncrypt(key, h))}}); err != nil {
				t.Fatal(err)
			}
			signer := id.Key
			if tamper == "other key" {
				signer = other.Key
			}
			d := sha256.Sum256(secret)
			sig, err := rsa.SignPKCS1v15(rand.Reader, signer, crypto.SHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
			sent := append(append([]byte(nil), secret...), sig...)
			switch tamper {
			case "secret":
				sent[3] ^= 1
			case "signature":
				sent[len(sent)-1] ^= 1
			}
			_, err = p.get("clientpairingsecret", url.Values{"clientpairingsecret": {hex.EncodeToString(sent)}})
			if tamper == "none" {
				if err != nil || f.PairedClients() != 1 {
					t.Fatalf("untampered: %v, %d paired", err, f.PairedClients())
				}
				return
			}
			if !errors.Is(err, ErrWrongPIN) || f.PairedClients() != 0 {
				t.Errorf("got %v with %d paired, want paired=0", err, f.PairedClients())
			}
		})
	}
}

func TestAppVersionMajor(t *testing.T) {
	for v, want := range map[string]int{"7.1.431.-1": 7, "6.0.0.0": 6, "12": 12, " 7.1": 7} {
		if got, err := appVersionMajor(v); err != nil || got != want {
			t.Errorf("%q: %d, %v", v, got, err)
		}
	}
	for _, v := range []string{"", "x.1", "-1.0"} {
		if _, err := appVersionMajor(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestECBRoundTrip(t *testing.T) {
	key := randBytes(16)
	msg := randBytes(20) // a SHA-1 hash: zero-padded to two blocks
	enc := ecbEncrypt(key, msg)
	if len(enc) != 32 {
		t.Fatalf("%d bytes", len(enc))
	}
	dec, err := ecbDecrypt(key, enc)
	if err != nil || string(dec[:20]) != string(msg) || string(dec[20:]) != string(make([]byte, 12)) {
		t.Errorf("round trip: %x, %v", dec, err)
	}
	if _, err := ecbDecrypt(key, enc[:17]); err == nil {
		t.Error("partial block accepted")
	}
}
